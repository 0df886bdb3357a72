"""The session-state bucket on a real nats-server, used as the edge's NATS user."""

from __future__ import annotations

from voice_proto import messages as m
from voice_proto.session_state import SessionStore, token_hash
from voice_testkit.nats import NatsEndpoint

SID = "state-test-session-0001"


async def test_a_session_state_is_written_read_back_and_deleted(nats_endpoint: NatsEndpoint) -> None:
    bus = await nats_endpoint.connect("edge")
    js = bus.nc.jetstream()
    store = await SessionStore.ensure(js, ttl=60)
    again = await SessionStore.ensure(js, ttl=60)  # another edge: the bucket it finds
    state = m.SessionState(
        principal="alice",
        owner="w1",
        next_turn_id=4,
        history=[m.HistoryTurn(role=m.Role.USER, text="tell me about storage")],
        resume_token_hash=token_hash("secret"),
        delivered_event_seq=9,
        updated_at=1.0,
    )
    assert await store.get(SID) is None
    await store.put(SID, state)
    assert await again.get(SID) == state
    assert len(token_hash("secret")) == 64
    await store.delete(SID)
    assert await again.get(SID) is None
    await bus.drain()
