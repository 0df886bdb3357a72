from __future__ import annotations

from voice_proto.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_real_time_audio_is_never_limited() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=32000, burst=64000, clock=clock)
    for _ in range(3000):  # a minute of 20 ms frames
        assert bucket.take(640)
        clock.now += 0.02


def test_a_burst_is_allowed_once_then_refused() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=32000, burst=64000, clock=clock)
    assert all(bucket.take(640) for _ in range(100))  # 2 s of audio at once: the allowance
    assert not bucket.take(640)
    clock.now += 0.02
    assert bucket.take(640)  # refilled at the real-time rate
