"""``NOVA_ENGINE=local``: the factory the worker makes once; it loads the models its sessions share."""

from __future__ import annotations

import asyncio

from voice_proto import messages as m

from ...engine import Engine, EngineContext, EngineFactory, SessionSetup
from .engine import LocalEngine
from .models import SpeechModels, load_models
from .settings import LocalEngineSettings


class LocalFactory(EngineFactory):
    # Measured with bench/turn_latency.py on 2 cores (services/nova/README.md): eight people
    # talking at once still hear the first answer audio about 0.6 s after they stop (median).
    default_max_sessions = 8
    capabilities = frozenset({m.Capability.TEXT_INPUT, m.Capability.CLIENT_ENDPOINTING, m.Capability.TOOLS})

    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        self.settings = LocalEngineSettings()
        self._models: SpeechModels | None = None

    async def load(self) -> None:
        # Loading takes seconds of CPU; a thread keeps the loop free for the worker's start-up.
        self._models = await asyncio.to_thread(load_models, self.settings)

    def create(self, setup: SessionSetup) -> Engine:
        if self._models is None:
            raise RuntimeError("LocalFactory.load() must run before sessions are created")
        return LocalEngine(
            self._models, self.settings, setup, self.context.tools, timezone=self.context.timezone
        )

    async def aclose(self) -> None:
        if self._models is not None:
            self._models.close()
            self._models = None
