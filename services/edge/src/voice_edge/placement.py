"""Finding a worker to own a session: ask the queue group until one claims it or time runs out."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from voice_proto import Bus, BusError, NoResponders, RequestTimeout, channels
from voice_proto import messages as m

from .clock import SYSTEM_CLOCK, Clock

log = structlog.get_logger("voice_edge.placement")

_RETRY_DELAY = 0.2


async def place_session(
    bus: Bus, start: m.SessionStart, *, timeout: float, clock: Clock = SYSTEM_CLOCK
) -> m.SessionClaim | None:
    """The accepted claim, or None when no worker took the session within ``timeout`` seconds.

    No responders (every worker full or none running) and refusals are retried: a full worker has
    left the queue group, so the next request reaches another one. A request that times out is not
    retried, because a slow worker may still claim it; instead the session is hung up so that such
    a late claim ends at once. The same when the caller is cancelled while it waits.
    """
    deadline = clock.monotonic() + timeout
    while (remaining := deadline - clock.monotonic()) > 0:
        try:
            claim: m.SessionClaim = await bus.request(channels.SESSIONS_START, start, timeout=remaining)
        except NoResponders:
            await clock.sleep(min(_RETRY_DELAY, max(0.0, deadline - clock.monotonic())))
            continue
        except RequestTimeout:
            await _hang_up(bus, start)
            break
        except asyncio.CancelledError:
            await _hang_up(bus, start)
            raise
        if claim.accepted:
            return claim
        log.info("worker refused the session", session_id=start.session_id, reason=claim.reason)
        await clock.sleep(min(_RETRY_DELAY, max(0.0, deadline - clock.monotonic())))
    return None


async def _hang_up(bus: Bus, start: m.SessionStart) -> None:
    """End the session on whichever worker claims it late (the claim nobody will read)."""
    control = m.Control(kind=m.ControlKind.HANGUP, reason=m.EndReason.ABANDONED)
    with contextlib.suppress(BusError, OSError):
        await bus.publish(channels.IN_CONTROL, control, session_id=start.session_id)
