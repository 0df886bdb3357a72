"""``NOVA_ENGINE=local``: the factory the worker makes once; it loads the models its sessions share."""

from __future__ import annotations

import asyncio
from typing import Any

from ...engine import Engine, EngineFactory, SessionSetup
from ...tools import default_tools
from .engine import LocalEngine
from .models import SpeechModels, load_models
from .settings import LocalEngineSettings


class LocalFactory(EngineFactory):
    # Measured with bench/turn_latency.py on 2 cores (services/nova/README.md): eight people
    # talking at once still hear the first answer audio about 0.6 s after they stop (median).
    default_max_sessions = 8

    def __init__(self, settings: Any) -> None:
        self._timezone: str = getattr(settings, "timezone", "UTC")
        self.settings = LocalEngineSettings()
        self._models: SpeechModels | None = None

    async def load(self) -> None:
        # Loading takes seconds of CPU; a thread keeps the loop free for the worker's start-up.
        self._models = await asyncio.to_thread(load_models, self.settings)

    def create(self, setup: SessionSetup) -> Engine:
        if self._models is None:
            raise RuntimeError("LocalFactory.load() must run before sessions are created")
        return LocalEngine(
            self._models, self.settings, setup, default_tools(self._timezone), timezone=self._timezone
        )

    async def aclose(self) -> None:
        if self._models is not None:
            self._models.close()
            self._models = None
