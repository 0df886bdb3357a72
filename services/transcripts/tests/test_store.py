"""Storing records and reading them back, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from voice_proto import messages as m
from voice_proto.streams import Record
from voice_transcripts.db import create_engine
from voice_transcripts.export import transcript_json, transcript_text
from voice_transcripts.migrate import upgrade
from voice_transcripts.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SID = "store-test-session-0001"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield Store(engine)
    await engine.dispose()


class Stream:
    """Makes records as the stream would: each with the next stream sequence."""

    def __init__(self) -> None:
        self.seq = 0

    def record(self, message: m.Transcript | m.Lifecycle, *, sid: str = SID, at: float = 0.0) -> Record:
        self.seq += 1
        return Record(sid, self.seq, T0 + timedelta(seconds=at), message, None, 0)

    def lifecycle(
        self, kind: m.LifecycleKind, at: float, *, sid: str = SID, principal: str = "alice", reason: str = ""
    ) -> Record:
        event = m.Lifecycle(
            kind=kind, principal=principal, reason=reason, at=(T0 + timedelta(seconds=at)).timestamp()
        )
        return self.record(event, sid=sid, at=at)

    def said(
        self,
        role: m.Role,
        text: str,
        at: float,
        *,
        turn: int = 1,
        stage: m.Stage = m.Stage.FINAL,
        interrupted: bool = False,
        sid: str = SID,
    ) -> Record:
        message = m.Transcript(turn_id=turn, role=role, text=text, stage=stage, interrupted=interrupted)
        return self.record(message, sid=sid, at=at)


def conversation(stream: Stream) -> list[Record]:
    return [
        stream.lifecycle(m.LifecycleKind.STARTED, 0),
        stream.said(m.Role.ASSISTANT, "Hello, how can I help?", 1, turn=1),
        stream.said(m.Role.USER, "what time", 3, turn=2, stage=m.Stage.SPECULATIVE),
        stream.said(m.Role.USER, "What time is it?", 4, turn=2),
        stream.said(m.Role.ASSISTANT, "It is noon and the", 5, turn=2, interrupted=True),
        stream.said(m.Role.USER, "Thanks, bye.", 7, turn=3),
        stream.lifecycle(m.LifecycleKind.ENDED, 8, reason="hangup"),
    ]


async def test_final_transcripts_become_turns_in_order(store: Store) -> None:
    assert await store.apply(conversation(Stream())) == 4
    session = await store.session(SID)
    assert session is not None
    assert (session.principal, session.started_at, session.end_reason) == ("alice", T0, "hangup")
    assert session.ended_at == T0 + timedelta(seconds=8)
    turns = await store.turns(SID)
    assert [(t.role, t.text, t.turn_id, t.interrupted) for t in turns] == [
        ("ASSISTANT", "Hello, how can I help?", 1, False),
        ("USER", "What time is it?", 2, False),
        ("ASSISTANT", "It is noon and the", 2, True),
        ("USER", "Thanks, bye.", 3, False),
    ]
    assert turns[1].spoken_at == T0 + timedelta(seconds=4)
    exported = transcript_json(session, turns)
    assert exported["turns"][2] == {
        "turnId": 2,
        "role": "assistant",
        "text": "It is noon and the",
        "at": (T0 + timedelta(seconds=5)).isoformat(),
        "offset": 5.0,
        "interrupted": True,
    }
    text = transcript_text(session, turns)
    assert "[00:00:05] assistant (interrupted): It is noon and the\n" in text
    assert text.index("What time is it?") < text.index("Thanks, bye.")


async def test_redelivery_never_duplicates(store: Store) -> None:
    records = conversation(Stream())
    await store.apply(records[:4])
    # The batch that was committed but not acknowledged comes again, with what followed it.
    assert await store.apply(records[2:]) == 2
    assert await store.apply(records) == 0
    assert len(await store.turns(SID)) == 4
    page = await store.page(principal="alice")
    assert [(s.session.session_id, s.turns) for s in page.sessions] == [(SID, 4)]


async def test_a_handed_over_session_keeps_every_turn_though_the_worker_seq_restarts(store: Store) -> None:
    stream = Stream()
    before = stream.said(m.Role.USER, "first worker", 1)
    after = stream.said(m.Role.USER, "second worker", 2)
    before.message.seq = after.message.seq = 1  # type: ignore[union-attr]
    await store.apply([stream.lifecycle(m.LifecycleKind.STARTED, 0), before])
    await store.apply([stream.lifecycle(m.LifecycleKind.HANDED_OVER, 1.5), after])
    assert [t.text for t in await store.turns(SID)] == ["first worker", "second worker"]


async def test_a_transcript_stored_before_the_lifecycle_gets_its_owner_later(store: Store) -> None:
    stream = Stream()
    early = stream.said(m.Role.ASSISTANT, "Hi!", 0.5)
    await store.apply([early])
    session = await store.session(SID)
    assert session is not None
    assert session.principal == ""
    await store.apply([stream.lifecycle(m.LifecycleKind.STARTED, 0)])
    session = await store.session(SID)
    assert session is not None
    assert (session.principal, session.started_at) == ("alice", T0)


async def test_a_deleted_session_stays_deleted_when_its_records_replay(store: Store) -> None:
    records = conversation(Stream())
    await store.apply(records)
    assert await store.delete(SID, T0)
    assert await store.session(SID) is None
    assert await store.apply(records) == 0
    assert await store.session(SID) is None
    assert await store.turns(SID) == []


async def test_retention_deletes_old_sessions_only(store: Store) -> None:
    stream = Stream()
    await store.apply(conversation(stream))
    await store.apply([stream.lifecycle(m.LifecycleKind.STARTED, 86_400 * 10, sid="store-test-session-new1")])
    removed = await store.purge(started_before=T0 + timedelta(days=5), forget_deletions_before=T0)
    assert removed == 1
    assert await store.session(SID) is None
    assert await store.turns(SID) == []
    assert await store.session("store-test-session-new1") is not None


async def test_pages_filter_by_owner_and_time(store: Store) -> None:
    stream = Stream()
    for n in range(5):
        owner = "alice" if n % 2 == 0 else "bob"
        await store.apply(
            [
                stream.lifecycle(
                    m.LifecycleKind.STARTED, n * 60, sid=f"store-test-page-{n:04d}", principal=owner
                )
            ]
        )
    everyone = await store.page(principal=None, limit=2)
    assert [s.session.session_id for s in everyone.sessions] == [
        "store-test-page-0004",
        "store-test-page-0003",
    ]
    assert everyone.after is not None
    rest = await store.page(principal=None, limit=2, after=everyone.after)
    assert [s.session.session_id for s in rest.sessions] == ["store-test-page-0002", "store-test-page-0001"]
    alice = await store.page(
        principal="alice", since=T0 + timedelta(seconds=60), until=T0 + timedelta(seconds=240)
    )
    assert [s.session.session_id for s in alice.sessions] == ["store-test-page-0002"]
    assert alice.after is None
