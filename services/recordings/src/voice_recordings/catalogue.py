"""The catalogue: one entry per stored recording (who, when, how long, where its objects are), in a
JetStream key-value bucket keyed by session id, so every API replica sees the same list whichever
backend holds the audio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import field

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from voice_proto.streams import RECORDINGS_CATALOGUE

from .store import StorageError


class Entry(msgspec.Struct, kw_only=True, rename="camel"):
    """One recording. Times are Unix seconds."""

    session_id: str
    principal: str
    started_at: float
    ended_at: float
    #: Seconds of audio.
    duration: float
    #: Object keys of the audio and of the index, and the backend that holds them.
    key: str
    index_key: str
    storage: str
    size: int
    content_type: str
    turns: list[dict[str, object]] = field(default_factory=list)
    #: Stream sequences the recording was made from (the newest of each stream): a replay of a
    #: session already stored leaves it as it is.
    audio_seq: int = 0


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Entry)


class Catalogue:
    def __init__(self, js: Callable[[], JetStreamContext], *, replicas: int = 1) -> None:
        #: The connected bus's JetStream (asked for at start, when the bus is connected).
        self._jetstream = js
        self._replicas = replicas
        self._kv: KeyValue | None = None

    async def start(self) -> None:
        js = self._jetstream()
        try:
            self._kv = await js.key_value(RECORDINGS_CATALOGUE)
        except (BucketNotFoundError, NotFoundError):
            config = KeyValueConfig(
                bucket=RECORDINGS_CATALOGUE,
                description="One entry per voice recording",
                storage=StorageType.FILE,
                replicas=self._replicas,
                history=1,
            )
            self._kv = await js.create_key_value(config=config)

    @property
    def _bucket(self) -> KeyValue:
        assert self._kv is not None, "Catalogue.start() was not awaited"
        return self._kv

    async def put(self, entry: Entry) -> None:
        try:
            await self._bucket.put(entry.session_id, _encoder.encode(entry))
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc

    async def get(self, session_id: str) -> Entry | None:
        try:
            found = await self._bucket.get(session_id)
        except KeyNotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc
        return _decoder.decode(found.value) if found.value else None

    async def delete(self, session_id: str) -> None:
        try:
            await self._bucket.purge(session_id)
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc

    async def entries(self) -> list[Entry]:
        """Every entry (the bucket's latest values, read in one pass)."""
        try:
            watcher = await self._bucket.watchall(ignore_deletes=True)
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc
        found: list[Entry] = []
        try:
            while True:
                update = await asyncio.wait_for(watcher.updates(timeout=5.0), 6.0)  # type: ignore[no-untyped-call]
                if update is None:  # the initial values are all delivered
                    break
                if update.value:
                    found.append(_decoder.decode(update.value))
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc
        finally:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await watcher.stop()  # type: ignore[no-untyped-call]
        return found

    async def ping(self) -> bool:
        try:
            await self._bucket.status()
        except (nats.errors.Error, TimeoutError):
            return False
        return True


def page(
    entries: Iterable[Entry],
    *,
    principal: str | None,
    since: float | None,
    until: float | None,
    limit: int,
    after: tuple[float, str] | None,
) -> tuple[list[Entry], tuple[float, str] | None]:
    """Newest first: ``principal`` (None: all), start within [since, until), after a cursor.
    Returns the page and the cursor of the next one (None at the end)."""
    chosen = sorted(
        (
            e
            for e in entries
            if (principal is None or e.principal == principal)
            and (since is None or e.started_at >= since)
            and (until is None or e.started_at < until)
            and (after is None or (e.started_at, e.session_id) < after)
        ),
        key=lambda e: (e.started_at, e.session_id),
        reverse=True,
    )
    selected = chosen[:limit]
    more = len(chosen) > limit
    return selected, ((selected[-1].started_at, selected[-1].session_id) if more else None)
