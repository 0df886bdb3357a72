"""The records stream on a real nats-server: created idempotently, read through a durable consumer."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import StreamConfig
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from voice_proto import ProtoDecodeError, channels
from voice_proto import messages as m
from voice_proto.streams import (
    RECORDS_STREAM,
    Record,
    consume_records,
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
    bus = await own_nats.connect()
    js = bus.nc.jetstream()
    await ensure_records_stream(js, max_age_days=2)
    # A service with other settings: the first creator's limits stand.
    await ensure_records_stream(js, max_age_days=9)
    info = await js.stream_info(RECORDS_STREAM)
    assert info.config.max_age == 2 * 86_400
    assert sorted(info.config.subjects or []) == sorted(records_subjects())

    # A stream from an older contract that lacks a subject gets it added, and keeps its own.
    await js.delete_stream(RECORDS_STREAM)
    await js.add_stream(StreamConfig(name=RECORDS_STREAM, subjects=["voice.*.lifecycle", "extra.>"]))
    await ensure_records_stream(js)
    info = await js.stream_info(RECORDS_STREAM)
    assert sorted(info.config.subjects or []) == sorted(["extra.>", *records_subjects()])
    await bus.drain()


async def test_a_durable_consumer_reads_records_in_order(own_nats: NatsServer) -> None:
    bus = await own_nats.connect()
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


def test_every_creator_reads_the_same_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever service starts first creates the stream, so all read VOICE_RECORDS_* alike."""
    from voice_analytics.settings import AnalyticsSettings
    from voice_edge.settings import EdgeSettings
    from voice_transcripts.settings import TranscriptsSettings

    monkeypatch.setenv("VOICE_RECORDS_REPLICAS", "3")
    monkeypatch.setenv("VOICE_RECORDS_MAX_AGE_DAYS", "7")
    for settings in (EdgeSettings(), TranscriptsSettings(), AnalyticsSettings()):
        assert (settings.records_replicas, settings.records_max_age_days) == (3, 7)


async def test_consume_records_acknowledges_a_batch_only_once_applied(own_nats: NatsServer) -> None:
    bus = await own_nats.connect()
    js = bus.nc.jetstream()
    await ensure_records_stream(js)
    for text in ("one", "two"):
        said = m.Transcript(turn_id=1, role=m.Role.USER, text=text, stage=m.Stage.FINAL)
        await bus.publish(channels.TRANSCRIPT, said, session_id=SID)
    await bus.nc.publish(channels.TRANSCRIPT.subject(SID), b"garbage")
    await bus.flush()
    subscription = await records_consumer(js, "test-consumer")
    stop = asyncio.Event()
    attempts: list[list[str]] = []
    rejected: list[str] = []

    async def apply(records: list[Record]) -> None:
        attempts.append([r.message.text for r in records if isinstance(r.message, m.Transcript)])
        if len(attempts) == 1:
            raise OSError("the store is down")  # handed back, then redelivered
        # A loaded server may deliver the first batch short ("one" alone); "two" then comes
        # before the redelivered "one", so the order of later batches is not the point.
        if sorted(text for batch in attempts[1:] for text in batch) == ["one", "two"]:
            stop.set()

    await asyncio.wait_for(
        consume_records(
            subscription,
            apply,
            retry_on=(OSError,),
            stop=stop,
            rejected=lambda msg, _error: rejected.append(msg.subject),
        ),
        30,
    )
    assert attempts[0]  # the failed batch began at the start
    assert attempts[0] == ["one", "two"][: len(attempts[0])]
    assert sorted(text for batch in attempts[1:] for text in batch) == ["one", "two"]  # each applied once
    assert rejected == [channels.TRANSCRIPT.subject(SID)]  # terminated once, never redelivered
    await bus.flush()  # the acknowledgements reach the server
    info = await js.consumer_info(RECORDS_STREAM, "test-consumer")
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    await subscription.unsubscribe()
    await bus.drain()


async def test_consume_records_propagates_what_it_was_not_told_to_retry(own_nats: NatsServer) -> None:
    bus = await own_nats.connect()
    js = bus.nc.jetstream()
    await ensure_records_stream(js)
    await bus.publish(channels.LIFECYCLE, m.Lifecycle(kind=m.LifecycleKind.STARTED, at=1.0), session_id=SID)
    subscription = await records_consumer(js, "test-consumer")

    async def apply(_records: list[Record]) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await asyncio.wait_for(
            consume_records(subscription, apply, retry_on=(OSError,), stop=asyncio.Event()), 30
        )
    await bus.drain()
