"""The bus side: reads VOICE_AUDIO (both audio directions, the worker's events) and VOICE_RECORDS
(transcripts, lifecycle) into one :class:`Timeline` per session, and stores each session's
recording when it ends.

A session is finished when its lifecycle says ``ended`` and nothing more came for ``settle``
seconds (the two streams are read independently, so the last audio may come after the end), or
when nothing at all came for ``idle_timeout`` seconds (an end that never came). Then, off the event
loop: render, encode, store the audio and the index, write the catalogue entry, and only then
acknowledge the session's messages (voice_proto.streams' two streams, through :class:`SessionFeed`).
A session that was not authorised (no lifecycle ``started``), that opted out, or that has no audio
is dropped without a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import nats.errors
import structlog
from nats.aio.msg import Msg
from opentelemetry import metrics
from voice_proto import Bus, ProtoDecodeError
from voice_proto import messages as m
from voice_proto.channels import IN_AUDIO, OUT_AUDIO, OUT_EVENT
from voice_proto.streams import AUDIO_STREAM, RECORDS_STREAM, decode_record
from voice_proto.telemetry import counter
from voice_proto.telemetry_names import Metrics

from .catalogue import Catalogue, Entry
from .encode import CONTENT_TYPE, encode_ogg_opus
from .feed import SessionFeed
from .store import RecordingStore, StorageError, object_key
from .timeline import Timeline

log = structlog.get_logger("voice_recordings.recorder")
_meter = metrics.get_meter("voice_recordings")
_stored = counter(_meter, Metrics.RECORDINGS_STORED)
_seconds = counter(_meter, Metrics.RECORDINGS_AUDIO_SECONDS)
_dropped = counter(_meter, Metrics.RECORDINGS_DROPPED)


@dataclass(frozen=True)
class RecorderConfig:
    durable: str
    prefix: str
    bitrate: int
    #: Renders and encodes at once, at most (each takes a core while it runs).
    encode_concurrency: int
    settle: float
    idle_timeout: float
    ack_wait: float
    max_ack_pending: int
    #: How far back a records consumer created for the first time starts (the audio stream's age).
    records_lookback: float
    batch_size: int = 500
    #: Seconds to let messages gather after a batch that was not full: a recording is not live, and
    #: a fetch per few messages (a pull request each) costs the recorder and NATS far more CPU.
    gather: float = 0.25


@dataclass
class _Open:
    timeline: Timeline
    #: Local monotonic time of its last message.
    touched: float
    #: Do not try to store before this (monotonic): a storage failure waits a little.
    retry_at: float = 0.0


class Recorder:
    def __init__(
        self,
        bus: Bus,
        store: RecordingStore,
        catalogue: Catalogue,
        config: RecorderConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._store = store
        self._catalogue = catalogue
        self._config = config
        self._clock = clock
        self._sessions: dict[str, _Open] = {}
        #: Sessions stored or dropped lately: what still comes for them is not held.
        self._done: dict[str, float] = {}
        self._slots = asyncio.Semaphore(config.encode_concurrency)
        self._stopping = asyncio.Event()
        self._audio: SessionFeed | None = None
        self._records: SessionFeed | None = None
        self.stored = 0
        self.store_ok = True

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        nc = self._bus.nc
        config = self._config
        self._audio = SessionFeed(
            nc, AUDIO_STREAM, config.durable, ack_wait=config.ack_wait, max_ack_pending=config.max_ack_pending
        )
        self._records = SessionFeed(
            nc,
            RECORDS_STREAM,
            config.durable,
            ack_wait=config.ack_wait,
            max_ack_pending=config.max_ack_pending,
            new_from=timedelta(seconds=config.records_lookback),
        )
        await self._audio.start()
        await self._records.start()

    async def run(self) -> None:
        assert self._audio is not None, "Recorder.start() was not awaited"
        assert self._records is not None
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._read(self._audio, self._apply_audio))
            tasks.create_task(self._read(self._records, self._apply_record))
            tasks.create_task(self._finish_loop())

    async def stop(self) -> None:
        """Stop reading; a recording being stored is finished first. Open sessions stay
        unacknowledged: the next recorder reads them again from their start."""
        self._stopping.set()

    # --- reading -------------------------------------------------------------------------------

    async def _read(self, feed: SessionFeed, apply: Callable[[Msg], str | None]) -> None:
        while not self._stopping.is_set():
            try:
                msgs = await feed.fetch(self._config.batch_size, timeout=0.5)
            except nats.errors.Error as exc:
                log.warning("fetch failed", stream=feed.stream, error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:  # no await in here: the floor must not move past a message not held
                session_id = apply(msg)
                if session_id is None:
                    continue
                if session_id in self._done:
                    continue
                feed.hold(session_id, msg)
            if not msgs:
                await feed.settle()
            elif len(msgs) < self._config.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._config.gather)
        await feed.close()

    def _open(self, session_id: str) -> Timeline | None:
        if session_id in self._done:
            return None
        entry = self._sessions.get(session_id)
        if entry is None:
            entry = _Open(Timeline(session_id), self._clock())
            self._sessions[session_id] = entry
        entry.touched = self._clock()
        return entry.timeline

    def _apply_audio(self, msg: Msg) -> str | None:
        at = msg.metadata.timestamp.timestamp()
        try:
            for channel in (IN_AUDIO, OUT_AUDIO, OUT_EVENT):
                session_id = channel.session_of(msg.subject)
                if session_id is None:
                    continue
                if channel is OUT_EVENT:
                    event = OUT_EVENT.decode(msg.data, msg.subject)
                    if isinstance(event, m.Heartbeat | m.Usage):
                        # Nothing to record: held only with a session already open (a heartbeat
                        # alone must not open one, nor hold back the acknowledgements).
                        return session_id if session_id in self._sessions else None
                    timeline = self._open(session_id)
                    if timeline is not None:
                        timeline.event(at, event)
                elif channel is IN_AUDIO:
                    frame = IN_AUDIO.decode(msg.data, msg.subject)
                    timeline = self._open(session_id)
                    if timeline is not None:
                        timeline.user_audio(at, frame)
                else:
                    chunk = OUT_AUDIO.decode(msg.data, msg.subject)
                    timeline = self._open(session_id)
                    if timeline is not None:
                        timeline.assistant_audio(at, chunk)
                return session_id
        except ProtoDecodeError as exc:
            log.warning("audio stream message dropped: it does not decode", error=exc.reason)
        return None

    def _apply_record(self, msg: Msg) -> str | None:
        try:
            record = decode_record(msg)
        except ProtoDecodeError as exc:
            log.warning("record dropped: it does not decode", error=exc.reason)
            return None
        timeline = self._open(record.session_id)
        if timeline is not None:
            if isinstance(record.message, m.Lifecycle):
                timeline.lifecycle(record.stored_at.timestamp(), record.message)
            else:
                timeline.transcript(record.message)
        return record.session_id

    # --- finishing -----------------------------------------------------------------------------

    async def _finish_loop(self) -> None:
        while not self._stopping.is_set():
            now = self._clock()
            for session_id, entry in list(self._sessions.items()):
                timeline = entry.timeline
                ended = timeline.ended_at is not None and now - entry.touched >= self._config.settle
                idle = now - entry.touched >= self._config.idle_timeout
                if (ended or idle) and now >= entry.retry_at:
                    await self._finish(session_id, entry)
            for session_id, at in list(self._done.items()):
                if now - at > 2 * self._config.idle_timeout:
                    del self._done[session_id]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.25)

    async def _finish(self, session_id: str, entry: _Open) -> None:
        timeline = entry.timeline
        reason = _drop_reason(timeline)
        if reason is None:
            try:
                await self._keep(timeline)
                self.store_ok = True
            except StorageError as exc:
                self.store_ok = False
                entry.retry_at = self._clock() + 2.0
                log.error("cannot store a recording; trying again", session_id=session_id, error=str(exc))
                return
        else:
            _dropped.add(1, {"reason": reason})
            log.info("session not recorded", session_id=session_id, reason=reason)
        del self._sessions[session_id]
        self._done[session_id] = self._clock()
        assert self._audio is not None
        assert self._records is not None
        await self._audio.release(session_id)
        await self._records.release(session_id)

    async def _keep(self, timeline: Timeline) -> None:
        session_id = timeline.session_id
        if await self._catalogue.get(session_id) is not None:
            log.info("recording already stored", session_id=session_id)
            return
        started_at = timeline.started_at or timeline.origin or time.time()
        config = self._config
        async with self._slots:
            started = time.process_time()
            ogg = await asyncio.to_thread(lambda: encode_ogg_opus(timeline.render(), bitrate=config.bitrate))
        index = timeline.index()
        key = object_key(config.prefix, started_at, timeline.principal, session_id, ".ogg")
        index_key = object_key(config.prefix, started_at, timeline.principal, session_id, ".json")
        duration = timeline.duration()
        document = {
            "sessionId": session_id,
            "principal": timeline.principal,
            "duration": duration,
            "turns": index,
        }
        await self._store.put(key, ogg, CONTENT_TYPE)
        await self._store.put(index_key, json.dumps(document).encode(), "application/json")
        origin = timeline.origin or started_at
        await self._catalogue.put(
            Entry(
                session_id=session_id,
                principal=timeline.principal,
                started_at=started_at,
                ended_at=timeline.ended_at or origin + duration,
                duration=round(duration, 3),
                key=key,
                index_key=index_key,
                storage=self._store.name,
                size=len(ogg),
                content_type=CONTENT_TYPE,
                turns=index,
            )
        )
        self.stored += 1
        _stored.add(1, {"storage": self._store.name})
        _seconds.add(duration)
        log.info(
            "recording stored",
            session_id=session_id,
            key=key,
            seconds=round(duration, 1),
            bytes=len(ogg),
            turns=len(index),
            cpu_seconds=round(time.process_time() - started, 3),
        )


def _drop_reason(timeline: Timeline) -> str | None:
    if not timeline.authorised:
        return "unauthorised"
    if not timeline.recorded:
        return "opted_out"
    if not timeline.has_audio:
        return "no_audio"
    return None
