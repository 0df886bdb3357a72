"""A session's credential over its life, on a fake clock: expiry notice, renewal, API-key recheck,
auth unavailable. The auth answers come over a real NATS server through the real AuthClient."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest
from voice_edge import protocol as p
from voice_edge.credentials import CredentialWatch
from voice_edge.outcome import CloseRequest, Outcome
from voice_proto import Bus, Delivery, channels
from voice_proto import messages as m
from voice_proto.auth import AuthClient, Credential
from voice_testkit.clock import FakeClock
from voice_testkit.nats import NatsServer
from voice_testkit.ports import RecordedSession

NOTICE = 60.0
TOKEN = Credential(m.CredentialScheme.BEARER, "token-1")
FRESH = Credential(m.CredentialScheme.BEARER, "token-2")
KEY = Credential(m.CredentialScheme.API_KEY, "key-1")


class AuthAnswers:
    """The auth service's side of ``auth.validate``: answers each credential as the test says;
    a credential with no answer is not answered (the request times out)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.answers: dict[str, m.ValidateReply] = {}
        self.asked: list[str] = []

    async def __call__(self, request: m.ValidateRequest, delivery: Delivery) -> None:
        self.asked.append(request.credential)
        if request.credential in self.answers:
            await self.bus.respond(channels.AUTH_VALIDATE, delivery, self.answers[request.credential])


def ok(clock: FakeClock, expires_in: float, principal: str = "alice") -> m.ValidateReply:
    return m.ValidateReply(ok=True, principal=principal, expires_at=clock.time() + expires_in)


@pytest.fixture
async def bus(own_nats: NatsServer) -> AsyncIterator[Bus]:
    bus = await Bus.connect(own_nats.url, "edge-test")
    yield bus
    await bus.drain()


@pytest.fixture
async def auth_service(bus: Bus) -> AuthAnswers:
    answers = AuthAnswers(bus)
    await bus.subscribe(channels.AUTH_VALIDATE, answers)
    await bus.flush()
    return answers


def watch(
    bus: Bus, clock: FakeClock, session: RecordedSession, identity: m.ValidateReply, credential: Credential
) -> CredentialWatch:
    # No cache: each recheck must reach the auth service (the cache runs on the real clock).
    auth = AuthClient(bus, timeout=0.5, cache_seconds=0)
    return CredentialWatch(
        identity,
        credential,
        validate=functools.partial(auth.validate, source="127.0.0.1"),
        renew_notice=NOTICE,
        tell=session.tell,
        close=session.close,
        clock=clock,
    )


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


EXPIRED = CloseRequest(p.Close.AUTH_EXPIRED, "credential expired", Outcome.EXPIRED)


async def test_a_bearer_session_is_told_ahead_of_expiry_then_closed_when_no_token_came(
    bus: Bus, running: list[asyncio.Task[None]]
) -> None:
    clock, session = FakeClock(), RecordedSession()
    identity = ok(clock, 300)
    credentials = watch(bus, clock, session, identity, TOKEN)
    running.append(asyncio.create_task(credentials.run()))
    await clock.sleeping()

    await clock.advance(300 - NOTICE - 1)
    assert session.told == []
    await clock.advance(1)
    assert session.told == [p.AuthEvent(p.AuthState.EXPIRING, identity.expires_at)]

    await clock.advance(NOTICE - 1)
    assert not session.closes
    await clock.advance(1)
    assert await session.closed() == EXPIRED
    assert session.told[-1] == p.ErrorEvent(p.ErrorCode.AUTH_EXPIRED, "the credential expired; sign in again")


