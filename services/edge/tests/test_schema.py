"""The committed JSON Schema of the browser protocol says what the edge does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from voice_edge import protocol as p
from voice_edge import schema
from voice_proto import messages as m

SCHEMA = Path(__file__).resolve().parents[3] / "web" / "src" / "net" / "protocol.schema.json"


def test_committed_schema_matches_the_code() -> None:
    assert json.loads(SCHEMA.read_text()) == schema.build_schema(), (
        "web/src/net/protocol.schema.json disagrees with voice_edge.protocol; run: "
        "python -m voice_edge.schema --write web/src/net/protocol.schema.json, "
        "then npm run gen:protocol in web/"
    )


def test_check_command_reports_disagreement(tmp_path: Path) -> None:
    stale = tmp_path / "protocol.schema.json"
    document = schema.build_schema()
    document["$defs"]["ErrorCode"]["oneOf"].pop()
    stale.write_text(json.dumps(document))
    assert schema.main(["--check", str(stale)]) == 1
    assert schema.main(["--check", str(SCHEMA)]) == 0


def validator(name: str) -> jsonschema.Draft202012Validator:
    document = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator({**document, "$ref": f"#/$defs/{name}"})


WORKER_EVENTS: list[m.OutEvent] = [
    m.Interrupted(turn_id=3),
    m.TurnStarted(turn_id=2, role=m.Role.ASSISTANT),
    m.TurnEnded(turn_id=2, role=m.Role.ASSISTANT, reason="interrupted"),
    m.ToolCall(turn_id=2, call_id="c", name="clock", status="completed", result='{"t":1}'),
    m.Usage(input_tokens=3, output_tokens=4),
    m.ErrorEvent(code="engine_code", message="boom", fatal=True),
]
RENDERED = [
    p.session_event("s" * 24, "tok", []),
    p.session_event("s" * 24, "tok", ["text_input", "client_endpointing", "tools"], 1234.5),
    p.auth_event("expiring", 99.0),
    p.media_event(b"\x01\x02"),
    p.transcript_event(m.Transcript(turn_id=1, role=m.Role.USER, text="hi", stage=m.Stage.FINAL)),
    p.error_event(p.ErrorCode.RATE_LIMITED, "slow down"),
    *(p.out_event(event) or "" for event in WORKER_EVENTS),
]


@pytest.mark.parametrize("frame", RENDERED, ids=lambda frame: json.loads(frame)["event"])
def test_every_event_the_edge_sends_is_a_server_event_of_the_schema(frame: str) -> None:
    validator("ServerEvent").validate(json.loads(frame))


def test_the_hand_built_media_event_is_the_structs_encoding() -> None:
    pcm = bytes(range(256))
    assert p.media_event(pcm) == p.encode(p.MediaEvent(pcm))


@pytest.mark.parametrize(
    "message",
    [
        {"type": "audio", "data": "AAA=", "endOfUtterance": True},
        {"type": "audio", "endOfUtterance": True},
        {"type": "text", "text": "hello"},
        {"type": "end"},
        {"type": "auth", "token": "eyJ"},
    ],
    ids=str,
)
def test_what_the_edge_takes_is_a_client_message_of_the_schema(message: dict[str, Any]) -> None:
    p.parse_text_frame(json.dumps(message), max_text_chars=100)
    validator("ClientMessage").validate(message)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "dance"},
        {"type": "text"},
        {"type": "text", "text": "   "},
        {"type": "auth", "token": ""},
        {"type": "audio", "endOfUtterance": "yes"},
        {"data": "AAA="},
    ],
    ids=str,
)
def test_what_the_edge_refuses_the_schema_refuses_too(message: dict[str, Any]) -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_text_frame(json.dumps(message), max_text_chars=100)
    assert not validator("ClientMessage").is_valid(message)


def test_every_code_says_what_it_means() -> None:
    document = json.loads(SCHEMA.read_text())
    for name, enum in (("CloseCode", p.Close), ("ErrorCode", p.ErrorCode)):
        members = document["$defs"][name]["oneOf"]
        assert [member["const"] for member in members] == [code.value for code in enum]
        assert all(member["description"] for member in members)
