"""The browser protocol's parsing and rendering, without a network."""

from __future__ import annotations

import base64
import json

import pytest
from voice_edge import protocol as p
from voice_proto import messages as m
from voice_proto.auth import Credential


class TestOffer:
    def test_protocol_and_key(self) -> None:
        offer = p.parse_offer(["voice.v1.binary", "key.abc123"])
        assert offer.protocol == p.BINARY_PROTOCOL
        assert offer.credential == Credential(m.CredentialScheme.API_KEY, "abc123")

    def test_bearer_and_resume(self) -> None:
        offer = p.parse_offer(["voice.v1", "bearer.eyJ.a.b", "resume.tok"])
        assert offer.credential == Credential(m.CredentialScheme.BEARER, "eyJ.a.b")
        assert offer.resume_token == "tok"

    def test_a_lone_non_voice_protocol_is_an_api_key(self) -> None:
        offer = p.parse_offer(["legacy-key-value"])
        assert offer.protocol == p.JSON_PROTOCOL
        assert offer.credential == Credential(m.CredentialScheme.API_KEY, "legacy-key-value")

    @pytest.mark.parametrize(
        "offered", [["voice.v1"], ["voice.v2"], [], ["voice.v1", "key."], ["some", "thing"]], ids=str
    )
    def test_no_usable_credential(self, offered: list[str]) -> None:
        assert p.parse_offer(offered).credential is None

    def test_unknown_voice_protocol_selects_nothing(self) -> None:
        assert p.parse_offer(["voice.v9", "key.k"]).protocol == ""

    def test_the_credential_never_shows_in_its_repr(self) -> None:
        offer = p.parse_offer(["voice.v1", "key.super-secret"])
        assert "super-secret" not in repr(offer)


def parse(raw: str) -> p.ClientMessage:
    return p.parse_text_frame(raw, max_text_chars=20)


def parse_long(raw: str) -> p.ClientMessage:
    return p.parse_text_frame(raw, max_text_chars=200)


def code_of(raw: str) -> p.ErrorCode:
    with pytest.raises(p.ProtocolError) as caught:
        parse(raw)
    return caught.value.code


class TestClientMessages:
    def test_audio(self) -> None:
        raw = json.dumps(
            {"type": "audio", "data": base64.b64encode(b"\x01\x02").decode(), "endOfUtterance": True}
        )
        assert parse(raw) == p.ClientAudio(b"\x01\x02", True)

    def test_end_of_utterance_alone(self) -> None:
        assert parse('{"type":"audio","endOfUtterance":true}') == p.ClientAudio(b"", True)

    @pytest.mark.parametrize(
        ("typed", "seen"),
        [
            ("what is a\u0000 VPN?", "what is a VPN?"),  # the reported NUL
            ("line one\r\nline two\u2028three", "line one line two three"),
            ("\u001b[31mred\u001b[0m", "[31mred [0m"),
            ("cafe\u0301", "caf\u00e9"),  # NFC
            ("  spaced \u00a0 out\t", "spaced out"),
            ("family \U0001f468\u200d\U0001f469", "family \U0001f468\u200d\U0001f469"),  # ZWJ kept
            ("private\ue000use", "privateuse"),
        ],
    )
    def test_text_is_normalised_once_here(self, typed: str, seen: str) -> None:
        assert parse_long(json.dumps({"type": "text", "text": typed})) == p.ClientText(seen)

    def test_text_end_auth(self) -> None:
        assert parse('{"type":"text","text":"hi"}') == p.ClientText("hi")
        assert parse('{"type":"end"}') == p.ClientEnd()
        assert parse('{"type":"auth","token":"t"}') == p.ClientAuth("t")
        assert parse('{"type":"played","turnId":3,"playedMs":1250.5}') == p.ClientPlayed(3, 1250.5)

    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            ("{not json", p.ErrorCode.INVALID_JSON),
            ("", p.ErrorCode.INVALID_JSON),
            ("[1,2]", p.ErrorCode.INVALID_MESSAGE),
            ('{"type": 5}', p.ErrorCode.INVALID_MESSAGE),
            ('{"data": "AAAA"}', p.ErrorCode.INVALID_MESSAGE),
            ('{"type":"dance"}', p.ErrorCode.UNKNOWN_TYPE),
            ('{"type":"audio","data":"***"}', p.ErrorCode.BAD_BASE64),
            ('{"type":"audio","data":"AAE"}', p.ErrorCode.BAD_BASE64),
            ('{"type":"audio","data":"AQID"}', p.ErrorCode.ODD_PCM_LENGTH),
            ('{"type":"audio","data":5}', p.ErrorCode.INVALID_MESSAGE),
            ('{"type":"audio"}', p.ErrorCode.INVALID_MESSAGE),
            ('{"type":"audio","data":"AAAA","endOfUtterance":"yes"}', p.ErrorCode.INVALID_MESSAGE),
            (json.dumps({"type": "text", "text": "y" * 21}), p.ErrorCode.TEXT_TOO_LONG),
            ('{"type":"text","text":"   "}', p.ErrorCode.INVALID_MESSAGE),
            ('{"type":"text","text":"\\u0000 \\u001b\\t"}', p.ErrorCode.EMPTY_TEXT),
            ('{"type":"text","text":"\\ue000\\u0007"}', p.ErrorCode.EMPTY_TEXT),
            ('{"type":"text"}', p.ErrorCode.INVALID_MESSAGE),
            ('{"type":"auth"}', p.ErrorCode.INVALID_MESSAGE),
            ('{"type":"played","turnId":3,"playedMs":-1}', p.ErrorCode.INVALID_MESSAGE),
        ],
    )
    def test_bad_messages_get_stable_codes(self, raw: str, code: p.ErrorCode) -> None:
        assert code_of(raw) is code