async def test_a_fresh_token_for_the_same_principal_renews_the_session(
    bus: Bus, auth_service: AuthAnswers, running: list[asyncio.Task[None]]
) -> None:
    clock, session = FakeClock(), RecordedSession()
    credentials = watch(bus, clock, session, ok(clock, 300), TOKEN)
    running.append(asyncio.create_task(credentials.run()))
    await clock.sleeping()
    await clock.advance(300 - NOTICE)
    assert [e.state for e in session.told if isinstance(e, p.AuthEvent)] == [p.AuthState.EXPIRING]

    renewed = ok(clock, 600)
    auth_service.answers[FRESH.value] = renewed
    await credentials.renew(FRESH)
    assert session.told[-1] == p.AuthEvent(p.AuthState.REFRESHED, renewed.expires_at)
    assert credentials.credential == FRESH
    assert credentials.bearer_expiry() == renewed.expires_at

    # The old expiry passes without a close; the next notice is for the new one.
    await clock.sleeping()
    await clock.advance(NOTICE + 1)
    assert not session.closes
    await clock.advance(600 - 2 * NOTICE - 2)
    assert session.told[-1] == p.AuthEvent(p.AuthState.REFRESHED, renewed.expires_at)
    await clock.advance(1)
    assert session.told[-1] == p.AuthEvent(p.AuthState.EXPIRING, renewed.expires_at)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (m.ValidateReply(ok=False, reason="expired"), "token refused: expired"),
        (m.ValidateReply(ok=True, principal="mallory"), "the token is for another principal"),
    ],
    ids=["refused", "another principal"],
)
async def test_a_refused_token_leaves_the_session_on_its_credential(
    bus: Bus, auth_service: AuthAnswers, answer: m.ValidateReply, message: str
) -> None:
    clock, session = FakeClock(), RecordedSession()
    identity = ok(clock, 300)
    credentials = watch(bus, clock, session, identity, TOKEN)
    auth_service.answers[FRESH.value] = answer
    await credentials.renew(FRESH)
    assert session.told == [p.ErrorEvent(p.ErrorCode.AUTH_REFUSED, message)]
    assert credentials.identity == identity
    assert credentials.credential == TOKEN


async def test_a_token_that_cannot_be_checked_is_to_be_sent_again(bus: Bus) -> None:
    clock, session = FakeClock(), RecordedSession()
    credentials = watch(bus, clock, session, ok(clock, 300), TOKEN)
    await credentials.renew(FRESH)  # nobody answers auth.validate
    assert session.told == [
        p.ErrorEvent(p.ErrorCode.AUTH_UNAVAILABLE, "cannot check the token now; try again")
    ]
    assert credentials.credential == TOKEN


async def test_an_api_key_is_checked_again_when_its_answer_expires_and_ends_the_session_once_revoked(
    bus: Bus, auth_service: AuthAnswers, running: list[asyncio.Task[None]]
) -> None:
    clock, session = FakeClock(), RecordedSession()
    credentials = watch(bus, clock, session, ok(clock, 120), KEY)
    running.append(asyncio.create_task(credentials.run()))
    await clock.sleeping()

    auth_service.answers[KEY.value] = ok(clock, 240)
    await clock.advance(120)
    await clock.sleeping()  # waiting for the new answer's expiry
    assert auth_service.asked == [KEY.value]
    assert credentials.identity.expires_at == clock.time() + 120
    assert session.told == []  # an API key gets no expiring notice

    auth_service.answers[KEY.value] = m.ValidateReply(ok=False, reason="unknown_key")
    await clock.advance(120)
    assert await session.closed() == EXPIRED
    assert auth_service.asked == [KEY.value, KEY.value]
    assert [e.code for e in session.told if isinstance(e, p.ErrorEvent)] == [p.ErrorCode.AUTH_EXPIRED]


async def test_while_auth_is_unavailable_an_api_key_session_goes_on_and_is_checked_again_shortly(
    bus: Bus, running: list[asyncio.Task[None]]
) -> None:
    clock, session = FakeClock(), RecordedSession()
    credentials = watch(bus, clock, session, ok(clock, 120), KEY)
    running.append(asyncio.create_task(credentials.run()))
    await clock.sleeping()

    await clock.advance(120)  # no auth service on the bus at all
    await clock.sleeping()
    assert not session.closes
    assert credentials.identity.expires_at == clock.time() + 30

    answers = AuthAnswers(bus)
    await bus.subscribe(channels.AUTH_VALIDATE, answers)
    await bus.flush()
    answers.answers[KEY.value] = ok(clock, 30 + 300)
    await clock.advance(30)
    await clock.sleeping()
    assert answers.asked == [KEY.value]
    assert credentials.identity == answers.answers[KEY.value]
    assert not session.closes


async def test_a_credential_without_expiry_is_never_watched(bus: Bus) -> None:
    clock, session = FakeClock(), RecordedSession()
    identity = m.ValidateReply(ok=True, principal="alice")
    await asyncio.wait_for(watch(bus, clock, session, identity, KEY).run(), 5)
    assert clock.sleepers == 0
    assert session.told == []
    assert session.closes == []
