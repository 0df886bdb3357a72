"""The one small interface between the worker and a speech engine.

An engine takes the user's audio (PCM16LE mono 16 kHz), typed text and end-of-utterance hints, and
yields what the model produces as bus payloads without their sequence numbers: ``AudioOut``,
``Transcript`` and the out events (``Interrupted``, ``TurnStarted``, ``TurnEnded``, ``ToolCall``,
``Usage``, ``ErrorEvent``). The worker stamps sequence numbers and publishes.

Turns belong to the session's :class:`~voice_nova.turns.Turns` ledger (``SessionSetup.turns``),
not to the engine: an engine opens, interrupts and ends turns through it and uses the ids it hands
out (the user's utterance and the assistant's answer to it share one), and never numbers turns by
itself. The ledger's ids grow for the session's whole life, across workers; it also drops audio of
interrupted turns.

Engines are made by an :class:`EngineFactory`, created once per worker process with an
:class:`EngineContext`, which loads the models (or clients) that all of the worker's sessions
share. Factories are found by name among the ``voice_nova.engines`` entry points (the built-in
ones are declared in this package's pyproject.toml; any installed package may add its own), or
given as ``package.module:FactoryClass``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from voice_proto import messages as m

from .tools import ToolRegistry, default_tools
from .turns import Turns

#: The entry-point group that names engine factories (``NOVA_ENGINE=<name>``).
ENGINES_GROUP = "voice_nova.engines"

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


class SpeechMarks:
    """When the user's speech last ended (``time.monotonic()``), as the engine knows it.

    The optional hook through which an engine that hears speech end (the offline endpointer, Nova
    Sonic's microphone level) tells the turn observer, which times the answer's first audio from
    it. Engines that never set it are timed from the client's end of utterance or typed text.
    """

    __slots__ = ("speech_ended_at",)

    def __init__(self) -> None:
        self.speech_ended_at = 0.0

    def speech_ended(self, at: float) -> None:
        self.speech_ended_at = at


@dataclass(frozen=True)
class SessionSetup:
    """What an engine knows about the session it serves."""

    session_id: str
    principal: str
    #: The conversation so far, when the session moves here from another worker.
    history: list[m.HistoryTurn] = field(default_factory=list)
    #: Speak first when the session opens (off on handover).
    greet: bool = True
    #: The previous worker cut the last answer short on shutdown: answer the user's last words in
    #: ``history`` again (a trailing assistant entry there is that partial answer).
    answer_again: bool = False
    #: The session's turn ledger (ids continue from ``SessionStart.next_turn_id``).
    turns: Turns = field(default_factory=Turns)
    #: False when the user opted out of recording (said on the session's lifecycle).
    recorded: bool = True
    #: Where the engine reports the end of the user's speech (see :class:`SpeechMarks`).
    marks: SpeechMarks = field(default_factory=SpeechMarks)


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
    """Base for engines that produce events from their own tasks: ``emit`` queues, ``events`` drains.

    ``start``, ``push_text`` and ``end_of_utterance`` do nothing unless overridden (an engine that
    takes typed text or the client's end of utterance says so in its factory's capabilities).
    ``turns`` is the session's ledger; its events go out through ``emit``, in order with the rest.
    """

    _CLOSED: Any = object()

    def __init__(self, turns: Turns | None = None) -> None:
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False
        self.turns = turns if turns is not None else Turns()
        self.turns.bind(self.emit)

    async def start(self) -> None:
        pass

    async def push_text(self, text: str) -> None:
        pass

    async def end_of_utterance(self) -> None:
        pass

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


@dataclass(frozen=True)
class EngineContext:
    """What the worker gives every engine factory, built once per worker process."""

    #: The tools a model may call; one registry, shared by every session of the worker.
    tools: ToolRegistry
    #: Time zone (IANA name) of answers about the date and time when the caller names none.
    timezone: str = "UTC"

    @classmethod
    def with_default_tools(cls, timezone: str = "UTC") -> EngineContext:
        return cls(tools=default_tools(timezone), timezone=timezone)


class EngineFactory(ABC):
    """Makes the engine of each session. Its own settings, if any, it reads from the environment
    (``NOVA_<ENGINE>_*``); what the worker shares with it comes in the context."""

    #: How many concurrent sessions one worker process serves with this engine on 2 cores
    #: (the default of NOVA_MAX_SESSIONS).
    default_max_sessions: int = 8
    #: What the engines of this factory do beyond speech in and speech out (announced to the edge
    #: in every claim). None unless declared.
    capabilities: frozenset[m.Capability] = frozenset()
    #: Hz of the PCM16LE speech its engines send: the ``rate`` of every ``AudioOut`` they emit,
    #: announced to the edge in every claim and told to the client (its ``session`` event's
    #: ``outputRate``). An engine that speaks at another rate declares it here, never resamples
    #: for the client's sake.
    output_rate: int = m.OUTPUT_RATE
    #: The name it was found by (``NOVA_ENGINE``): the ``engine`` label of the turn metrics.
    name: str = ""
    #: The model one stream answers with (``gen_ai.request.model`` of the turn's model span), for
    #: speech-to-speech engines; empty for a pipeline (speech-to-text, responder, synthesis).
    model: str = ""

    def __init__(self, context: EngineContext) -> None:
        self.context = context

    async def load(self) -> None:  # noqa: B027 - optional hook
        """Load models or clients once per process, before the first session."""

    @abstractmethod
    def create(self, setup: SessionSetup) -> Engine: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`load` took."""


class UnknownEngine(ValueError):
    pass


def engine_names() -> list[str]:
    """The engines installed under the ``voice_nova.engines`` entry points."""
    return sorted(entry.name for entry in entry_points(group=ENGINES_GROUP))


def engine_factory(spec: str, context: EngineContext) -> EngineFactory:
    """The factory for NOVA_ENGINE: an entry-point name (``local``, ``bedrock``, ``loopback``, or
    one an installed package declares) or ``package.module:FactoryClass``. Raises UnknownEngine."""
    installed = entry_points(group=ENGINES_GROUP)
    if spec in installed.names:
        entry = installed[spec]
    elif ":" in spec:
        entry = EntryPoint(name=spec, value=spec, group=ENGINES_GROUP)
    else:
        raise UnknownEngine(f"unknown engine {spec!r}: use one of {engine_names()} or module:Class")
    try:
        factory_class = entry.load()
    except (ImportError, AttributeError) as exc:
        raise UnknownEngine(f"cannot load engine {spec!r}: {exc}") from exc
    if not (isinstance(factory_class, type) and issubclass(factory_class, EngineFactory)):
        raise UnknownEngine(f"{entry.value} is not an EngineFactory")
    factory: EngineFactory = factory_class(context)
    factory.name = spec
    return factory
