"""``NOVA_ENGINE=loopback``: every input audio chunk comes straight back, unchanged, at once, and
each typed text comes back as one turn: the user's text and the same text as the assistant's
answer, both final transcripts.

For tests and for the transport benchmark: it measures the platform, not a model. The typed turn
makes transcript loss countable with the cheapest engine (every text sent gives two stored rows).
"""

from __future__ import annotations

from voice_proto import messages as m

from ..engine import Engine, EngineFactory, QueuedEngine, SessionSetup


class LoopbackEngine(QueuedEngine):
    """Turn ids of the echo turns come from the session's ledger (``QueuedEngine.turns``). The
    echo is the input, byte for byte, so it plays at the input's rate (``LoopbackFactory.output_rate``)."""

    async def push_audio(self, pcm: bytes) -> None:
        self.emit(m.AudioOut(turn_id=0, pcm=pcm, rate=LoopbackFactory.output_rate))

    async def push_text(self, text: str) -> None:
        turn = self.turns.open(m.Role.USER)
        self.emit(m.Transcript(turn_id=turn, role=m.Role.USER, text=text, stage=m.Stage.FINAL))
        self.turns.end(turn, m.Role.USER)
        self.turns.assistant_speaks(turn)
        self.turns.final(turn, text)
        self.turns.end(turn, m.Role.ASSISTANT)


class LoopbackFactory(EngineFactory):
    # Echo costs next to nothing: the bound is the worker's bus traffic, not CPU for speech.
    default_max_sessions = 200
    capabilities = frozenset({m.Capability.TEXT_INPUT})
    # The echo is the microphone's audio unchanged (tests and benches read frame numbers in it).
    output_rate = m.INPUT_RATE

    def create(self, setup: SessionSetup) -> Engine:
        return LoopbackEngine(setup.turns)
