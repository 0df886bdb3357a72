"""The committed AsyncAPI document says what the code does."""

from __future__ import annotations

from pathlib import Path

import yaml
from voice_proto import asyncapi, channels

DOCUMENT = Path(__file__).resolve().parents[1] / "asyncapi.yaml"


def test_committed_document_matches_the_code() -> None:
    committed = yaml.safe_load(DOCUMENT.read_text())
    assert committed == asyncapi.build_document(), (
        "proto/asyncapi.yaml disagrees with voice_proto.channels/messages; "
        "run: python -m voice_proto.asyncapi --write proto/asyncapi.yaml"
    )


def test_check_command_reports_disagreement(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    document = asyncapi.build_document()
    document["channels"]["inAudio"]["address"] = "voice.{sessionId}.mic"
    stale.write_text(yaml.safe_dump(document))
    assert asyncapi.main(["--check", str(stale)]) == 1
    assert asyncapi.main(["--check", str(DOCUMENT)]) == 0


def test_every_subject_and_payload_is_described() -> None:
    document = yaml.safe_load(DOCUMENT.read_text())
    assert document["asyncapi"].startswith("3.")
    schemas = document["components"]["schemas"]
    for channel in channels.ALL_CHANNELS:
        entry = document["channels"][channel.name]
        assert entry["address"] == channel.address
        for name, ref in entry["messages"].items():
            message = document["components"]["messages"][name]
            assert ref["$ref"] == f"#/components/messages/{name}"
            assert message["contentType"] == "application/msgpack"
            assert name in schemas
            assert "v" in schemas[name]["properties"], f"{name} has no schema version"
    # Audio is binary on the bus.
    assert schemas["AudioIn"]["properties"]["pcm"]["format"] == "binary"
