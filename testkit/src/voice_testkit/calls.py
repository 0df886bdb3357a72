"""Calls in progress while something fails: sessions that stream 20 ms frames in real time and
type a line every few seconds through the edge, with the loopback engine (it echoes each frame
and answers each typed line with one turn), and what they got back.

For the fault tests (tests/test_faults.py) and the fault benchmark (bench/faults.py)::

    start_call_services(stack)                 # auth, worker(s), edge, transcripts
    figures = await through_fault(stack, inject, before=2, after=4)

which opens the calls, lets them run ``before`` seconds, awaits ``inject()`` (the fault, and the
recovery if the test makes one), lets them run ``after`` seconds more, ends them and counts what
the transcripts service stored.

Each frame carries its session and frame number, so a frame that did not come back is counted
exactly; each typed line is unique, so its two stored transcripts (the user's and the echo) are
counted exactly, and a duplicate shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .client import BINARY_PROTOCOL, Closed, VoiceClient
from .stack import API_KEYS, Stack

FRAME_SECONDS = 0.02
FRAME_BYTES = 640
_HEADER = struct.Struct("<II")  # session index, frame number


@dataclass
class Call:
    """One session of the load and what it saw."""

    index: int
    client: VoiceClient
    frames_sent: int = 0
    frames_back: set[int] = field(default_factory=set)
    #: Arrival times (time.monotonic) of echoed frames.
    arrivals: list[float] = field(default_factory=list)
    texts_sent: list[str] = field(default_factory=list)
    #: Typed lines whose echo (an assistant final transcript) arrived, with its turn id.
    answered: dict[str, int] = field(default_factory=dict)
    closed: Closed | None = None
    #: It closed while the load ran (not when the load ended it).
    dropped: bool = False

    @property
    def session_id(self) -> str:
        return self.client.session_id


@dataclass
class Figures:
    """What a load saw across a fault (``stored`` is filled from the transcripts service)."""

    sessions: int
    closed: list[tuple[int | None, str]]
    #: Per session: the longest time without an echoed frame from the fault on (seconds).
    audio_gaps: list[float]
    frames_sent: int
    frames_lost: int
    texts_sent: int
    typed_turns_lost: int
    #: Turn ids the client saw given to two different typed lines of one session.
    turn_ids_reused: int
    #: Sessions that had audio back after the fault (an echoed frame after mark_recovered).
    audio_back: int
    stored: StoredFigures | None = None

    @property
    def gap_p50(self) -> float:
        return statistics.median(self.audio_gaps) if self.audio_gaps else float("nan")

    @property
    def gap_max(self) -> float:
        return max(self.audio_gaps, default=float("nan"))


@dataclass
class StoredFigures:
    expected: int
    stored: int
    duplicated: int
    #: Turn ids shared by two different typed lines of one session, as stored.
    turn_ids_reused: int


class CallLoad:
    def __init__(self, calls: list[Call], *, type_every: float) -> None:
        self.calls = calls
        self.type_every = type_every
        self._tasks: list[asyncio.Task[None]] = []
        self._sending = True
        self._ending = False
        self._all_in = asyncio.Event()
        self.fault_at: float | None = None
        self.recovered_at: float | None = None

    @classmethod
    async def open(
        cls, ws_url: str, *, sessions: int = 10, type_every: float = 2.0, key: str = API_KEYS["alice"]
    ) -> CallLoad:
        clients = await asyncio.gather(
            *(VoiceClient.open(ws_url, key=key, protocol=BINARY_PROTOCOL) for _ in range(sessions))
        )
        return cls([Call(i, client) for i, client in enumerate(clients)], type_every=type_every)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.1
        count = len(self.calls)
        for call in self.calls:
            # Spread over a frame period and a typing period, as real callers are.
            offset = call.index / count
            self._tasks += [
                asyncio.create_task(self._stream(call, start + offset * FRAME_SECONDS)),
                asyncio.create_task(self._type(call, start + offset * self.type_every)),
                asyncio.create_task(self._listen(call)),
            ]

    def mark_fault(self) -> None:
        self.fault_at = time.monotonic()

    def mark_recovered(self) -> None:
        self.recovered_at = time.monotonic()

    async def _stream(self, call: Call, start: float) -> None:
        loop = asyncio.get_running_loop()
        padding = bytes(FRAME_BYTES - _HEADER.size)
        while self._sending and call.closed is None:
            delay = start + call.frames_sent * FRAME_SECONDS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await call.client.send_audio(_HEADER.pack(call.index, call.frames_sent) + padding)
            except Exception:  # the socket closed: the listener records how
                return
            call.frames_sent += 1

    async def _type(self, call: Call, start: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start - loop.time()))
        while self._sending and call.closed is None:
            text = f"session {call.index} line {len(call.texts_sent)}"
            try:
                await call.client.send_text(text)
            except Exception:
                return
            call.texts_sent.append(text)
            await asyncio.sleep(self.type_every)

    async def _listen(self, call: Call) -> None:
        while True:
            try:
                event = await call.client.recv(timeout=3600)
            except Closed as closed:
                call.closed = closed
                call.dropped = not self._ending
                return
            call.client.events.clear()  # only the figures are kept
            match event.get("event"):
                case "media":
                    index, number = _HEADER.unpack_from(event["pcm"])
                    if index == call.index:
                        call.frames_back.add(number)
                        call.arrivals.append(time.monotonic())
                case "transcript" if event.get("role") == "assistant" and event.get("stage") == "final":
                    call.answered.setdefault(event["text"], event["turnId"])
                    if not self._sending and self._all_answered():
                        self._all_in.set()

    async def finish(self, settle: float = 3.0) -> Figures:
        """Stop sending, wait up to ``settle`` seconds for what is still on its way, end each
        session; the figures."""
        self._sending = False
        if not self._all_answered():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_in.wait(), settle)
        await asyncio.sleep(0.3)  # the last echoed frames
        self._ending = True
        for call in self.calls:
            if call.closed is None:
                with contextlib.suppress(Exception):  # closed meanwhile; the listener said how
                    await call.client.end()
        await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.figures()

    def _all_answered(self) -> bool:
        return all(set(call.texts_sent) <= set(call.answered) for call in self.calls)

    def figures(self) -> Figures:
        fault_at = self.fault_at if self.fault_at is not None else 0.0
        recovered_at = self.recovered_at if self.recovered_at is not None else fault_at
        gaps = []
        for call in self.calls:
            times = [t for t in call.arrivals if t >= fault_at - 1.0]
            gaps.append(max((b - a for a, b in itertools.pairwise(times)), default=0.0))
        reused = 0
        for call in self.calls:
            by_turn = Counter(call.answered.values())
            reused += sum(count - 1 for count in by_turn.values() if count > 1)
        return Figures(
            sessions=len(self.calls),
            closed=[
                (c.closed.code, c.closed.reason) for c in self.calls if c.closed is not None and c.dropped
            ],
            audio_gaps=gaps,
            frames_sent=sum(c.frames_sent for c in self.calls),
            frames_lost=sum(c.frames_sent - len(c.frames_back) for c in self.calls),
            texts_sent=sum(len(c.texts_sent) for c in self.calls),
            typed_turns_lost=sum(len(set(c.texts_sent) - set(c.answered)) for c in self.calls),
            turn_ids_reused=reused,
            audio_back=sum(1 for c in self.calls if any(t > recovered_at for t in c.arrivals)),
        )

    async def stored(self, transcripts_url: str, *, timeout: float = 20.0) -> StoredFigures:
        """Count the typed lines' transcripts as the transcripts service stored them: each line
        should be there twice (the user's, the echo), once each. Waits up to ``timeout`` seconds
        for the count to reach what was sent (the service catches up from the stream)."""
        expected = 2 * sum(len(c.texts_sent) for c in self.calls)
        headers = {"Authorization": f"ApiKey {API_KEYS['alice']}"}
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=transcripts_url, headers=headers) as http:
            while True:
                rows: list[tuple[int, dict[str, Any]]] = []
                for call in self.calls:
                    response = await http.get(f"/api/sessions/{call.session_id}")
                    if response.status_code == 200:
                        rows += [(call.index, turn) for turn in response.json()["turns"]]
                typed = [(index, turn) for index, turn in rows if turn["text"].startswith("session ")]
                if len(typed) >= expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        copies = Counter((index, turn["role"], turn["text"]) for index, turn in typed)
        lines = {(index, turn["turnId"], turn["text"]) for index, turn in typed if turn["role"] == "user"}
        turns_of = Counter((index, turn_id) for index, turn_id, _text in lines)
        return StoredFigures(
            expected=expected,
            stored=len(copies),
            duplicated=sum(count - 1 for count in copies.values()),
            turn_ids_reused=sum(count - 1 for count in turns_of.values() if count > 1),
        )


def start_call_services(stack: Stack, *, workers: int = 1) -> None:
    """What a load needs, started side by side: auth, ``workers`` workers (``nova``, ``nova-2``,
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
    before: float = 2.0,
    after: float = 4.0,
) -> Figures:
    """Calls through a fault: see the module docstring."""
    calls = await CallLoad.open(stack.ws_url(), sessions=sessions)
    calls.start()
    await asyncio.sleep(before)
    calls.mark_fault()
    await inject()
    calls.mark_recovered()
    await asyncio.sleep(after)
    figures = await calls.finish()
    figures.stored = await calls.stored(stack.service_url("transcripts"))
    return figures


def figures_row(fault: str, figures: Figures, load: str) -> str:
    """One row of the fault table (markdown)."""
    stored = figures.stored
    stored_cells = f"{stored.stored}/{stored.expected}/{stored.duplicated}" if stored is not None else "-"
    return (
        f"| {fault} | {figures.gap_p50:.2f} / {figures.gap_max:.2f} | "
        f"{figures.frames_lost}/{figures.frames_sent} | {figures.typed_turns_lost}/{figures.texts_sent} | "
        f"{stored_cells} | {len(figures.closed)} | {load} |"
    )


FIGURES_HEADER = (
    "| fault | audio gap p50 / max (s) | frames lost/sent | typed turns lost/sent "
    "| transcripts stored/expected/duplicated | sessions closed | load average |\n"
    "|---|---|---|---|---|---|---|"
)
