"""A session's credential over its life, on a fake clock: expiry notice, renewal, API-key recheck,
auth unavailable. The auth service's answers, played by the test, come over a real NATS server
through the real AuthClient."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from voice_edge import protocol as p
from voice_edge.credentials import CredentialWatch
from voice_edge.outcome import CloseRequest, Outcome
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_proto.auth import AuthClient, Credential
from voice_testkit.clock import FakeClock
from voice_testkit.ports import RecordedSession
from voice_testkit.recorder import Recorder

NOTICE = 60.0
TOKEN = Credential(m.CredentialScheme.BEARER, "token-1")
FRESH = Credential(m.CredentialScheme.BEARER, "token-2")
KEY = Credential(m.CredentialScheme.API_KEY, "key-1")
EXPIRED = CloseRequest(p.Close.AUTH_EXPIRED, "credential expired", Outcome.EXPIRED)

#: What the auth service answers for each credential (none: it does not answer).
type Answers = dict[str, m.ValidateReply]
type Watch = Callable[[m.ValidateReply, Credential], CredentialWatch]
type Start = Callable[[CredentialWatch], Awaitable[None]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session() -> RecordedSession:
    return RecordedSession()


def ok(clock: FakeClock, expires_in: float, principal: str = "alice") -> m.ValidateReply:
    return m.ValidateReply(ok=True, principal=principal, expires_at=clock.time() + expires_in)


@pytest.fixture
def watch(own_bus: Bus, clock: FakeClock, session: RecordedSession) -> Watch:
    """A CredentialWatch of ``identity`` for ``credential``, asking over the bus, on the fake clock."""
    # No cache: each recheck must reach the auth service (the cache runs on the real clock).
    auth = AuthClient(own_bus, timeout=0.5, cache_seconds=0)
    return functools.partial(
        CredentialWatch,
        validate=functools.partial(auth.validate, source="127.0.0.1"),
        renew_notice=NOTICE,
        tell=session.tell,
        close=session.close,
        clock=clock,
    )


@pytest.fixture
async def start(clock: FakeClock) -> AsyncIterator[Start]:
    """Run a watch until the test ends; returns once it waits on the clock."""
    tasks: list[asyncio.Task[None]] = []

    async def run(credentials: CredentialWatch) -> None:
        tasks.append(asyncio.create_task(credentials.run()))
        await clock.sleeping()

    yield run
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def answers() -> Answers:
    return {}


async def answer_validate(bus: Bus, answers: Answers) -> Recorder:
    """Play the auth service's side of ``auth.validate``; the recorder keeps what it was asked."""
    return await Recorder().listen(
        bus, channels.AUTH_VALIDATE, answer=lambda request: answers.get(request.credential)
    )


@pytest.fixture
async def auth_service(own_bus: Bus, answers: Answers) -> Recorder:
    return await answer_validate(own_bus, answers)


def asked(auth_service: Recorder) -> list[str]:
    return [request.credential for request in auth_service.of_type(m.ValidateRequest)]


async def test_a_bearer_session_is_told_ahead_of_expiry_then_closed_when_no_token_came(
    clock: FakeClock, session: RecordedSession, watch: Watch, start: Start
) -> None:
    identity = ok(clock, 300)
    await start(watch(identity, TOKEN))

    await clock.advance(300 - NOTICE - 1)
    assert session.told == []
    await clock.advance(1)
    assert session.told == [p.AuthEvent("expiring", identity.expires_at)]

    await clock.advance(NOTICE - 1)
    assert not session.closes
    await clock.advance(1)
    assert await session.closed() == EXPIRED
    assert session.told[-1] == p.ErrorEvent(p.ErrorCode.AUTH_EXPIRED, "the credential expired; sign in again")


