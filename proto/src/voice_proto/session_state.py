"""The replicated key-value bucket that holds what a session needs to move (``SessionState``).

One entry per live session, keyed by its session id, written by the edge that carries the session
(as its conversation goes on, and when its client drops) and read by whichever edge the client
resumes on, so that a session outlives the edge (and, with replicas, the NATS node) it was on.
Entries expire ``ttl`` seconds after their last write and are deleted when the session ends (by
the edge on a hang-up, by the worker when it ends the session, say when its resume window passed).
Replicas follow the records stream's setting (``VOICE_RECORDS_REPLICAS``): the same cluster holds
both. Like the records stream, the bucket's limits apply when it is created.
"""

from __future__ import annotations

import contextlib
import hashlib

import msgspec
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import KeyValue

from . import messages as m
from .streams import AUTO_REPLICAS_MAX

SESSIONS_BUCKET = "VOICE_SESSIONS"
#: The JetStream stream behind the bucket.
SESSIONS_STREAM = f"KV_{SESSIONS_BUCKET}"

_decoder = msgspec.msgpack.Decoder(m.SessionState)
_encoder = msgspec.msgpack.Encoder()


def token_hash(token: str) -> str:
    """What the bucket keeps of a resume token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Reads and writes session states; every method raises ``nats.errors.Error`` (or
    ``TimeoutError``) when JetStream cannot be reached."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def ensure(
        cls, js: JetStreamContext, *, replicas: int | None = None, ttl: float = 86_400.0
    ) -> SessionStore:
        """The bucket, created when it does not exist yet (safe to call from every replica at once)
        with ``replicas`` copies (None: as many as the cluster holds, up to three, as the records
        stream; voice_proto.streams)."""
        try:
            return cls(await js.key_value(SESSIONS_BUCKET))
        except NotFoundError:  # BucketNotFoundError is one
            pass
        counts = [replicas] if replicas is not None else list(range(AUTO_REPLICAS_MAX, 0, -1))
        refusals: list[APIError] = []
        for count in counts:
            config = KeyValueConfig(
                bucket=SESSIONS_BUCKET,
                description="What each live voice session needs to move to another edge or worker",
                history=1,
                ttl=ttl,
                replicas=count,
                storage=StorageType.FILE,
                direct=True,
            )
            try:
                return cls(await js.create_key_value(config))
            except APIError as exc:  # more copies than the cluster holds, or made meanwhile
                refusals.append(exc)
                with contextlib.suppress(NotFoundError):  # another service created it a moment ago
                    return cls(await js.key_value(SESSIONS_BUCKET))
        raise refusals[-1]

    @classmethod
    async def bind(cls, js: JetStreamContext) -> SessionStore | None:
        """The bucket if it exists (None: no edge made it yet, so there is nothing in it)."""
        try:
            return cls(await js.key_value(SESSIONS_BUCKET))
        except NotFoundError:
            return None

    async def get(self, session_id: str) -> m.SessionState | None:
        """The session's state, or None when there is none (never written, ended or expired)."""
        try:
            entry = await self._kv.get(session_id)
        except NotFoundError:  # no such key, or a deleted one
            return None
        if not entry.value:
            return None
        try:
            state = _decoder.decode(entry.value)
        except msgspec.DecodeError:
            return None
        return state if state.v <= m.SCHEMA_VERSION else None

    async def put(self, session_id: str, state: m.SessionState) -> None:
        await self._kv.put(session_id, _encoder.encode(state))

    async def delete(self, session_id: str) -> None:
        await self._kv.delete(session_id)
