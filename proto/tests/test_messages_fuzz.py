"""Malformed bus payloads, generated: every channel's decoder returns its message or raises
ProtoDecodeError (which the bus counts and drops), never anything else. bench/fuzz.py sends tens of
thousands onto a live stack's subjects."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from voice_proto import channels
from voice_testkit.fuzz import bus_payloads

SUBJECT = "voice.fuzzfuzzfuzzfuzz.in.text"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bus_payloads)
def test_every_payload_decodes_or_is_refused_as_undecodable(data: bytes) -> None:
    for channel in channels.ALL_CHANNELS:
        decoders = [channel.decode] + ([channel.decode_reply] if channel.reply is not None else [])
        for decode in decoders:
            try:
                message = decode(data, SUBJECT) if decode == channel.decode else decode(data)
            except channels.ProtoDecodeError:
                continue
            assert isinstance(message, msgspec.Struct)
