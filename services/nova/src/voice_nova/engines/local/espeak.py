"""espeak-ng in process, from the library and data shipped in the ``espeakng-loader`` wheel.

libespeak-ng keeps global state, so one synthesis runs at a time in a process (a lock), whatever
the number of threads asking.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import espeakng_loader
import numpy as np

from .audio import Int16Array

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 0x1
_END_PAUSE = 0x1000
_RATE = 1

_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    pass


class _Library:
    """The one libespeak-ng of the process."""

    _instance: _Library | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        lib: Any = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise EspeakError("libespeak-ng failed to initialise")
        self.lib = lib
        self.sample_rate = int(rate)
        self.lock = threading.Lock()
        self._sink: list[bytes] = []
        # Kept referenced for the life of the process: the library calls it on every synthesis.
        self._callback = _Callback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._sink.append(ctypes.string_at(wav, count * 2))
        return 0

    @classmethod
    def get(cls) -> _Library:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def synthesize(self, text: str, voice: str, rate: int) -> Int16Array:
        data = text.encode() + b"\0"
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            self.lib.espeak_SetParameter(_RATE, rate, 0)
            self._sink = []
            status = self.lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _END_PAUSE, None, None
            )
            chunks, self._sink = self._sink, []
        if status != 0:
            raise EspeakError(f"espeak-ng synthesis failed with status {status}")
        return np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.int16, copy=False)


class EspeakSpeaker:
    """A :class:`~.synthesis.Speaker` made of espeak-ng: a robotic voice, almost free of CPU."""

    def __init__(self, voice: str = "en-us", rate: int = 165) -> None:
        self._library = _Library.get()
        self._voice = voice
        self._rate = rate
        self.sample_rate = self._library.sample_rate
        self.synthesize("ready")  # fails here, at load, for an unknown voice

    def synthesize(self, sentence: str) -> Int16Array:
        return self._library.synthesize(sentence, self._voice, self._rate)
