"""A real browser for end-to-end tests: Debian's Chromium driven by Playwright (no browser
download), with its fake microphone fed from a WAV file made at test time (see voice_testkit.speech)."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

#: Debian's chromium package (scripts/bootstrap.sh installs it for ./check).
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

#: Headless as root on a machine whose only network is loopback: no sandbox (root), no GPU (WebGL is
#: drawn by SwiftShader, on the CPU, which Chromium may otherwise stop offering), and none of
#: Chromium's own background connections, which this network refuses.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
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


@contextmanager
def silent_chromium(folder: Path) -> Iterator[Browser]:
    """Chromium whose microphone hears silence (tests that type, or only look), its WAV in ``folder``."""
    wav = folder / "silence.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(bytes(2 * 16_000))
    with chromium(wav) as browser:
        yield browser
