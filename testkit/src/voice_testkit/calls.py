"""Calls through a fault, and what the fault cost them: callers (voice_testkit.callers) stream and
type through the edge with the loopback engine (every frame echoes, every typed line comes back as
one turn: the user's final transcript and the assistant's), a fault is injected mid-call, and the
figures are counted, including what the transcripts service stored.

For the bus fault tests (tests/test_faults.py) and benchmark (bench/bus_faults.py)::

    start_call_services(stack)                 # auth, worker(s), edge, transcripts
    figures = await through_fault(stack, inject, before=2, after=4)

``through_fault`` opens the calls, lets them run ``before`` seconds, awaits ``inject()`` (the
fault, and the recovery if the caller makes one), lets them run ``after`` seconds more, stops
them and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .callers import Caller, stop_all
from .stack import API_KEYS, Stack


@dataclass
class StoredFigures:
    """The typed lines' transcripts as the transcripts service stored them (two per line)."""

    expected: int
    stored: int
    duplicated: int
    #: Turn ids given to two different typed lines of one session, as stored.
    turn_ids_reused: int


@dataclass
class Figures:
    sessions: int
    #: How the sessions the system closed were closed (code, reason).
    closed: list[tuple[int | None, str]]
    #: Per session: the longest time without an echoed frame from the fault on (seconds).
    audio_gaps: list[float]
    #: Sessions with an echoed frame after the fault was over.
    audio_back: int
    frames_sent: int
    frames_lost: int
    texts_sent: int
    typed_turns_lost: int
    #: Sessions where the client saw one turn id on two typed lines.
    turn_ids_reused: int
    stored: StoredFigures

    @property
    def gap_p50(self) -> float:
        return statistics.median(self.audio_gaps) if self.audio_gaps else float("nan")

    @property
    def gap_max(self) -> float:
        return max(self.audio_gaps, default=float("nan"))


def start_call_services(stack: Stack, *, workers: int = 1) -> None:
    """What the calls need, started side by side: auth, ``workers`` workers (``nova``, ``nova-2``,
    ...), an edge and the transcripts service."""
    stack.start_auth(wait=False)
    for index in range(workers):
        stack.start_worker("nova" if index == 0 else f"nova-{index + 1}", wait=False)
    stack.start_edge(wait=False)
    stack.start_transcripts(wait=False)
    stack.wait_ready()


async def through_fault(
    stack: Stack,
    inject: Callable[[], Awaitable[object]],
    *,
    sessions: int = 10,
    type_every: float = 2.0,
    before: float = 2.0,
    after: float = 4.0,
) -> Figures:
    """Calls through a fault: see the module docstring."""
    key = API_KEYS["alice"]
    callers = [
        await Caller.open(stack.ws_url(), key, index, type_every=type_every) for index in range(sessions)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.listen()) for c in callers] + [
        asyncio.create_task(c.talk(stop)) for c in callers
    ]
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(before)
        fault_at = loop.time()
        await inject()
        recovered_at = loop.time()
        await asyncio.sleep(after)
        for caller in callers:
            caller.typing = False
        for caller in callers:  # the last typed lines come back (bounded; what does not is lost)
            if caller.typed and caller.closed is None:
                with contextlib.suppress(AssertionError):
                    await caller.wait_heard(caller.typed[-1], timeout=5)
        stop.set()
        await asyncio.sleep(0.5)  # the last echoes
    finally:
        stop.set()
        await stop_all(tasks)
    for caller in callers:
        if caller.closed is None:
            with contextlib.suppress(Exception):
                await caller.client.end()
    return Figures(
        sessions=sessions,
        closed=[(c.closed.code, c.closed.reason) for c in callers if c.closed is not None],
        audio_gaps=[c.longest_silence(after=fault_at - 1.0) for c in callers],
        audio_back=sum(1 for c in callers if any(t > recovered_at for t in c.echoed.values())),
        frames_sent=sum(c.frames_sent for c in callers),
        frames_lost=sum(c.frames_lost() for c in callers),
        texts_sent=sum(len(c.typed) for c in callers),
        typed_turns_lost=sum(len(c.typed_lost()) for c in callers),
        turn_ids_reused=sum(1 for c in callers if len(set(c.user_turns)) != len(c.user_turns)),
        stored=await stored(stack.service_url("transcripts"), callers),
    )


async def stored(transcripts_url: str, callers: list[Caller], *, timeout: float = 20.0) -> StoredFigures:
    """Count the typed lines' transcripts in the transcripts service: each line should be there
    twice (the user's, the echo), once each. Waits up to ``timeout`` seconds for the count to
    reach what was typed (the service catches up from the stream)."""
    expected = 2 * sum(len(c.typed) for c in callers)
    headers = {"Authorization": f"ApiKey {API_KEYS['alice']}"}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=transcripts_url, headers=headers) as http:
        while True:
            rows: list[tuple[int, dict[str, Any]]] = []
            for caller in callers:
                response = await http.get(f"/api/sessions/{caller.client.session_id}")
                if response.status_code == 200:
                    rows += [(caller.index, turn) for turn in response.json()["turns"]]
            typed = [(i, turn) for i, turn in rows if f"caller{i}-turn" in turn["text"]]
            if len(typed) >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    copies = Counter((i, turn["role"], turn["text"]) for i, turn in typed)
    lines = {(i, turn["turnId"], turn["text"]) for i, turn in typed if turn["role"] == "user"}
    turns_of = Counter((i, turn_id) for i, turn_id, _text in lines)
    return StoredFigures(
        expected=expected,
        stored=len(copies),
        duplicated=sum(count - 1 for count in copies.values()),
        turn_ids_reused=sum(count - 1 for count in turns_of.values() if count > 1),
    )


def figures_row(fault: str, figures: Figures, load: str) -> str:
    """One row of the fault table (markdown, FIGURES_HEADER)."""
    s = figures.stored
    return (
        f"| {fault} | {figures.gap_p50:.2f} / {figures.gap_max:.2f} | "
        f"{figures.frames_lost}/{figures.frames_sent} | {figures.typed_turns_lost}/{figures.texts_sent} | "
        f"{s.stored}/{s.expected}/{s.duplicated} | {len(figures.closed)} | {load} |"
    )


FIGURES_HEADER = (
    "| fault | audio gap p50 / max (s) | frames lost/sent | typed turns lost/sent "
    "| transcripts stored/expected/duplicated | sessions closed | load average |\n"
    "|---|---|---|---|---|---|---|"
)
