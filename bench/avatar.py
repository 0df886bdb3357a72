"""What the avatar costs: the web app's bundle sizes (gzip) and the avatar's frame time in headless
Chromium, with the machine's load average.

- Bundles: the sign-in page (index.html, the entry chunk, the CSS) and what the conversation page
  adds (the three.js avatar chunk, and the glTF loader's chunk when an operator's model is set).
- Frames: the real system (auth, the scripted worker that greets and speaks a babble of vowels, an
  edge serving web/dist), the app in Debian's headless Chromium, the microphone muted. For the 3D
  avatar and for the 2D face (WebGL switched off in the page), while listening and while speaking:
  the frame rate and interval (from requestAnimationFrame), the avatar's own time per frame (scene
  update and WebGL calls on the page's thread), and the CPU the browser's processes used.

Headless Chromium draws WebGL with SwiftShader, on the CPU: a laptop's GPU does the same work in a
fraction of the time, so the figures here are an upper bound.

    .venv/bin/python bench/avatar.py --seconds 8
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from playwright.sync_api import Page
from voice_testkit.browser import chromium
from voice_testkit.machine import load_average
from voice_testkit.nats import NatsServer
from voice_testkit.speech import RATE, write_wav
from voice_testkit.stack import API_KEYS, Stack

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"
NO_WEBGL = """
HTMLCanvasElement.prototype.getContext = ((getContext) => function (kind, ...rest) {
  return /webgl/.test(kind) ? null : getContext.call(this, kind, ...rest);
})(HTMLCanvasElement.prototype.getContext);
"""
#: Frame intervals and the avatar's own figures over a window, measured in the page.
MEASURE = """
async (ms) => {
  const times = [];
  const end = performance.now() + ms;
  await new Promise((done) => {
    const tick = (t) => { times.push(t); if (t < end) requestAnimationFrame(tick); else done(); };
    requestAnimationFrame(tick);
  });
  const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  const avatar = document.querySelector('[data-meter="avatar"]').textContent;
  return { frames: times.length, gaps, avatar };
}
"""


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def bundles() -> None:
    html = (DIST / "index.html").read_text()
    assets = DIST / "assets"
    entry = [assets / Path(m).name for m in re.findall(r'(?:src|href)="/assets/([^"]+\.(?:js|css))"', html)]
    signin = gz(DIST / "index.html") + sum(gz(p) for p in entry)
    print("bundles (gzip -9; vite reports gzip at its own level):")
    print(f"  sign-in page: {signin / 1024:.1f} KiB ({', '.join(p.name for p in entry)} + index.html)")
    for pattern, what in (
        ("stage-*.js", "the 3D avatar (three.js)"),
        ("modelHead-*.js", "an operator's model (glTF loader)"),
    ):
        for chunk in assets.glob(pattern):
            raw = chunk.stat().st_size / 1024
            print(f"  + {what}: {gz(chunk) / 1024:.1f} KiB ({chunk.name}, {raw:.0f} KiB raw)")
    worklets = sorted(assets.glob("*.worklet-*.js"))
    print(f"  + audio worklets: {sum(gz(p) for p in worklets) / 1024:.1f} KiB")


def browser_cpu() -> float:
    """CPU seconds so far of every Chromium process on the machine that this run started."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "chrom" in (proc.info["name"] or "") and any(
                "--headless" in a for a in proc.info["cmdline"] or []
            ):
                cpu = proc.cpu_times()
                total += cpu.user + cpu.system
        except psutil.Error:
            continue
    return total


def measure(page: Page, label: str, seconds: float) -> None:
    cpu = browser_cpu()
    start = time.monotonic()
    result: dict[str, Any] = page.evaluate(MEASURE, seconds * 1000)
    used = (browser_cpu() - cpu) / (time.monotonic() - start)
    gaps = np.array(result["gaps"])
    fps = len(gaps) / (gaps.sum() / 1000) if len(gaps) else 0
    print(
        f"  {label:<22} {fps:5.1f} fps  frame interval p50 {np.percentile(gaps, 50):5.1f} ms"
        f" p95 {np.percentile(gaps, 95):5.1f} ms  browser CPU {used * 100:4.0f} %  [{result['avatar']}]"
    )


def frames(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nats = NatsServer(work / "nats").start()
        stack = Stack(nats.endpoint, work / "stack")
        env = {"NOVA_ENGINE": "scripted-greeting", "EDGE_WEB_DIR": str(DIST)}
        try:
            stack.start_spine(**env)
            wav = write_wav(work / "silence.wav", np.zeros(RATE, np.int16))
            with chromium(wav) as browser:
                for label, scripts in (("3D avatar", ()), ("2D face (no WebGL)", (NO_WEBGL,))):
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    for script in scripts:
                        context.add_init_script(script)
                    page = context.new_page()
                    page.goto(stack.http_url())
                    page.get_by_role("textbox", name="API key").fill(API_KEYS["alice"])
                    page.get_by_role("button", name="Use this key").click()
                    page.locator("details.debug > summary").click()
                    page.get_by_role("button", name="Mute microphone").click()
                    page.get_by_role("button", name="Engage").click()
                    page.locator('[data-activity="listening"]').wait_for(timeout=60_000)
                    print(f"{label}:")
                    measure(page, "listening", seconds)
                    page.get_by_label("Type a message").fill(f"speak {int(seconds * 50) + 150}")
                    page.get_by_label("Type a message").press("Enter")
                    page.locator('[data-activity="speaking"]').wait_for(timeout=60_000)
                    measure(page, "speaking", seconds)
                    context.close()
        finally:
            stack.stop_all()
            nats.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="each measurement's length")
    args = parser.parse_args()
    if not (DIST / "index.html").exists():
        sys.exit("web/dist is not built: run ./check or `cd web && npm run build`")
    bundles()
    print(f"load average before: {load_average()} on {os.cpu_count()} cores")
    frames(args.seconds)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
