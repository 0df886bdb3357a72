"""Retention: sessions that started longer ago than the configured number of days are deleted,
periodically, by every replica (deleting what is already gone is harmless)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from .store import Store

log = structlog.get_logger("voice_transcripts.retention")


async def sweep(store: Store, *, days: float, stream_max_age_days: float) -> int:
    now = datetime.now(UTC)
    removed = await store.purge(
        started_before=now - timedelta(days=days),
        forget_deletions_before=now - timedelta(days=stream_max_age_days + 1),
    )
    if removed:
        log.info("old sessions deleted", sessions=removed, older_than_days=days)
    return removed


async def run_retention(store: Store, *, days: float, interval: float, stream_max_age_days: float) -> None:
    while True:
        try:
            await sweep(store, days=days, stream_max_age_days=stream_max_age_days)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("retention sweep failed; next time", error=str(exc))
        await asyncio.sleep(interval)
