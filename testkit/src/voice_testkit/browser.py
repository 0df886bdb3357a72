"""A real browser for end-to-end tests: Debian's Chromium driven by Playwright (no browser
download), with its fake microphone fed from a WAV file made at test time."""

from __future__ import annotations

import math
import os
import wave
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

#: Debian's chromium package (scripts/bootstrap.sh installs it for ./check).
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

#: Headless as root on a machine whose only network is loopback: no sandbox (root), no GPU, and none
#: of Chromium's own background connections, which this network refuses.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def fake_microphone(wav: Path) -> list[str]:
    """A microphone that plays ``wav`` in a loop, granted without a prompt (so is the camera)."""
    return [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]


@contextmanager
def chromium(microphone_wav: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*QUIET, *fake_microphone(microphone_wav)]
        )
        try:
            yield browser
        finally:
            browser.close()


def write_voiced_wav(path: Path, *, rate: int = 16000, repeats: int = 2) -> Path:
    """Voice-shaped sound: syllables of a harmonic voice (gliding pitch, vowel formants) separated by
    pauses, with no words in it. Enough for an engine that echoes; an engine that transcribes needs
    real speech (see tests/test_web_e2e.py)."""
    vowels = [(730, 1090), (530, 1840), (270, 2290), (570, 840), (300, 870)]  # a, e, i, o, u
    phrase = array("h")
    for syllable in range(8):
        f1, f2 = vowels[syllable % len(vowels)]
        length = int(rate * 0.2)
        for n in range(length):
            t = n / rate
            f0 = 120 + 25 * math.sin(2 * math.pi * 1.5 * (syllable * 0.2 + t))
            envelope = math.sin(math.pi * n / length) ** 2
            value = 0.0
            for harmonic in range(1, int(4000 / f0) + 1):
                f = harmonic * f0
                gain = 1 / (1 + ((f - f1) / 90) ** 2) + 0.6 / (1 + ((f - f2) / 120) ** 2)
                value += gain * math.sin(2 * math.pi * f * t) / harmonic**0.5
            phrase.append(int(max(-1.0, min(1.0, 0.12 * envelope * value)) * 32767))
        phrase.extend([0] * int(rate * 0.04))
    phrase.extend([0] * int(rate * 1.0))
    samples = phrase * repeats
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path
