"""Ogg Opus through FFmpeg's libopus (PyAV's wheels bundle it): the only codec code here is calls.

Encoding is CPU work: :class:`Encoder` runs it in a thread, at most ``concurrency`` at a time, so a
burst of sessions ending together never stalls the event loop or takes every core.
"""

from __future__ import annotations

import asyncio
import io

import av
import numpy as np
import numpy.typing as npt

from .timeline import RATE

CONTENT_TYPE = "audio/ogg"


def encode_ogg_opus(stereo: npt.NDArray[np.int16], *, bitrate: int, rate: int = RATE) -> bytes:
    """``stereo``: PCM16, shape (2, samples) at ``rate`` Hz. Returns an Ogg Opus file (bytes)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate, layout="stereo")
        stream.bit_rate = bitrate
        frame_samples = rate  # one second per frame: the encoder cuts its own 20 ms packets
        samples = np.ascontiguousarray(stereo, dtype=np.int16)
        for start in range(0, samples.shape[1], frame_samples):
            part = np.ascontiguousarray(samples[:, start : start + frame_samples])
            frame = av.AudioFrame.from_ndarray(part, format="s16p", layout="stereo")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def decode_ogg(data: bytes) -> tuple[npt.NDArray[np.float32], int]:
    """Decode a recording: (float samples shape (channels, samples), rate). For tests and tools."""
    with av.open(io.BytesIO(data), "r") as container:
        frames = list(container.decode(audio=0))
    rate = frames[0].sample_rate if frames else 48_000
    planar = [frame.to_ndarray().reshape(frame.layout.nb_channels, -1) for frame in frames]
    return (np.concatenate(planar, axis=1) if planar else np.zeros((2, 0), dtype=np.float32)), rate


class Encoder:
    """Runs :func:`encode_ogg_opus` off the event loop, ``concurrency`` at a time."""

    def __init__(self, *, bitrate: int, concurrency: int = 1) -> None:
        self._bitrate = bitrate
        self._slots = asyncio.Semaphore(concurrency)

    async def encode(self, stereo: npt.NDArray[np.int16]) -> bytes:
        async with self._slots:
            return await asyncio.to_thread(encode_ogg_opus, stereo, bitrate=self._bitrate)