@pytest.mark.usefixtures("auth_service")
async def test_a_fresh_token_for_the_same_principal_renews_the_session(
    clock: FakeClock,
    session: RecordedSession,
    watch: Watch,
    start: Start,
    answers: Answers,
) -> None:
    credentials = watch(ok(clock, 300), TOKEN)
    await start(credentials)
    await clock.advance(300 - NOTICE)
    assert [e.state for e in session.told if isinstance(e, p.AuthEvent)] == ["expiring"]

    renewed = answers[FRESH.value] = ok(clock, 600)
    await credentials.renew(FRESH)
    assert session.told[-1] == p.AuthEvent("refreshed", renewed.expires_at)
    assert credentials.credential == FRESH
    assert credentials.bearer_expiry() == renewed.expires_at

    # The old expiry passes without a close; the next notice is for the new one.
    await clock.sleeping()
    await clock.advance(NOTICE + 1)
    assert not session.closes
    await clock.advance(600 - 2 * NOTICE - 2)
    assert session.told[-1] == p.AuthEvent("refreshed", renewed.expires_at)
    await clock.advance(1)
    assert session.told[-1] == p.AuthEvent("expiring", renewed.expires_at)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (m.ValidateReply(ok=False, reason="expired"), "token refused: expired"),
        (m.ValidateReply(ok=True, principal="mallory"), "the token is for another principal"),
    ],
    ids=["refused", "another principal"],
)
@pytest.mark.usefixtures("auth_service")
async def test_a_refused_token_leaves_the_session_on_its_credential(
    clock: FakeClock,
    session: RecordedSession,
    watch: Watch,
    answers: Answers,
    answer: m.ValidateReply,
    message: str,
) -> None:
    identity = ok(clock, 300)
    credentials = watch(identity, TOKEN)
    answers[FRESH.value] = answer
    await credentials.renew(FRESH)
    assert session.told == [p.ErrorEvent(p.ErrorCode.AUTH_REFUSED, message)]
    assert credentials.identity == identity
    assert credentials.credential == TOKEN


async def test_a_token_that_cannot_be_checked_is_to_be_sent_again(
    clock: FakeClock, session: RecordedSession, watch: Watch
) -> None:
    credentials = watch(ok(clock, 300), TOKEN)
    await credentials.renew(FRESH)  # nobody answers auth.validate
    assert session.told == [
        p.ErrorEvent(p.ErrorCode.AUTH_UNAVAILABLE, "cannot check the token now; try again")
    ]
    assert credentials.credential == TOKEN


async def test_an_api_key_is_checked_again_when_its_answer_expires_and_ends_the_session_once_revoked(
    clock: FakeClock,
    session: RecordedSession,
    watch: Watch,
    start: Start,
    auth_service: Recorder,
    answers: Answers,
) -> None:
    credentials = watch(ok(clock, 120), KEY)
    await start(credentials)

    answers[KEY.value] = ok(clock, 240)
    await clock.advance(120)
    await clock.sleeping()  # waiting for the new answer's expiry
    assert asked(auth_service) == [KEY.value]
    assert credentials.identity.expires_at == clock.time() + 120
    assert session.told == []  # an API key gets no expiring notice

    answers[KEY.value] = m.ValidateReply(ok=False, reason="unknown_key")
    await clock.advance(120)
    assert await session.closed() == EXPIRED
    assert asked(auth_service) == [KEY.value, KEY.value]
    assert [e.code for e in session.told if isinstance(e, p.ErrorEvent)] == [p.ErrorCode.AUTH_EXPIRED]


async def test_while_auth_is_unavailable_an_api_key_session_goes_on_and_is_checked_again_shortly(
    own_bus: Bus, clock: FakeClock, session: RecordedSession, watch: Watch, start: Start
) -> None:
    credentials = watch(ok(clock, 120), KEY)
    await start(credentials)

    await clock.advance(120)  # no auth service on the bus at all
    await clock.sleeping()
    assert not session.closes
    assert credentials.identity.expires_at == clock.time() + 30

    answers = {KEY.value: ok(clock, 30 + 300)}
    auth_service = await answer_validate(own_bus, answers)
    await clock.advance(30)
    await clock.sleeping()
    assert asked(auth_service) == [KEY.value]
    assert credentials.identity == answers[KEY.value]
    assert not session.closes


async def test_a_credential_without_expiry_is_never_watched(
    clock: FakeClock, session: RecordedSession, watch: Watch
) -> None:
    await asyncio.wait_for(watch(m.ValidateReply(ok=True, principal="alice"), KEY).run(), 5)
    assert clock.sleepers == 0
    assert session.told == []
    assert session.closes == []
