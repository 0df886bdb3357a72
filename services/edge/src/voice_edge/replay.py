"""What the user said that the session's worker has not acknowledged yet, kept for the next owner.

A worker acknowledges input in its heartbeats (the highest audio and text sequence it received).
Input after that may have gone to a worker that is dead by now, so the edge keeps it and replays it,
in the order the user sent it, to the worker that takes the session over. Audio is bounded by
duration (older unacknowledged audio is dropped first: a long outage keeps only its last seconds);
typed text by count (it is what the user typed: dropping it is the last resort, and counted).
"""

from __future__ import annotations

from collections import deque

from voice_proto import messages as m

type Input = m.AudioIn | m.TextIn


class InputReplay:
    """Unacknowledged input of one session. ``max_audio_bytes`` bounds the audio kept,
    ``max_texts`` the typed texts kept; ``dropped_audio`` / ``dropped_texts`` count what the bounds
    cost."""

    def __init__(self, *, max_audio_bytes: int, max_texts: int) -> None:
        self._entries: deque[Input] = deque()
        self._max_audio_bytes = max_audio_bytes
        self._max_texts = max_texts
        self._audio_bytes = 0
        self._texts = 0
        self._acked_audio = 0
        self._acked_text = 0
        self.dropped_audio = 0
        self.dropped_texts = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, message: Input) -> None:
        """Keep ``message`` (sent, or to be sent, to the owner) until it is acknowledged."""
        self._entries.append(message)
        if isinstance(message, m.AudioIn):
            self._audio_bytes += len(message.pcm)
            while self._audio_bytes > self._max_audio_bytes:
                self._drop_oldest(m.AudioIn)
        else:
            self._texts += 1
            while self._texts > self._max_texts:
                self._drop_oldest(m.TextIn)

    def acknowledged(self, audio_seq: int, text_seq: int) -> None:
        """The owner has received audio up to ``audio_seq`` and text up to ``text_seq``."""
        self._acked_audio = max(self._acked_audio, audio_seq)
        self._acked_text = max(self._acked_text, text_seq)
        kept: deque[Input] = deque()
        for entry in self._entries:
            if self._is_acked(entry):
                self._forget(entry)
            else:
                kept.append(entry)
        self._entries = kept

    def new_owner(self) -> None:
        """A new worker owns the session: nothing is acknowledged by it yet."""
        self._acked_audio = self._acked_text = 0

    def pending(self) -> list[Input]:
        """What the owner has not acknowledged, oldest first."""
        return list(self._entries)

    def _is_acked(self, entry: Input) -> bool:
        if isinstance(entry, m.AudioIn):
            return entry.seq <= self._acked_audio
        return entry.seq <= self._acked_text

    def _drop_oldest(self, kind: type[Input]) -> None:
        for index, entry in enumerate(self._entries):
            if isinstance(entry, kind):
                del self._entries[index]
                self._forget(entry)
                if kind is m.AudioIn:
                    self.dropped_audio += 1
                else:
                    self.dropped_texts += 1
                return

    def _forget(self, entry: Input) -> None:
        if isinstance(entry, m.AudioIn):
            self._audio_bytes -= len(entry.pcm)
        else:
            self._texts -= 1
