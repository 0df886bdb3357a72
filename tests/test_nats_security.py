"""NATS is locked down: no user, no entry; each service's user can do what the channel table says it
does and nothing else. Run against the test's own nats-server, configured like ./run, compose and
the Helm chart configure theirs (TLS, an NKEY user per service, permissions from
voice_proto.permissions). That the services work within these permissions is shown by every stack
test, which runs with them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from voice_dev.natsauth import ADMIN, new_user_seed
from voice_proto import Bus, Delivery, NoResponders, RequestTimeout, channels
from voice_proto import messages as m
from voice_proto.settings import RecordsStreamSettings
from voice_proto.streams import RECORDS_STREAM, ensure_records_stream, records_consumer
from voice_testkit.nats import NatsEndpoint

SID = "security-test-session-01"


@pytest.fixture
def secured(nats_endpoint: NatsEndpoint) -> NatsEndpoint:
    if nats_endpoint.auth is None:
        pytest.skip("NATS_URL names an open server; these tests need the testkit's own")
    return nats_endpoint


@pytest.fixture
async def admin(secured: NatsEndpoint) -> AsyncIterator[Bus]:
    bus = await secured.connect(ADMIN)
    yield bus
    await bus.drain()


async def refused(bus: Bus, what: str) -> None:
    """The server told this connection that ``what`` was not allowed."""
    await bus.flush()
    for _ in range(50):
        error = bus.nc.last_error
        text = str(error).lower()  # nats-py lowercases the server's message
        if "permissions violation" in text and what.lower() in text:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no permissions violation for {what}; last error: {bus.nc.last_error!r}")


async def connect_once(url: str, **options: Any) -> None:
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5, **options)
    await nc.close()


async def test_a_client_without_credentials_is_refused(secured: NatsEndpoint, tmp_path: Path) -> None:
    assert secured.auth is not None
    tls = ssl.create_default_context(cafile=str(secured.auth.ca_file(ADMIN)))
    await connect_once(secured.url, tls=tls, nkeys_seed=str(secured.auth.seed_file("edge")))  # the control
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await connect_once(secured.url, tls=tls)
    stranger = tmp_path / "stranger.nk"
    stranger.write_bytes(new_user_seed())
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await connect_once(secured.url, tls=tls, nkeys_seed=str(stranger))
    # Without the CA the server's certificate is not trusted, and there is no plaintext fallback.
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect_once(secured.url, nkeys_seed=str(secured.auth.seed_file("edge")))
    with pytest.raises((nats.errors.Error, OSError)):
        await connect_once(
            secured.url.replace("tls://", "nats://"), nkeys_seed=str(secured.auth.seed_file("edge"))
        )


async def test_the_workers_user_cannot_answer_auth_or_read_the_records_stream(
    secured: NatsEndpoint, admin: Bus
) -> None:
    worker = await secured.connect("nova")
    try:
        heard: list[m.ValidateRequest] = []

        async def impostor(request: m.ValidateRequest, _delivery: Delivery) -> None:
            heard.append(request)

        await worker.subscribe(channels.AUTH_VALIDATE, impostor, queue=channels.AUTH_QUEUE)
        await refused(worker, "auth.validate")
        request = m.ValidateRequest(scheme=m.CredentialScheme.API_KEY, credential="k", source="test")
        with pytest.raises(NoResponders):
            await admin.request(channels.AUTH_VALIDATE, request, timeout=1)
        assert heard == []

        # The records stream exists and holds a transcript...
        await ensure_records_stream(admin.nc.jetstream(), RecordsStreamSettings())
        said = m.Transcript(turn_id=1, role=m.Role.USER, text="private", stage=m.Stage.FINAL)
        await admin.publish(channels.TRANSCRIPT, said, session_id=SID)
        await admin.flush()
        # ...which the worker can neither look at, nor read through a consumer, nor tap live.
        js = worker.nc.jetstream(timeout=1)
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await js.stream_info(RECORDS_STREAM)
        await refused(worker, f"$JS.API.STREAM.INFO.{RECORDS_STREAM}")
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await records_consumer(js, "spy")
        await refused(worker, "$JS.API.CONSUMER")
        await worker.subscribe(channels.TRANSCRIPT, impostor_transcript)
        await refused(worker, channels.TRANSCRIPT.wildcard())
        # Nor read anyone's replies.
        await worker.nc.subscribe("_INBOX.>")
        await refused(worker, "_INBOX.>")
    finally:
        await worker.drain()


async def impostor_transcript(_t: m.Transcript, _d: Delivery) -> None:
    raise AssertionError("the worker must not receive transcripts")


async def test_the_edges_user_cannot_speak_for_a_worker(secured: NatsEndpoint, admin: Bus) -> None:
    edge = await secured.connect("edge")
    try:
        seen: asyncio.Queue[str] = asyncio.Queue()

        async def watch(_message: object, delivery: Delivery) -> None:
            await seen.put(delivery.subject)

        watched: tuple[channels.Channel[Any], ...] = (
            channels.OUT_AUDIO,
            channels.OUT_EVENT,
            channels.TRANSCRIPT,
            channels.IN_CONTROL,
        )
        for channel in watched:
            await admin.subscribe(channel, watch, session_id=SID)
        await admin.flush()
        await edge.publish(channels.OUT_AUDIO, m.AudioOut(turn_id=1, seq=1, pcm=b"\0\0"), session_id=SID)
        await refused(edge, channels.OUT_AUDIO.subject(SID))
        await edge.publish(channels.OUT_EVENT, m.Heartbeat(worker_id="fake"), session_id=SID)
        await refused(edge, channels.OUT_EVENT.subject(SID))
        fake = m.Transcript(turn_id=1, role=m.Role.ASSISTANT, text="fake", stage=m.Stage.FINAL)
        await edge.publish(channels.TRANSCRIPT, fake, session_id=SID)
        await refused(edge, channels.TRANSCRIPT.subject(SID))
        # What the edge does send arrives (and after the refused ones, had they got through).
        await edge.publish(channels.IN_CONTROL, m.Control(kind=m.ControlKind.KEEPALIVE), session_id=SID)
        assert await asyncio.wait_for(seen.get(), 5) == channels.IN_CONTROL.subject(SID)
        assert seen.empty()
        # The edge hears a session's output, but not another edge's input on the same wildcard.
        heard: asyncio.Queue[str] = asyncio.Queue()

        async def route(_message: object, delivery: Delivery) -> None:
            await heard.put(delivery.subject)

        await edge.subscribe_session(SID, {channels.OUT_EVENT: route, channels.IN_TEXT: route})
        await edge.flush()
        await admin.publish(channels.IN_TEXT, m.TextIn(text="someone else's"), session_id=SID)
        await admin.publish(channels.OUT_EVENT, m.Heartbeat(worker_id="w"), session_id=SID)
        assert await asyncio.wait_for(heard.get(), 5) == channels.OUT_EVENT.subject(SID)
        assert heard.empty()
    finally:
        await edge.drain()


async def test_the_auth_users_only_voice_is_its_answers(secured: NatsEndpoint, admin: Bus) -> None:
    auth = await secured.connect("auth")
    try:
        await auth.publish(channels.IN_TEXT, m.TextIn(text="hi"), session_id=SID)
        await refused(auth, channels.IN_TEXT.subject(SID))

        async def answer(_request: m.SignInConfigRequest, delivery: Delivery) -> None:
            await auth.respond(channels.AUTH_CONFIG, delivery, m.SignInConfig(api_keys=True))

        await auth.subscribe(channels.AUTH_CONFIG, answer, queue=channels.AUTH_QUEUE)
        await auth.flush()
        config: m.SignInConfig = await admin.request(channels.AUTH_CONFIG, m.SignInConfigRequest())
        assert config.api_keys
        with pytest.raises((RequestTimeout, NoResponders)):
            # It may not ask anything either (no inbox of its own).
            await auth.request(channels.AUTH_CONFIG, m.SignInConfigRequest(), timeout=0.5)
    finally:
        await auth.drain()
