"""``NOVA_ENGINE=loopback``: every input audio chunk comes straight back, unchanged, at once.

For tests and for the transport benchmark: it measures the platform, not a model.
"""

from __future__ import annotations

from voice_proto import messages as m

from ..engine import Engine, EngineFactory, QueuedEngine, SessionSetup


class LoopbackEngine(QueuedEngine):
    async def push_audio(self, pcm: bytes) -> None:
        self.emit(m.AudioOut(turn_id=0, pcm=pcm, rate=m.INPUT_RATE))


class LoopbackFactory(EngineFactory):
    # Echo costs next to nothing: the bound is the worker's bus traffic, not CPU for speech.
    default_max_sessions = 200

    def create(self, setup: SessionSetup) -> Engine:
        return LoopbackEngine()
