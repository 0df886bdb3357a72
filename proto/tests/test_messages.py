"""Every payload round-trips through its channel's codec; bad bytes raise the typed error."""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pytest
from voice_proto import ProtoDecodeError, channels
from voice_proto import messages as m

SAMPLES: dict[str, list[Any]] = {
    "sessionsStart": [
        m.SessionStart(
            session_id="s" * 20,
            principal="alice",
            roles=["admin"],
            handover=True,
            resume_token="tok",
            history=[m.HistoryTurn(role=m.Role.USER, text="hi")],
            greet=False,
        )
    ],
    "inAudio": [m.AudioIn(seq=7, pcm=b"\x00\x01" * 160)],
    "inText": [m.TextIn(text="what time is it")],
    "inControl": [
        *(m.Control(kind=kind) for kind in m.ControlKind),
        m.Control(kind=m.ControlKind.HANGUP, reason="auth_expired"),
    ],
    "outAudio": [m.AudioOut(seq=3, turn_id=2, pcm=b"\xff\x7f" * 240)],
    "outEvent": [
        m.Interrupted(turn_id=1),
        m.TurnStarted(turn_id=1, role=m.Role.ASSISTANT),
        m.TurnEnded(turn_id=1, role=m.Role.USER, reason="interrupted"),
        m.ToolCall(
            turn_id=1, call_id="c1", name="get_time", arguments="{}", status="completed", result='{"t":1}'
        ),
        m.Usage(input_tokens=10, output_tokens=20),
        m.ErrorEvent(code="x", message="y", fatal=True),
        m.Heartbeat(worker_id="w1"),
        m.HandoverRequested(worker_id="w1"),
        m.Resumed(conn_id="c"),
    ],
    "transcript": [
        m.Transcript(turn_id=1, role=m.Role.ASSISTANT, text="hello", stage=m.Stage.FINAL, interrupted=True)
    ],
    "lifecycle": [m.Lifecycle(kind=kind, reason="r", at=1.5) for kind in m.LifecycleKind],
    "authValidate": [m.ValidateRequest(scheme=m.CredentialScheme.BEARER, credential="t", source="1.2.3.4")],
    "authDevToken": [m.DevTokenRequest(username="alice")],
    "authConfig": [m.SignInConfigRequest()],
}


def test_every_channel_has_samples() -> None:
    assert set(SAMPLES) == {c.name for c in channels.ALL_CHANNELS}


@pytest.mark.parametrize("channel", channels.ALL_CHANNELS, ids=lambda c: c.name)
def test_round_trip(channel: channels.Channel[Any]) -> None:
    for sample in SAMPLES[channel.name]:
        assert channel.decode(channel.encode(sample)) == sample


def test_payloads_are_msgpack_maps_with_a_version_and_raw_audio() -> None:
    raw = msgspec.msgpack.decode(channels.IN_AUDIO.encode(m.AudioIn(seq=1, pcm=b"\x01\x02")))
    assert raw == {"v": m.SCHEMA_VERSION, "seq": 1, "pcm": b"\x01\x02"}
    assert isinstance(raw["pcm"], bytes)  # MessagePack bin, not base64 text
    encoded = channels.OUT_EVENT.encode(m.Interrupted(turn_id=4))
    assert msgspec.msgpack.decode(encoded) == {"type": "interrupted", "v": 1, "seq": 0, "turn_id": 4}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"not msgpack at all",
        msgspec.msgpack.encode([1, 2, 3]),
        msgspec.msgpack.encode({"v": 1}),
    ],
)
def test_garbage_raises_the_typed_error(data: bytes) -> None:
    with pytest.raises(ProtoDecodeError) as caught:
        channels.IN_AUDIO.decode(data, "voice.x.in.audio")
    assert caught.value.subject == "voice.x.in.audio"


def test_a_newer_schema_version_is_refused() -> None:
    data = msgspec.msgpack.encode({"v": m.SCHEMA_VERSION + 1, "text": "hi"})
    with pytest.raises(ProtoDecodeError, match="newer"):
        channels.IN_TEXT.decode(data)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = msgspec.msgpack.encode({"v": 1, "text": "hi", "added_later": [1, 2]})
    assert channels.IN_TEXT.decode(data) == m.TextIn(text="hi")


def test_unknown_event_type_is_refused() -> None:
    data = msgspec.msgpack.encode({"v": 1, "type": "teleport", "seq": 1})
    with pytest.raises(ProtoDecodeError):
        channels.OUT_EVENT.decode(data)


def test_out_event_union_covers_every_event_class() -> None:
    def leaves(cls: type) -> set[type]:
        subs: set[type] = set(cls.__subclasses__())
        return {s for s in subs if not s.__subclasses__()} | {x for s in subs for x in leaves(s)}

    assert leaves(m.Event) == set(typing.get_args(m.OutEvent))


REPLY_SAMPLES: dict[str, list[Any]] = {
    "sessionsStart": [m.SessionClaim(accepted=True, worker_id="w1", resume_token="tok")],
    "inControl": [
        m.ControlReply(ok=False, reason="bad_token"),
        m.ControlReply(ok=True, capabilities=["text_input", "tools"]),
    ],
    "authValidate": [
        m.ValidateReply(ok=True, principal="alice", roles=["admin"], expires_at=1.5),
        m.ValidateReply(ok=False, reason="expired"),
    ],
    "authDevToken": [
        m.DevTokenReply(ok=True, token="a.b.c", expires_at=2.5),
        m.DevTokenReply(ok=False, reason="disabled"),
    ],
    "authConfig": [
        m.SignInConfig(
            api_keys=True,
            dev_issuer=True,
            oidc_authority="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
            oidc_client_id="client",
            oidc_redirect_uri="https://voice.example/",
        )
    ],
}


def test_every_request_channel_has_reply_samples() -> None:
    assert set(REPLY_SAMPLES) == {c.name for c in REQUEST_CHANNELS}


REQUEST_CHANNELS = [c for c in channels.ALL_CHANNELS if c.reply is not None]


@pytest.mark.parametrize("channel", REQUEST_CHANNELS, ids=lambda c: c.name)
def test_reply_round_trip(channel: channels.Channel[Any]) -> None:
    for sample in REPLY_SAMPLES[channel.name]:
        assert channel.decode_reply(channel.encode_reply(sample)) == sample
