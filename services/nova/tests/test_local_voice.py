"""The engine's voice: 24 kHz PCM16 from either speaker, each sentence synthesized once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from voice_nova.engines.local.audio import Int16Array
from voice_nova.engines.local.espeak import EspeakSpeaker
from voice_nova.engines.local.synthesis import Voice
from voice_proto import messages as m


class CountingEspeak(EspeakSpeaker):
    """The real espeak-ng speaker, counting how often it is asked to synthesize."""

    def __init__(self) -> None:
        self.calls = 0
        super().__init__()  # says one word, to check the voice exists
        self.calls = 0

    def synthesize(self, sentence: str) -> Int16Array:
        self.calls += 1
        return super().synthesize(sentence)


def test_speech_comes_out_at_the_contract_rate_as_pcm16() -> None:
    speaker = EspeakSpeaker()
    pcm = Voice(speaker).speak("Cloud storage keeps your data online.")
    samples = np.frombuffer(pcm, dtype="<i2")
    native = speaker.synthesize("Cloud storage keeps your data online.")
    # Same duration at the new rate (espeak-ng varies a few ms between runs; a wrong rate is 9 % off).
    assert abs(samples.size / m.OUTPUT_RATE - native.size / speaker.sample_rate) < 0.05
    assert np.abs(samples).max() > 3000  # speech, not silence


def test_a_sentence_is_synthesized_once_even_when_asked_at_the_same_time() -> None:
    speaker = CountingEspeak()
    voice = Voice(speaker, cache_sentences=2)
    sentence = "Managed databases take care of the servers for you."
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(voice.speak, [sentence] * 8))
    assert speaker.calls == 1
    assert all(pcm == results[0] for pcm in results)
    assert voice.cached(sentence) == results[0]
    # The cache keeps the last sentences said, up to its size.
    voice.speak("One.")
    voice.speak("Two.")
    assert voice.cached(sentence) is None
    assert speaker.calls == 3


def test_without_a_cache_every_sentence_is_synthesized_again() -> None:
    speaker = CountingEspeak()
    voice = Voice(speaker)
    voice.speak("Hello.")
    voice.speak("Hello.")
    assert speaker.calls == 2
    assert voice.cached("Hello.") is None
