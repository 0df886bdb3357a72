"""Malformed frames, generated: every one is a client message or a documented error, never a crash.

Bounded to a few hundred frames of each kind per run; bench/fuzz.py sends tens of thousands, over
real WebSockets, while other sessions stream.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from voice_edge import protocol as p
from voice_edge.codec import BinaryCodec, JsonCodec
from voice_testkit.fuzz import binary_frames, text_frames

CODECS = (JsonCodec(max_text_chars=2000), BinaryCodec(max_text_chars=2000))
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answer(decode: Callable[[], p.ClientMessage]) -> p.ClientMessage | p.ErrorCode:
    """The message, or the documented code of the error the client is sent."""
    error: p.ProtocolError | None = None
    try:
        message = decode()
    except p.ProtocolError as exc:
        error = exc
    if error is not None:
        assert error.code in p.ErrorCode
        assert error.code.meaning
        assert error.message
        return error.code
    if isinstance(message, p.ClientText):
        assert message.text
        assert message.text == p.normalize_text(message.text)
    assert isinstance(message, p.ClientAudio | p.ClientText | p.ClientEnd | p.ClientAuth)
    return message


@FUZZ
@given(text_frames)
def test_every_text_frame_is_a_message_or_a_documented_error(frame: str) -> None:
    json_codec, binary_codec = CODECS
    json_answer = answer(lambda: json_codec.decode_text(frame))
    # Text frames mean the same on both subprotocols.
    assert json_answer == answer(lambda: binary_codec.decode_text(frame))


@FUZZ
@given(binary_frames)
def test_every_binary_frame_is_audio_or_a_documented_error(frame: bytes) -> None:
    json_codec, binary_codec = CODECS
    assert answer(lambda: json_codec.decode_binary(frame)) == p.ErrorCode.UNEXPECTED_BINARY
    decoded = answer(lambda: binary_codec.decode_binary(frame))
    if len(frame) % 2:
        assert decoded == p.ErrorCode.ODD_PCM_LENGTH
    else:
        assert decoded == p.ClientAudio(frame)
