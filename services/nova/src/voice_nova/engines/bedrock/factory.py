"""The factory the worker makes once: settings and the shared client (the tools come in the
worker's context)."""

from __future__ import annotations

import asyncio

import structlog
from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
from voice_proto import messages as m

from ...engine import Engine, EngineContext, EngineFactory, SessionSetup
from .client import bedrock_client, quiet_finished_stream_errors
from .engine import BedrockEngine
from .settings import BedrockSettings

log = structlog.get_logger("voice_nova.bedrock")


class BedrockFactory(EngineFactory):
    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        self.settings = BedrockSettings()
        # The Bedrock quota (concurrent streams per account), not CPU, bounds a worker.
        self.default_max_sessions = self.settings.max_sessions
        # Nova decides the end of a turn itself (client end-of-utterance is not a capability), and
        # only Nova 2 takes typed text.
        self.capabilities = frozenset(
            {m.Capability.TOOLS, *([m.Capability.TEXT_INPUT] if self.settings.is_nova_2 else [])}
        )
        self.model = self.settings.model_id
        self._client: AsyncBedrockRuntimeClient | None = None

    async def load(self) -> None:
        quiet_finished_stream_errors(asyncio.get_running_loop())
        self._client = await bedrock_client(self.settings)
        log.info(
            "bedrock engine ready",
            model_id=self.settings.model_id,
            region=self.settings.region or "from the AWS environment",
            voice=self.settings.voice,
            rotate_after=self.settings.rotate_after,
        )

    def create(self, setup: SessionSetup) -> Engine:
        if self._client is None:
            raise RuntimeError("BedrockFactory.load() was not awaited")
        return BedrockEngine(self._client, self.settings, self.context.tools, setup)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