class TestServerEvents:
    def test_session_event(self) -> None:
        assert json.loads(p.session_event("sid", "tok", ["text_input", "tools"])) == {
            "event": "session",
            "sessionId": "sid",
            "resumeToken": "tok",
            "inputRate": 16000,
            "outputRate": 24000,
            "capabilities": ["text_input", "tools"],
            "recorded": False,
        }
        recorded = json.loads(p.session_event("sid", "tok", [], recorded=True))
        assert recorded["recorded"] is True
        # The engine's rate, as its worker declared it (the loopback engine echoes 16 kHz input).
        echo = json.loads(p.session_event("sid", "tok", [], output_rate=16000))
        assert echo["outputRate"] == 16000

    def test_media_event_is_json_with_base64(self) -> None:
        pcm = bytes(range(256))
        event = json.loads(p.media_event(pcm))
        assert event["event"] == "media"
        assert base64.b64decode(event["data"]) == pcm

    def test_worker_events(self) -> None:
        assert json.loads(p.out_event(m.Interrupted(turn_id=3)) or "") == {"event": "stop", "turnId": 3}
        turn = json.loads(
            p.out_event(m.TurnEnded(turn_id=2, role=m.Role.ASSISTANT, reason="interrupted")) or ""
        )
        assert turn == {
            "event": "turn",
            "turnId": 2,
            "role": "assistant",
            "state": "ended",
            "reason": "interrupted",
        }
        assert p.out_event(m.Heartbeat(worker_id="w")) is None
        error = json.loads(p.out_event(m.ErrorEvent(code="c", message="msg")) or "")
        assert error == {"event": "error", "code": "c", "message": "msg"}

    def test_transcript_event(self) -> None:
        t = m.Transcript(turn_id=1, role=m.Role.USER, text="hello", stage=m.Stage.SPECULATIVE)
        assert json.loads(p.transcript_event(t)) == {
            "event": "transcript",
            "turnId": 1,
            "role": "user",
            "text": "hello",
            "stage": "speculative",
            "interrupted": False,
        }


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("expired", 4401),
        ("unknown_key", 4401),
        ("", 4401),
        ("rate_limited", 4429),
        ("jwks_unavailable", 1013),
    ],
)
def test_a_refused_credential_closes_with_the_code_that_tells_the_client_what_to_do(
    reason: str, code: int
) -> None:
    assert p.refusal_close(reason)[0] == code


def test_the_session_event_carries_a_bearer_expiry_only() -> None:
    assert "expiresAt" not in json.loads(p.session_event("s" * 20, "tok", []))
    assert json.loads(p.session_event("s" * 20, "tok", [], 1234.0))["expiresAt"] == 1234.0
    assert json.loads(p.auth_event("expiring", 99.0)) == {
        "event": "auth",
        "state": "expiring",
        "expiresAt": 99.0,
    }
