"""A durable consumer that keeps every message of a session unacknowledged until the session's
recording is stored, so that a recorder killed mid-call loses nothing.

The consumer acknowledges cumulatively (``AckPolicy.ALL``): acknowledging stream sequence N
acknowledges everything before it. The recorder acknowledges up to the *floor*, just before the
first message of the oldest session still open, so what the server keeps pending is exactly what a
restarted recorder needs. JetStream would redeliver the pending messages only after ``ack_wait``
(longer than any call); so at start the recorder re-creates its consumer from the floor (the
consumer keeps its name: it is the same durable consumer, repositioned), and reads every session
still open from its first message again.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime, timedelta

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = structlog.get_logger("voice_recordings.feed")

_ACK = b"+ACK"


class SessionFeed:
    """One stream read through a durable pull consumer whose acknowledgements follow sessions.

    ``new_from``: where a consumer that does not exist yet starts (None: the stream's first message).
    """

    def __init__(
        self,
        nc: Client,
        stream: str,
        durable: str,
        *,
        ack_wait: float,
        max_ack_pending: int,
        new_from: timedelta | None = None,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self.stream = stream
        self.durable = durable
        self._ack_wait = ack_wait
        self._max_ack_pending = max_ack_pending
        self._new_from = new_from
        self._subscription: JetStreamContext.PullSubscription | None = None
        #: The first stream sequence of every session still open.
        self._first: dict[str, int] = {}
        #: (stream sequence, ack subject) of what was delivered and is not acknowledged yet.
        self._unacked: collections.deque[tuple[int, str]] = collections.deque()
        #: The newest stream sequence delivered (what is at or below it and comes again is a
        #: redelivery, already applied).
        self.high = 0
        self.acked = 0

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.ALL,
            ack_wait=self._ack_wait,
            max_ack_pending=self._max_ack_pending,
            max_deliver=-1,
        )
        try:
            info = await self._js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            info = None
        if info is not None:
            floor = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
            # Everything after the floor again, now rather than after ack_wait.
            await self._js.delete_consumer(self.stream, self.durable)
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = floor + 1
            self.high = self.acked = floor
            log.info("consumer repositioned at its floor", stream=self.stream, floor=floor)
        elif self._new_from is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = datetime.now(UTC) - self._new_from
        else:
            config.deliver_policy = DeliverPolicy.ALL
        await self._js.add_consumer(self.stream, config)
        self._subscription = await self._js.pull_subscribe_bind(self.durable, self.stream)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` new messages (redeliveries of what was already seen are left out);
        [] when none came within ``timeout``."""
        assert self._subscription is not None, "SessionFeed.start() was not awaited"
        try:
            msgs = await self._subscription.fetch(batch, timeout=timeout)
        except (nats.errors.TimeoutError, TimeoutError):
            return []
        fresh: list[Msg] = []
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq <= self.high:
                continue
            self.high = seq
            if msg.reply:
                self._unacked.append((seq, msg.reply))
            fresh.append(msg)
        return fresh

    def hold(self, session_id: str, msg: Msg) -> None:
        """Keep ``msg`` (and everything after it) unacknowledged until ``session_id`` is released."""
        self._first.setdefault(session_id, msg.metadata.sequence.stream)

    def holds(self, session_id: str) -> bool:
        return session_id in self._first

    async def release(self, *session_ids: str) -> None:
        """These sessions are stored (or not to be): acknowledge what no open session needs."""
        for session_id in session_ids:
            self._first.pop(session_id, None)
        await self.settle()

    async def settle(self) -> None:
        """Acknowledge up to the floor (before the oldest open session's first message)."""
        floor = min(self._first.values()) - 1 if self._first else self.high
        reply = ""
        while self._unacked and self._unacked[0][0] <= floor:
            seq, reply = self._unacked.popleft()
        if reply:
            await self._nc.publish(reply, _ACK)
            self.acked = max(self.acked, seq)

    async def pending(self) -> int:
        """Messages of the stream not acknowledged yet (delivered or not)."""
        if self._subscription is None:
            return 0
        info = await self._subscription.consumer_info()
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except (nats.errors.Error, TimeoutError) as exc:
                log.info("unsubscribe failed", stream=self.stream, error=str(exc))
