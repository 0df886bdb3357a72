"""Endpointing of the offline engine on real speech (espeak-ng) through the real Silero VAD.

Positions are in audio time (samples fed), not wall time, so the checks are exact and fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from voice_nova.engines.local.endpointing import (
    Endpointer,
    EndpointEvent,
    EndReason,
    SpeechPaused,
    SpeechStarted,
    UtteranceEnded,
)
from voice_nova.engines.local.vad import SileroDetector
from voice_testkit.speech import FRAME_BYTES, RATE, last_voiced_offset, say, silence, speaker

MS = RATE // 1000  # samples per millisecond


@pytest.fixture(scope="module")
def words() -> dict[str, bytes]:
    voice = speaker("espeak")
    return {
        text: say(voice, text).astype("<i2").tobytes()
        for text in ("Tell me about cloud storage.", "What time is it?", "And databases.")
    }


def endpointer(**options: object) -> Endpointer:
    return Endpointer(SileroDetector(), **options)  # type: ignore[arg-type]


def run(ep: Endpointer, pcm: bytes, chunk: int = FRAME_BYTES) -> list[tuple[int, EndpointEvent]]:
    """Feed ``pcm`` in chunks; every event with the sample position at which it came."""
    events = []
    for offset in range(0, len(pcm), chunk):
        for event in ep.feed(pcm[offset : offset + chunk]):
            events.append((min(offset + chunk, len(pcm)) // 2, event))
    return events


def kinds(events: list[tuple[int, EndpointEvent]]) -> list[type]:
    return [type(event) for _, event in events]


def ended(events: list[tuple[int, EndpointEvent]]) -> list[UtteranceEnded]:
    return [event for _, event in events if isinstance(event, UtteranceEnded)]


def test_silence_alone_opens_no_utterance() -> None:
    assert run(endpointer(), silence(3.0)) == []


def test_steady_background_noise_opens_no_utterance() -> None:
    rng = np.random.default_rng(7)
    hiss = (rng.standard_normal(RATE * 3) * 100).astype("<i2").tobytes()  # about -50 dBFS
    assert run(endpointer(), hiss) == []


def test_the_turn_ends_after_the_configured_silence(words: dict[str, bytes]) -> None:
    speech = words["What time is it?"]
    for end_silence_ms in (500, 900):
        pcm = silence(0.5) + speech + silence(2.0)
        events = run(endpointer(end_silence_ms=end_silence_ms), pcm)
        assert kinds(events) == [SpeechStarted, SpeechPaused, UtteranceEnded]
        position, end = events[-1]
        assert isinstance(end, UtteranceEnded)
        assert end.reason is EndReason.SILENCE
        speech_end = last_voiced_offset(pcm) // 2
        # The VAD hears the last word's tail a little early or late; the silence itself is timed.
        assert end_silence_ms - 250 <= (position - speech_end) / MS <= end_silence_ms + 250


def test_a_pause_shorter_than_the_end_silence_keeps_one_utterance(words: dict[str, bytes]) -> None:
    pcm = words["Tell me about cloud storage."] + silence(0.3) + words["And databases."] + silence(1.0)
    utterances = ended(run(endpointer(), pcm))
    assert len(utterances) == 1
    assert utterances[0].audio.size / RATE > (len(pcm) / 2 / RATE) - 1.0


def test_two_questions_apart_make_two_utterances(words: dict[str, bytes]) -> None:
    pcm = words["What time is it?"] + silence(1.0) + words["And databases."] + silence(1.0)
    assert [u.reason for u in ended(run(endpointer(), pcm))] == [EndReason.SILENCE, EndReason.SILENCE]


def test_the_pre_roll_keeps_audio_from_before_the_onset(words: dict[str, bytes]) -> None:
    pcm = silence(1.0) + words["Tell me about cloud storage."] + silence(1.0)
    with_pre_roll = ended(run(endpointer(pre_roll_ms=300), pcm))[0].audio
    without = ended(run(endpointer(pre_roll_ms=0), pcm))[0].audio
    window = 512
    assert with_pre_roll.size - without.size == pytest.approx(300 * MS, abs=window)
    # What the pre-roll adds is the start of the utterance: the rest is the same audio.
    assert np.array_equal(with_pre_roll[-without.size :], without)


def test_the_early_offer_is_the_audio_the_end_gives_when_no_voice_follows(words: dict[str, bytes]) -> None:
    events = run(endpointer(pause_ms=200), words["What time is it?"] + silence(1.0))
    paused = next(event for _, event in events if isinstance(event, SpeechPaused))
    end = ended(events)[0]
    assert paused.voiced_windows == end.voiced_windows
    assert np.array_equal(paused.audio, end.audio)


def test_the_client_ends_the_turn_at_once(words: dict[str, bytes]) -> None:
    ep = endpointer()
    assert ep.end_now() is None  # nothing said yet: nothing to end
    run(ep, words["Tell me about cloud storage."])
    assert ep.in_speech
    assert ep.voiced_ms > 500
    end = ep.end_now()
    assert end is not None
    assert end.reason is EndReason.CLIENT
    assert (ep.in_speech, ep.end_now()) == (False, None)


def test_a_monologue_is_capped_and_its_rest_is_not_heard(words: dict[str, bytes]) -> None:
    talk = b"".join([words["Tell me about cloud storage."], silence(0.1)] * 4)
    events = run(
        endpointer(max_utterance_s=2.0), talk + silence(1.0) + words["What time is it?"] + silence(1.0)
    )
    utterances = ended(events)
    assert [u.reason for u in utterances] == [EndReason.TOO_LONG, EndReason.SILENCE]
    assert utterances[0].audio.size <= (2.0 + 0.3) * RATE + 512  # the cap plus the pre-roll
    # Only the question after the silence opened a second utterance, not the rest of the talk.
    assert kinds(events).count(SpeechStarted) == 2


def test_chunk_size_does_not_change_what_is_heard(words: dict[str, bytes]) -> None:
    pcm = silence(0.4) + words["Tell me about cloud storage."] + silence(1.0)
    by_frames = ended(run(endpointer(), pcm))
    by_odd_chunks = ended(run(endpointer(), pcm, chunk=334))
    by_one_chunk = ended(run(endpointer(), pcm, chunk=len(pcm)))
    assert len(by_frames) == len(by_odd_chunks) == len(by_one_chunk) == 1
    assert np.array_equal(by_frames[0].audio, by_odd_chunks[0].audio)
    assert np.array_equal(by_frames[0].audio, by_one_chunk[0].audio)
