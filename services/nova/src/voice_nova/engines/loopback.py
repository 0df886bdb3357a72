"""``NOVA_ENGINE=loopback``: every input audio chunk comes straight back, unchanged, at once, and
each typed text comes back as one turn: the user's text and the same text as the assistant's
answer, both final transcripts.

For tests and for the transport benchmark: it measures the platform, not a model. The typed turn
makes transcript loss countable with the cheapest engine (every text sent gives two stored rows).
"""

from __future__ import annotations

import time

from voice_proto import messages as m

from ..engine import Engine, EngineFactory, QueuedEngine, SessionSetup


class LoopbackEngine(QueuedEngine):
    def __init__(self, *, first_turn: int = 0) -> None:
        super().__init__()
        self._turn = first_turn

    async def push_audio(self, pcm: bytes) -> None:
        self.emit(m.AudioOut(turn_id=0, pcm=pcm, rate=m.INPUT_RATE))

    async def push_text(self, text: str) -> None:
        self._turn += 1
        turn = self._turn
        for role in (m.Role.USER, m.Role.ASSISTANT):
            self.emit(m.TurnStarted(turn_id=turn, role=role))
            self.emit(m.Transcript(turn_id=turn, role=role, text=text, stage=m.Stage.FINAL))
            self.emit(m.TurnEnded(turn_id=turn, role=role))


class LoopbackFactory(EngineFactory):
    # Echo costs next to nothing: the bound is the worker's bus traffic, not CPU for speech.
    default_max_sessions = 200
    capabilities = frozenset({m.Capability.TEXT_INPUT})

    def create(self, setup: SessionSetup) -> Engine:
        # A session moved here goes on after the turns it had elsewhere: ids from the clock,
        # above any the last worker gave (as the offline engine does until the worker keeps a
        # turn ledger).
        moved = bool(setup.history) or not setup.greet
        return LoopbackEngine(first_turn=int(time.time() * 1000) if moved else 0)
