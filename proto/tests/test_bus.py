"""Typed publish/subscribe/request against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from voice_proto import Bus, Delivery, NoResponders, channels
from voice_proto import messages as m
from voice_proto.bus import _credential_options
from voice_proto.settings import NatsCredentials, ServiceSettings
from voice_proto.tracecontext import trace_id_hex
from voice_testkit.nats import NatsEndpoint, NatsServer

SID = "bus-test-session-0001"

if not isinstance(trace.get_tracer_provider(), TracerProvider):
    trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("test")


@pytest.fixture
async def bus(nats_endpoint: NatsEndpoint) -> AsyncIterator[Bus]:
    b = await nats_endpoint.connect()
    yield b
    await b.drain()


async def test_typed_round_trip_carries_trace_context(bus: Bus) -> None:
    received: asyncio.Queue[tuple[m.AudioIn, Delivery]] = asyncio.Queue()

    async def handler(audio: m.AudioIn, delivery: Delivery) -> None:
        await received.put((audio, delivery))

    await bus.subscribe(channels.IN_AUDIO, handler, session_id=SID)
    await bus.flush()
    with tracer.start_as_current_span("publisher"):
        expected_trace = trace_id_hex()
        await bus.publish(channels.IN_AUDIO, m.AudioIn(seq=1, pcm=b"\x01\x00"), session_id=SID)
    audio, delivery = await asyncio.wait_for(received.get(), 2)
    assert audio == m.AudioIn(seq=1, pcm=b"\x01\x00")
    assert delivery.headers is not None
    assert "traceparent" in delivery.headers
    assert trace_id_hex(delivery.trace_context()) == expected_trace


async def test_undecodable_payload_is_counted_and_the_subscription_survives(bus: Bus) -> None:
    received: asyncio.Queue[m.TextIn] = asyncio.Queue()

    async def handler(text: m.TextIn, _delivery: Delivery) -> None:
        await received.put(text)

    await bus.subscribe(channels.IN_TEXT, handler, session_id=SID)
    await bus.flush()
    subject = channels.IN_TEXT.subject(SID)
    await bus.nc.publish(subject, b"\xc1 definitely not msgpack")
    await bus.nc.publish(subject, b"\x93\x01\x02\x03")  # valid msgpack, wrong shape
    await bus.publish(channels.IN_TEXT, m.TextIn(text="still here"), session_id=SID)
    assert (await asyncio.wait_for(received.get(), 2)).text == "still here"
    assert bus.decode_errors["inText"] == 2
    assert received.empty()


async def test_a_failing_handler_does_not_kill_the_subscription(bus: Bus) -> None:
    seen: list[str] = []

    async def handler(text: m.TextIn, _delivery: Delivery) -> None:
        seen.append(text.text)
        if text.text == "boom":
            raise RuntimeError("handler bug")

    await bus.subscribe(channels.IN_TEXT, handler, session_id=SID)
    await bus.flush()
    for text in ("boom", "after"):
        await bus.publish(channels.IN_TEXT, m.TextIn(text=text), session_id=SID)
    await bus.flush()
    for _ in range(50):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.02)
    assert seen == ["boom", "after"]
    assert bus.handler_errors["inText"] == 1


async def test_request_reply_and_no_responders(bus: Bus) -> None:
    with pytest.raises(NoResponders):
        await bus.request(
            channels.AUTH_VALIDATE,
            m.ValidateRequest(scheme=m.CredentialScheme.API_KEY, credential="k"),
            timeout=1,
        )

    async def answer(request: m.ValidateRequest, delivery: Delivery) -> None:
        await bus.respond(
            channels.AUTH_VALIDATE, delivery, m.ValidateReply(ok=True, principal=request.credential)
        )

    await bus.subscribe(channels.AUTH_VALIDATE, answer, queue=channels.AUTH_QUEUE)
    await bus.flush()
    reply = await bus.request(
        channels.AUTH_VALIDATE,
        m.ValidateRequest(scheme=m.CredentialScheme.API_KEY, credential="bob"),
        timeout=2,
    )
    assert reply == m.ValidateReply(ok=True, principal="bob")


async def test_session_subscription_routes_by_subject_and_keeps_order(bus: Bus) -> None:
    order: list[str] = []
    done = asyncio.Event()

    async def on_audio(audio: m.AudioIn, _d: Delivery) -> None:
        order.append(f"audio{audio.seq}")

    async def on_control(control: m.Control, _d: Delivery) -> None:
        order.append(control.kind.value)
        if control.kind is m.ControlKind.HANGUP:
            done.set()

    await bus.subscribe_session(SID, {channels.IN_AUDIO: on_audio, channels.IN_CONTROL: on_control})
    await bus.flush()
    await bus.publish(channels.IN_AUDIO, m.AudioIn(seq=1, pcm=b""), session_id=SID)
    await bus.publish(channels.IN_CONTROL, m.Control(kind=m.ControlKind.END_OF_UTTERANCE), session_id=SID)
    await bus.publish(channels.IN_TEXT, m.TextIn(text="not routed"), session_id=SID)
    await bus.publish(channels.IN_AUDIO, m.AudioIn(seq=2, pcm=b""), session_id=SID)
    await bus.publish(channels.IN_CONTROL, m.Control(kind=m.ControlKind.HANGUP), session_id=SID)
    await asyncio.wait_for(done.wait(), 2)
    assert order == ["audio1", "end_of_utterance", "audio2", "hangup"]


async def test_drain_does_not_wait_for_a_server_that_is_gone(own_nats: NatsServer) -> None:
    bus = await own_nats.connect()

    async def ignore(_text: m.TextIn, _delivery: Delivery) -> None:
        pass

    await bus.subscribe(channels.IN_TEXT, ignore, session_id=SID)
    await bus.flush()
    own_nats.stop()
    for _ in range(100):
        if not bus.connected:
            break
        await asyncio.sleep(0.02)
    # Published while reconnecting: nats-py keeps it pending, and its close() then writes it to
    # the dead socket (RuntimeError) unless the bus takes care.
    await bus.publish(channels.IN_TEXT, m.TextIn(text="lost"), session_id=SID)
    await asyncio.wait_for(bus.drain(), 3)
    assert bus.nc.is_closed


def test_the_nats_user_and_ca_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files mounted from Secrets: a JWT .creds file or an NKEY seed (not both), and the CA. The
    NKEY path and TLS run in every stack test; a .creds file goes to nats-py as user_credentials."""
    monkeypatch.setenv("NATS_CREDS", "/etc/voice/nats-user/user.creds")
    monkeypatch.setenv("NATS_TLS_CA", "/etc/voice/nats-ca/ca.crt")
    credentials = ServiceSettings().nats_credentials()
    assert credentials == NatsCredentials(
        creds_file=Path("/etc/voice/nats-user/user.creds"), tls_ca=Path("/etc/voice/nats-ca/ca.crt")
    )
    assert _credential_options(NatsCredentials(creds_file=Path("/x.creds"))) == {
        "user_credentials": "/x.creds"
    }
    monkeypatch.setenv("NATS_NKEY_SEED_FILE", "/etc/voice/nats-user/seed.nk")
    with pytest.raises(ValidationError, match="not both"):
        ServiceSettings()
