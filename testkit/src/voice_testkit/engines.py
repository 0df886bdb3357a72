"""A scripted speech engine for tests of turn flow and interruption.

Use it with NOVA_ENGINE=scripted (an entry point of this package). It obeys typed text:
- ``speak <n>``: one assistant turn of ``n`` 20 ms chunks, paced in real time; each chunk starts
  with its turn id, its index and a late flag (three little-endian uint16) so a test can tell
  whose audio it hears;
- ``interrupt`` (or any audio while it speaks): reports the interruption, then, like a model whose
  audio was already on the way, still emits three chunks of that turn (flagged late), which must
  never reach a client;
- ``user <words>``: the user said ``<words>`` (a FINAL user transcript, as a model reports what it
  heard); the next ``speak`` answers in the same turn;
- ``fail``: a fatal error.
"""

from __future__ import annotations

import asyncio
import struct

from voice_nova.engine import Engine, EngineFactory, QueuedEngine, SessionSetup
from voice_proto import messages as m

CHUNK_BYTES = 960  # 20 ms at 24 kHz
LATE_CHUNKS = 3


def chunk(turn_id: int, index: int, *, late: bool = False) -> bytes:
    return struct.pack("<HHH", turn_id, index, late) + bytes(CHUNK_BYTES - 6)


def chunk_turn(pcm: bytes) -> int:
    turn_id: int = struct.unpack_from("<H", pcm)[0]
    return turn_id


def chunk_is_late(pcm: bytes) -> bool:
    """True for audio the engine produced after it reported the interruption of its turn."""
    return bool(struct.unpack_from("<H", pcm, 4)[0])


class ScriptedEngine(QueuedEngine):
    def __init__(self) -> None:
        super().__init__()
        self._turn = 0
        self._user_turn: int | None = None
        self._speaking: asyncio.Task[None] | None = None
        self._cut = asyncio.Event()

    async def push_audio(self, pcm: bytes) -> None:
        if self._speaking is not None and not self._speaking.done():
            self._cut.set()

    async def push_text(self, text: str) -> None:
        command, _, argument = text.partition(" ")
        if command == "speak":
            turn, self._user_turn = self._user_turn, None
            if turn is None:
                self._turn += 1
                turn = self._turn
            self._cut = asyncio.Event()
            self._speaking = asyncio.create_task(self._speak(turn, int(argument or "50")))
        elif command == "user":
            self._turn += 1
            self._user_turn = self._turn
            self.emit(m.Transcript(turn_id=self._turn, role=m.Role.USER, text=argument, stage=m.Stage.FINAL))
        elif command == "interrupt":
            self._cut.set()
        elif command == "fail":
            self.emit(m.ErrorEvent(code="scripted_failure", message="asked to fail", fatal=True))

    async def _speak(self, turn_id: int, chunks: int) -> None:
        self.emit(m.TurnStarted(turn_id=turn_id, role=m.Role.ASSISTANT))
        said = f"turn {turn_id} with {chunks} chunks"
        self.emit(m.Transcript(turn_id=turn_id, role=m.Role.ASSISTANT, text=said, stage=m.Stage.SPECULATIVE))
        for index in range(chunks):
            if self._cut.is_set():
                self.emit(m.Interrupted(turn_id=turn_id))
                for late in range(LATE_CHUNKS):
                    self.emit(m.AudioOut(turn_id=turn_id, pcm=chunk(turn_id, index + late, late=True)))
                self.emit(
                    m.Transcript(
                        turn_id=turn_id,
                        role=m.Role.ASSISTANT,
                        text=said,
                        stage=m.Stage.FINAL,
                        interrupted=True,
                    )
                )
                self.emit(
                    m.TurnEnded(turn_id=turn_id, role=m.Role.ASSISTANT, reason=m.TurnEndReason.INTERRUPTED)
                )
                return
            self.emit(m.AudioOut(turn_id=turn_id, pcm=chunk(turn_id, index)))
            await asyncio.sleep(0.02)
        self.emit(m.Transcript(turn_id=turn_id, role=m.Role.ASSISTANT, text=said, stage=m.Stage.FINAL))
        self.emit(m.TurnEnded(turn_id=turn_id, role=m.Role.ASSISTANT))

    async def close(self) -> None:
        if self._speaking is not None:
            self._speaking.cancel()
        await super().close()


class ScriptedFactory(EngineFactory):
    default_max_sessions = 20
    # Typed text is how a test drives it.
    capabilities = frozenset({m.Capability.TEXT_INPUT})

    def create(self, setup: SessionSetup) -> Engine:
        return ScriptedEngine()
