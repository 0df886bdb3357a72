"""The one small interface between the worker and a speech engine.

An engine takes the user's audio (PCM16LE mono 16 kHz), typed text and end-of-utterance hints, and
yields what the model produces as bus payloads without their sequence numbers: ``AudioOut``,
``Transcript`` and the out events (``Interrupted``, ``TurnStarted``, ``TurnEnded``, ``ToolCall``,
``Usage``, ``ErrorEvent``). The worker stamps sequence numbers, drops audio of interrupted turns,
and publishes.

Turn ids: the user's utterance and the assistant's answer to it share one turn id; ids grow.

Engines are made by an :class:`EngineFactory`, created once per worker process, which loads the
models (or clients) that all of the worker's sessions share.
"""

from __future__ import annotations

import asyncio
import importlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voice_proto import messages as m

type EngineEvent = (
    m.AudioOut
    | m.Transcript
    | m.Interrupted
    | m.TurnStarted
    | m.TurnEnded
    | m.ToolCall
    | m.Usage
    | m.ErrorEvent
)


@dataclass(frozen=True)
class SessionSetup:
    """What an engine knows about the session it serves."""

    session_id: str
    principal: str
    #: The conversation so far, when the session moves here from another worker.
    history: list[m.HistoryTurn] = field(default_factory=list)
    #: Speak first when the session opens (off on handover).
    greet: bool = True


class Engine(ABC):
    """One session's speech engine. Events end (the iterator stops) after :meth:`close`."""

    @abstractmethod
    async def start(self) -> None:
        """Open the model stream; raise to refuse the session."""

    @abstractmethod
    async def push_audio(self, pcm: bytes) -> None:
        """Microphone audio, in real time; must not block the caller for long."""

    @abstractmethod
    async def push_text(self, text: str) -> None: ...

    @abstractmethod
    async def end_of_utterance(self) -> None:
        """The client says the user finished speaking: end the turn now."""

    @abstractmethod
    def events(self) -> AsyncIterator[EngineEvent]: ...

    @abstractmethod
    async def close(self) -> None: ...


class QueuedEngine(Engine):
    """Base for engines that produce events from their own tasks: ``emit`` queues, ``events`` drains."""

    _CLOSED: Any = object()

    def __init__(self) -> None:
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False

    def emit(self, event: EngineEvent) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._events.get()
            if event is self._CLOSED:
                return
            yield event

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._events.put_nowait(self._CLOSED)


class EngineFactory(ABC):
    #: How many concurrent sessions one worker process serves with this engine on 2 cores
    #: (the default of NOVA_MAX_SESSIONS).
    default_max_sessions: int = 8

    async def load(self) -> None:  # noqa: B027 - optional hook
        """Load models or clients once per process, before the first session."""

    @abstractmethod
    def create(self, setup: SessionSetup) -> Engine: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`load` took."""


#: Built-in engines by name; anything else is taken as ``package.module:FactoryClass``.
BUILTIN_ENGINES = {
    "loopback": "voice_nova.engines.loopback:LoopbackFactory",
    "bedrock": "voice_nova.engines.bedrock.factory:BedrockFactory",
    "local": "voice_nova.engines.local.factory:LocalFactory",
}


class UnknownEngine(ValueError):
    pass


def engine_factory(spec: str, settings: Any) -> EngineFactory:
    """The factory for NOVA_ENGINE; it receives the worker's settings."""
    target = BUILTIN_ENGINES.get(spec, spec)
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise UnknownEngine(f"unknown engine {spec!r}: use one of {sorted(BUILTIN_ENGINES)} or module:Class")
    try:
        factory_class = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownEngine(f"cannot load engine {spec!r}: {exc}") from exc
    factory = factory_class(settings)
    if not isinstance(factory, EngineFactory):
        raise UnknownEngine(f"{target} is not an EngineFactory")
    return factory
