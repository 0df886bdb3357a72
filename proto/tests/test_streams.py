"""The records stream on a real nats-server: created idempotently, read through a durable consumer."""

from __future__ import annotations

import pytest
from nats.js.api import StreamConfig
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from voice_proto import Bus, ProtoDecodeError, channels
from voice_proto import messages as m
from voice_proto.streams import (
    RECORDS_STREAM,
    decode_record,
    ensure_records_stream,
    records_consumer,
    records_subjects,
)
from voice_testkit.nats import NatsServer

SID = "streams-test-session-01"

if not isinstance(trace.get_tracer_provider(), TracerProvider):
    trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("test")


async def test_created_once_then_left_alone_except_for_missing_subjects(own_nats: NatsServer) -> None:
    bus = await Bus.connect(own_nats.url, "test")
    js = bus.nc.jetstream()
    await ensure_records_stream(js, max_age_days=2)
    await ensure_records_stream(js, max_age_days=9)  # a service with other defaults
    info = await js.stream_info(RECORDS_STREAM)
    assert info.config.max_age == 2 * 86_400  # the first creator's limits stand
    assert sorted(info.config.subjects or []) == sorted(records_subjects())

    # A stream from an older contract that lacks a subject gets it added, and keeps its own.
    await js.delete_stream(RECORDS_STREAM)
    await js.add_stream(StreamConfig(name=RECORDS_STREAM, subjects=["voice.*.lifecycle", "extra.>"]))
    await ensure_records_stream(js)
    info = await js.stream_info(RECORDS_STREAM)
    assert sorted(info.config.subjects or []) == sorted(["extra.>", *records_subjects()])
    await bus.drain()


async def test_a_durable_consumer_reads_records_in_order(own_nats: NatsServer) -> None:
    bus = await Bus.connect(own_nats.url, "test")
    js = bus.nc.jetstream()
    await ensure_records_stream(js)
    said = m.Transcript(turn_id=1, role=m.Role.USER, text="hello", stage=m.Stage.FINAL)
    await bus.publish(channels.LIFECYCLE, m.Lifecycle(kind=m.LifecycleKind.STARTED, at=1.0), session_id=SID)
    with tracer.start_as_current_span("worker"):
        await bus.publish(channels.TRANSCRIPT, said, session_id=SID)
    await bus.publish(channels.IN_TEXT, m.TextIn(text="not captured"), session_id=SID)
    await bus.nc.publish(channels.TRANSCRIPT.subject(SID), b"garbage")
    await bus.flush()

    subscription = await records_consumer(js, "test-reader")
    messages = await subscription.fetch(10, timeout=5)
    assert len(messages) == 3
    first, second = decode_record(messages[0]), decode_record(messages[1])
    assert (first.session_id, first.stream_seq) == (SID, 1)
    assert isinstance(first.message, m.Lifecycle)
    assert (second.stream_seq, second.message) == (2, said)
    assert second.headers is not None
    assert "traceparent" in second.headers
    with pytest.raises(ProtoDecodeError):
        decode_record(messages[2])
    await bus.drain()
