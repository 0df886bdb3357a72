"""The microphone the bedrock engine keeps (engines/bedrock/audio.py): voiced or silent, and the
latest seconds kept for a replay into the next stream."""

from __future__ import annotations

from voice_nova.engines.bedrock.audio import Microphone, is_voiced


def test_voiced_audio_is_told_from_silence_and_the_latest_seconds_are_kept() -> None:
    assert not is_voiced(bytes(640))
    assert is_voiced((3000).to_bytes(2, "little", signed=True) * 320)
    microphone = Microphone(keep_seconds=0.1)  # 3200 bytes
    for _ in range(10):
        microphone.hear(bytes(640))
    assert len(microphone.since(0)) == 3200
    assert microphone.since(microphone.last_heard) == b""
