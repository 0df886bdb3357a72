"""How each subprotocol frames the browser protocol, chosen once per connection from its offer.

``voice.v1`` carries everything as JSON text, audio base64 in it; ``voice.v1.binary`` is the same
but audio travels as binary frames both ways.
"""

from __future__ import annotations

from typing import Protocol

from starlette.types import Message

from . import protocol as p


class Codec(Protocol):
    def decode_text(self, raw: str) -> p.ClientMessage:
        """A text frame as a client message; raises ProtocolError."""
        ...

    def decode_binary(self, data: bytes) -> p.ClientMessage:
        """A binary frame as a client message; raises ProtocolError."""
        ...

    def audio_out(self, pcm: bytes) -> Message:
        """The ASGI ``websocket.send`` message that carries assistant audio to the client."""
        ...


class JsonCodec:
    """``voice.v1``."""

    def __init__(self, max_text_chars: int) -> None:
        self.max_text_chars = max_text_chars

    def decode_text(self, raw: str) -> p.ClientMessage:
        return p.parse_text_frame(raw, max_text_chars=self.max_text_chars)

    def decode_binary(self, data: bytes) -> p.ClientMessage:
        raise p.ProtocolError(
            p.ErrorCode.UNEXPECTED_BINARY, "binary frames need the voice.v1.binary protocol"
        )

    def audio_out(self, pcm: bytes) -> Message:
        return {"type": "websocket.send", "text": p.media_event(pcm)}


class BinaryCodec(JsonCodec):
    """``voice.v1.binary``: a binary frame is microphone audio; audio out is binary too."""

    def decode_binary(self, data: bytes) -> p.ClientMessage:
        return p.ClientAudio(p.check_pcm(data))

    def audio_out(self, pcm: bytes) -> Message:
        return {"type": "websocket.send", "bytes": pcm}


def codec_for(protocol: str, *, max_text_chars: int) -> Codec:
    """The codec of an offered protocol (``voice.v1`` or ``voice.v1.binary``)."""
    if protocol == p.BINARY_PROTOCOL:
        return BinaryCodec(max_text_chars)
    return JsonCodec(max_text_chars)
