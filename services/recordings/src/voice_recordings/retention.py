"""Deleting recordings: one on request (with its transcript, from the web app), and every recording
older than the retention, periodically, by every replica (deleting what is gone is harmless). The
retention is the transcripts' (set both to the same number of days)."""

from __future__ import annotations

import asyncio
import time

import structlog

from .catalogue import Catalogue, Entry
from .store import RecordingStore, StorageError

log = structlog.get_logger("voice_recordings.retention")


async def delete_recording(store: RecordingStore, catalogue: Catalogue, entry: Entry) -> None:
    """The objects first, then the entry: a failure halfway leaves the entry, and the next try
    deletes it all."""
    await store.delete(entry.key)
    await store.delete(entry.index_key)
    await catalogue.delete(entry.session_id)


async def sweep(store: RecordingStore, catalogue: Catalogue, *, days: float) -> int:
    cutoff = time.time() - days * 86_400
    old = [entry for entry in await catalogue.entries() if entry.started_at < cutoff]
    for entry in old:
        await delete_recording(store, catalogue, entry)
    if old:
        log.info("old recordings deleted", recordings=len(old), older_than_days=days)
    return len(old)


async def run_retention(store: RecordingStore, catalogue: Catalogue, *, days: float, interval: float) -> None:
    while True:
        try:
            await sweep(store, catalogue, days=days)
        except StorageError as exc:
            log.warning("retention sweep failed; next time", error=str(exc))
        await asyncio.sleep(interval)
