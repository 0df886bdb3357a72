"""Turn taking on the 16 kHz input: where an utterance starts, pauses and ends.

Audio goes through the voice detector window by window. Speech opens an utterance (with the
pre-roll kept from just before it, so the first word is whole); a run of silence as long as the
end-of-turn setting closes it; so do the client (end of utterance) and the length cap. At a
shorter pause the endpointer offers the audio so far, so the engine may start transcribing before
it knows the turn is over. Silence is what the detector calls it: noise below its threshold
opens nothing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol

import numpy as np

from .audio import FloatArray, int16_to_float, pcm_to_int16

#: How far below the start threshold speech is still taken to go on (Silero's own advice).
_HYSTERESIS = 0.15


class EndReason(StrEnum):
    SILENCE = "silence"
    CLIENT = "client"
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class SpeechStarted:
    pass


@dataclass(frozen=True)
class SpeechPaused:
    """The user has been quiet for the pause time: the utterance so far, which the end will
    repeat unchanged if no more voice comes (same ``voiced_windows``)."""

    audio: FloatArray
    voiced_windows: int


@dataclass(frozen=True)
class UtteranceEnded:
    audio: FloatArray
    reason: EndReason
    voiced_windows: int
    voiced_ms: int


type EndpointEvent = SpeechStarted | SpeechPaused | UtteranceEnded


class _State(Enum):
    QUIET = "quiet"
    SPEECH = "speech"
    #: The utterance hit the length cap: the rest of that monologue is not heard, up to a silence.
    OVERFLOW = "overflow"


class VoiceDetector(Protocol):
    """What the endpointer needs of a VAD (``vad.SileroDetector`` is one)."""

    window: int

    def __call__(self, window: FloatArray) -> float: ...


class Endpointer:
    def __init__(
        self,
        detector: VoiceDetector,
        *,
        rate: int = 16_000,
        end_silence_ms: int = 500,
        pause_ms: int = 200,
        pre_roll_ms: int = 300,
        max_utterance_s: float = 20.0,
        threshold: float = 0.5,
    ) -> None:
        self._detector = detector
        self._window = detector.window
        self.window_ms = 1000 * self._window / rate
        self._end_windows = max(1, math.ceil(end_silence_ms / self.window_ms))
        pause_windows = math.ceil(pause_ms / self.window_ms) if pause_ms > 0 else 0
        #: No early offer when it would come with (or after) the end itself.
        self._pause_windows = pause_windows if 0 < pause_windows < self._end_windows else 0
        #: Trailing silence kept in an utterance's audio: the same at the pause and at the end.
        self._tail_windows = self._pause_windows or min(self._end_windows, math.ceil(200 / self.window_ms))
        self._max_windows = math.ceil(max_utterance_s * 1000 / self.window_ms)
        self._start_threshold = threshold
        self._keep_threshold = max(0.0, threshold - _HYSTERESIS)
        self._pending = np.zeros(0, dtype=np.float32)
        self._pre_roll: deque[FloatArray] = deque(maxlen=math.ceil(pre_roll_ms / self.window_ms) or None)
        self._keep_pre_roll = pre_roll_ms > 0
        self._state = _State.QUIET
        self._frames: list[FloatArray] = []
        self._onset = 0  # index in _frames of the first voiced window
        self._last_voiced = 0
        self._voiced = 0
        self._silent_run = 0

    @property
    def end_silence_s(self) -> float:
        """The silence that ends an utterance, in seconds (whole windows)."""
        return self._end_windows * self.window_ms / 1000

    @property
    def in_speech(self) -> bool:
        return self._state is _State.SPEECH

    @property
    def voiced_ms(self) -> int:
        """Voiced time of the utterance in progress (0 when there is none)."""
        return round(self._voiced * self.window_ms) if self.in_speech else 0

    def feed(self, pcm: bytes) -> list[EndpointEvent]:
        """PCM16LE mono 16 kHz of any length; what happened in it, in order."""
        samples = np.concatenate((self._pending, int16_to_float(pcm_to_int16(pcm))))
        events: list[EndpointEvent] = []
        whole = len(samples) - len(samples) % self._window
        for start in range(0, whole, self._window):
            event = self._step(samples[start : start + self._window])
            if event is not None:
                events.append(event)
        self._pending = samples[whole:]
        return events

    def end_now(self) -> UtteranceEnded | None:
        """The client says the user is done: close the utterance in progress, if any."""
        if self._state is not _State.SPEECH:
            return None
        return self._end(EndReason.CLIENT)

    def _step(self, window: FloatArray) -> EndpointEvent | None:
        probability = self._detector(window)
        if self._state is _State.QUIET:
            if probability >= self._start_threshold:
                self._frames = [*self._pre_roll, window]
                self._pre_roll.clear()
                self._onset = self._last_voiced = len(self._frames) - 1
                self._voiced = 1
                self._silent_run = 0
                self._state = _State.SPEECH
                return SpeechStarted()
            if self._keep_pre_roll:
                self._pre_roll.append(window)
            return None
        if self._state is _State.OVERFLOW:
            self._silent_run = 0 if probability >= self._keep_threshold else self._silent_run + 1
            if self._silent_run >= self._end_windows:
                self._state = _State.QUIET
            return None
        self._frames.append(window)
        if probability >= self._keep_threshold:
            self._voiced += 1
            self._last_voiced = len(self._frames) - 1
            self._silent_run = 0
        else:
            self._silent_run += 1
        if self._silent_run >= self._end_windows:
            return self._end(EndReason.SILENCE)
        if len(self._frames) - self._onset >= self._max_windows:
            return self._end(EndReason.TOO_LONG)
        if self._pause_windows and self._silent_run == self._pause_windows:
            return SpeechPaused(self._audio(), self._voiced)
        return None

    def _audio(self) -> FloatArray:
        end = min(len(self._frames), self._last_voiced + 1 + self._tail_windows)
        return np.concatenate(self._frames[:end])

    def _end(self, reason: EndReason) -> UtteranceEnded:
        ended = UtteranceEnded(
            audio=self._audio() if reason is EndReason.SILENCE else np.concatenate(self._frames),
            reason=reason,
            voiced_windows=self._voiced,
            voiced_ms=round(self._voiced * self.window_ms),
        )
        self._frames = []
        self._voiced = 0
        self._silent_run = 0
        self._state = _State.OVERFLOW if reason is EndReason.TOO_LONG else _State.QUIET
        return ended
