"""Speech to text with the packaged tiny.en model: an utterance is encoded in a window just longer
than it, and heard as well as in Whisper's full 30 s window."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest
from voice_nova.engines.local.audio import FloatArray, int16_to_float
from voice_nova.engines.local.stt import Transcriber
from voice_testkit.speech import RATE, say, speaker

QUESTIONS = {
    "What time is it?": ("time",),
    "Tell me about cloud storage.": ("cloud", "storage"),
    "How much does compute cost?": ("compute", "cost"),
    "How do I keep my data secure?": ("data", "secure"),
}


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(threads=2)


@cache
def spoken(voice: str, text: str) -> FloatArray:
    return int16_to_float(say(_speaker(voice), text))


_speaker = cache(speaker)  # a Piper voice takes seconds to load


@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_spoken_questions_are_heard_in_a_short_window(transcriber: Transcriber, voice: str) -> None:
    for text, words in QUESTIONS.items():
        heard = transcriber.transcribe(spoken(voice, text)).lower()
        assert all(word in heard for word in words), f"said {text!r}, heard {heard!r}"


def test_the_short_window_hears_what_the_full_window_hears(transcriber: Transcriber) -> None:
    """Every key word the full 30 s window hears, the short one hears too. (Whole texts may differ
    in punctuation or a doubtful word: Piper's voice varies a little from one synthesis to the next.)"""
    for voice in ("piper", "espeak"):
        for text, words in QUESTIONS.items():
            audio = spoken(voice, text)
            short = set(re.findall(r"[a-z']+", transcriber.transcribe(audio).lower()))
            full = set(re.findall(r"[a-z']+", transcriber._transcribe_full(audio).lower()))
            assert {w for w in words if w in full} <= short, f"{voice} said {text!r}: {short} vs {full}"


def test_an_utterance_longer_than_a_window_is_heard_whole(transcriber: Transcriber) -> None:
    sentence = spoken("espeak", "Tell me about cloud storage.")
    pause = np.zeros(RATE // 2, np.float32)
    # About 30 s: past the short window, into faster-whisper's own long-form path.
    audio = np.concatenate([np.concatenate((sentence, pause))] * 13)
    assert audio.size / RATE > 28
    heard = transcriber.transcribe(audio).lower()
    assert heard.count("storage") >= 10, heard


def test_a_phrase_said_over_and_over_is_heard_as_often_as_it_was_said(transcriber: Transcriber) -> None:
    """In a short window tiny.en loops on this one, and the full window is asked instead. Whisper's
    no-speech estimate is high here too (about 0.6), though it is sure of the words: they count."""
    pause = np.zeros(RATE // 2, np.float32)
    audio = np.concatenate([np.concatenate((spoken("espeak", "Tell me about cloud storage."), pause))] * 5)
    assert transcriber.transcribe(audio).lower().count("storage") == 5


def test_silence_and_noise_have_no_words(transcriber: Transcriber) -> None:
    noise = np.random.default_rng(7).normal(0, 0.1, 2 * RATE).astype(np.float32)
    assert transcriber.transcribe(np.zeros(RATE, np.float32)) == ""
    assert transcriber.transcribe(noise) == ""
    assert transcriber.transcribe(np.zeros(0, np.float32)) == ""
