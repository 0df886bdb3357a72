"""PCM16 conversions and resampling (soxr) shared by the engine's modules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

type Int16Array = npt.NDArray[np.int16]
type FloatArray = npt.NDArray[np.float32]


def pcm_to_int16(pcm: bytes) -> Int16Array:
    """Little-endian PCM16 bytes as samples; a stray odd byte is dropped, not an error."""
    usable = len(pcm) - (len(pcm) % 2)
    samples: Int16Array = np.frombuffer(pcm[:usable], dtype="<i2").astype(np.int16, copy=False)
    return samples


def int16_to_float(samples: Int16Array) -> FloatArray:
    return (samples.astype(np.float32) / 32768.0).astype(np.float32, copy=False)


def resample(samples: Int16Array, from_rate: int, to_rate: int) -> Int16Array:
    if from_rate == to_rate or samples.size == 0:
        return samples
    out: Int16Array = soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.int16, copy=False)
    return out
