"""The assistant's 3D avatar in real headless Chromium (software WebGL: SwiftShader) against the real
system: auth, a worker and two edges as processes on a real NATS server, the built app served by
the edges. The worker runs the scripted engine that greets when a session starts and speaks a
babble of vowels on request (voice_testkit.engines), so the face has a real voice to follow; the
second edge serves an avatar model from a folder (EDGE_AVATAR_DIR), a GLB made at test time.

What the page draws is read back from the avatar's canvas in the page as each frame is drawn (see
SAMPLER). Headless Chromium has no GPU: the avatar draws in its software mode (no multisampling,
half resolution, 30 fps). Screenshots of each state go to test-artifacts/web/<test>/.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from voice_testkit.browser import CHROMIUM, silent_chromium
from voice_testkit.gltf import jaw_bone_head, morph_target_head
from voice_testkit.nats import NatsEndpoint
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
WEB_DIST = ROOT / "web" / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "web"
ENGINE = "scripted-greeting"
MODEL_FILE = "model.glb"
#: Generous: two shared cores, a software renderer, several services at once.
WAIT_MS = 30_000

#: Notes when the edge's `stop` arrives (before the app handles it), from inside the page.
STOP_CLOCK = """
(() => {
  window.__stops = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const stop = typeof event.data === "string" && event.data.includes('"event":"stop"');
        if (stop) window.__stops.push(performance.now());
      });
    }
  };
})();
"""

#: No WebGL at all, as on a browser or machine without it.
NO_WEBGL = """
(() => {
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    return /webgl/.test(kind) ? null : getContext.call(this, kind, ...rest);
  };
})();
"""

#: Samples each frame the avatar draws, as it draws it (its "avatar-frame" event comes while the
#: frame is still in the drawing buffer): a fingerprint of the mouth's region (or of the whole
#: canvas), the lip sync's opening, when the frame ran, and whether the `stop` had arrived by then
#: (the app handles it in the same task as STOP_CLOCK sees it).
SAMPLER = """
(whole) => {
  const canvas = document.querySelector("canvas.avatar");
  const [x, y, w, h] = whole ? [0, 0, 1, 1] : canvas.dataset.mouthBox.split(",").map(Number);
  const small = document.createElement("canvas");
  small.width = 96;
  small.height = 64;
  const ctx = small.getContext("2d", { willReadFrequently: true });
  window.__samples = [];
  const sample = () => {
    ctx.clearRect(0, 0, small.width, small.height);
    ctx.drawImage(canvas, x * canvas.width, y * canvas.height, w * canvas.width, h * canvas.height,
      0, 0, small.width, small.height);
    const data = ctx.getImageData(0, 0, small.width, small.height).data;
    let hash = 0;
    let opaque = 0;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
      hash = (Math.imul(hash, 31) + data[i] + 7 * data[i + 1] + 13 * data[i + 2] + 17 * data[i + 3]) | 0;
      if (data[i + 3] > 200) {
        opaque++;
        colours.add((data[i] >> 4) << 8 | (data[i + 1] >> 4) << 4 | data[i + 2] >> 4);
      }
    }
    window.__samples.push({
      at: performance.now(),
      stopped: window.__stops.length > 0,
      hash,
      opaque: opaque / (data.length / 4),
      colours: colours.size,
      mouth: Number(canvas.dataset.mouth),
      viseme: canvas.dataset.viseme,
    });
  };
  canvas.addEventListener("avatar-frame", sample);
  window.__stopSampling = () => canvas.removeEventListener("avatar-frame", sample);
}
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists() or not (WEB_DIST / "index.html").exists():
        pytest.fail("./check installs chromium and builds web/dist before the browser tests")
    # A silent microphone: the conversation is typed; the microphone stays muted.
    with silent_chromium(tmp_path_factory.mktemp("mic")) as b:
        yield b


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("avatars")


@pytest.fixture(scope="module")
def avatar_stack(
    nats_endpoint: NatsEndpoint, models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """auth, the greeting scripted worker, an edge with the built-in head ("edge") and one that
    serves ``models/model.glb`` as the operator's avatar ("edge-model")."""
    stack = Stack(nats_endpoint, tmp_path_factory.mktemp("stack"))
    env = {"NOVA_ENGINE": ENGINE, "EDGE_WEB_DIR": str(WEB_DIST)}
    try:
        stack.start_auth(wait=False)
        stack.start_worker(wait=False, **env)
        stack.start_edge(wait=False, **env)
        stack.start_edge(
            "edge-model", wait=False, EDGE_AVATAR_DIR=str(models), EDGE_AVATAR_MODEL=MODEL_FILE, **env
        )
        stack.wait_ready(timeout=120)  # generous: the machine is shared
        yield stack
    finally:
        stack.stop_all()


class AvatarPage:
    """The app with its avatar, screenshots at each step, and the avatar's frames read back."""

    def __init__(self, context: BrowserContext, url: str, shots: Path, scripts: tuple[str, ...]) -> None:
        for script in (STOP_CLOCK, *scripts):
            context.add_init_script(script)
        self.page: Page = context.new_page()
        self.url = url
        self.shots = shots
        self.canvas = self.page.locator("canvas.avatar")

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        self.canvas.screenshot(path=str(self.shots / f"{name}-avatar.png"))

    def start(self) -> None:
        """Signs in with an API key, mutes the microphone, opens the debug panel and engages."""
        self.page.goto(self.url)
        self.page.get_by_role("textbox", name="API key").fill(API_KEYS["alice"])
        self.page.get_by_role("button", name="Use this key").click()
        self.page.locator("details.debug > summary").click()
        self.page.get_by_role("button", name="Mute microphone").click()
        self.page.get_by_role("button", name="Engage").click()

    def say(self, text: str) -> None:
        self.page.get_by_label("Type a message").fill(text)
        self.page.get_by_label("Type a message").press("Enter")

    def expect_activity(self, activity: str) -> None:
        expect(self.page.locator("[data-activity]")).to_have_attribute(
            "data-activity", activity, timeout=WAIT_MS
        )

    def mouth(self) -> float:
        return float(self.canvas.get_attribute("data-mouth") or 0)

    def wait_for_mouth_open(self) -> None:
        """Until the lip sync opens the mouth (the voice is playing and moving it)."""
        self.page.wait_for_function(
            "(open) => Number(document.querySelector('canvas.avatar').dataset.mouth) > open",
            arg=0.1,
            timeout=WAIT_MS,
        )

    def greets(self) -> None:
        """The opening turn: greeting with the mouth moving (a screenshot), then listening."""
        self.expect_activity("greeting")
        self.wait_for_mouth_open()
        self.shot("01-greeting")
        self.expect_activity("listening")

    def record(self, ms: int, *, whole: bool = False) -> list[dict[str, Any]]:
        """The frames drawn in the next ``ms``."""
        self.sample(whole=whole)
        self.page.wait_for_timeout(ms)
        return self.samples()

    def sample(self, *, whole: bool = False) -> None:
        self.page.evaluate(SAMPLER, whole)

    def samples(self) -> list[dict[str, Any]]:
        samples: list[dict[str, Any]] = self.page.evaluate("window.__stopSampling(), window.__samples")
        return samples

    def stops(self) -> list[float]:
        stops: list[float] = self.page.evaluate("window.__stops")
        return stops

    def debug(self, field: str) -> str:
        return self.page.locator(f'[data-meter="{field}"]').inner_text()


@pytest.fixture
def avatar_page(
    browser: Browser, avatar_stack: Stack, request: pytest.FixtureRequest
) -> Iterator[Callable[..., AvatarPage]]:
    contexts: list[BrowserContext] = []

    def open_page(
        edge: str = "edge", shots: str = "", scripts: tuple[str, ...] = (), **context: Any
    ) -> AvatarPage:
        c = browser.new_context(viewport={"width": 1280, "height": 900}, **context)
        contexts.append(c)
        return AvatarPage(c, avatar_stack.http_url(edge), ARTIFACTS / (request.node.name + shots), scripts)

    try:
        yield open_page
    finally:
        for c in contexts:
            c.close()


def changes(samples: list[dict[str, Any]]) -> int:
    """How many frames differ from the frame before."""
    return sum(a["hash"] != b["hash"] for a, b in itertools.pairwise(samples))


def test_the_avatar_greets_listens_thinks_speaks_and_is_interrupted(
    avatar_page: Callable[..., AvatarPage], avatar_stack: Stack
) -> None:
    """The built-in head with prefers-reduced-motion (no sway, breathing or nods), so that nothing but
    the mouth moves in the mouth's region: it moves while the answer plays and is still within
    100 ms of the `stop` that interrupts it."""
    app = avatar_page(reduced_motion="reduce")
    app.start()
    expect(app.canvas).to_have_attribute("data-avatar", "3d", timeout=WAIT_MS)
    expect(app.canvas).to_have_attribute("data-head", "built-in", timeout=WAIT_MS)
    expect(app.canvas).to_have_attribute("aria-hidden", "true")

    app.greets()
    whole = app.record(300, whole=True)
    assert whole, "no frames sampled"
    # A face: most of the canvas drawn, in many shades (skin, eyes, mouth, light), not a blank.
    assert whole[-1]["opaque"] > 0.4, whole[-1]
    assert whole[-1]["colours"] > 40, whole[-1]
    app.shot("02-listening")

    app.say("user what is object storage")
    app.expect_activity("thinking")
    app.shot("03-thinking")

    app.say("speak 1500")  # thirty seconds of voice, cut short below
    app.expect_activity("speaking")
    app.wait_for_mouth_open()
    app.sample()
    app.page.wait_for_timeout(1500)
    app.shot("04-speaking")
    # The person barges in: the microphone's sound reaches the engine, which stops its answer.
    app.page.get_by_role("button", name="Unmute microphone").click()
    app.expect_activity("interrupted")
    app.shot("05-interrupted")
    app.page.wait_for_timeout(700)
    samples = app.samples()
    stops = app.stops()
    assert len(stops) == 1, stops
    stop = stops[0]

    speaking = [s for s in samples if not s["stopped"]]
    # From 100 ms after the stop to the end of the "interrupted" expression (1.5 s).
    after = [s for s in samples if s["stopped"] and stop + 100 < s["at"] < stop + 1400]
    assert len(speaking) >= 20, f"only {len(speaking)} frames while speaking"
    assert len(after) >= 5, f"only {len(after)} frames after the stop"
    # While the answer plays the mouth changes from frame to frame and takes many shapes ...
    assert changes(speaking) >= len(speaking) // 2, (changes(speaking), len(speaking))
    assert len({s["viseme"] for s in speaking}) >= 3, {s["viseme"] for s in speaking}
    # ... and 100 ms after the stop it is shut and still.
    assert changes(after) == 0, [
        (round(s["at"] - stop), s["hash"], s["mouth"]) for s in samples if s["stopped"]
    ]
    assert all(s["mouth"] == 0 for s in after)
    # It shut in the first frame drawn after the stop.
    assert next(s for s in samples if s["stopped"])["mouth"] == 0

    app.expect_activity("listening")
    assert "3D, built-in head" in app.debug("avatar")
    config = app.page.evaluate("fetch('/api/config').then((r) => r.json())")
    assert config["avatar"] is None


@pytest.mark.parametrize(
    ("build", "rig"),
    [(jaw_bone_head, "jaw-bone"), (morph_target_head, "arkit")],
    ids=["jaw-bone", "morph-targets"],
)
def test_an_operator_model_plays_its_idle_clip_and_speaks(
    avatar_page: Callable[..., AvatarPage], models: Path, build: Callable[[Path], Path], rig: str
) -> None:
    build(models / MODEL_FILE)
    app = avatar_page("edge-model")
    app.start()
    expect(app.canvas).to_have_attribute("data-head", "model", timeout=WAIT_MS)
    expect(app.canvas).to_have_attribute("data-rig", rig)
    expect(app.canvas).to_have_attribute("data-clip", "Idle")
    config = app.page.evaluate("fetch('/api/config').then((r) => r.json())")
    assert config["avatar"] == {"model": f"/avatar/{MODEL_FILE}"}

    app.greets()
    # The idle clip plays: the model moves while nobody speaks.
    idle = app.record(600, whole=True)
    assert changes(idle) >= len(idle) // 2, (changes(idle), len(idle))
    assert idle[-1]["colours"] > 10, idle[-1]

    # Still (reduced motion freezes the clip): only the jaw or the morph targets move the mouth.
    app.page.emulate_media(reduced_motion="reduce")
    app.page.wait_for_timeout(1000)  # the head settles (an easing of about 0.2 s)
    assert changes(app.record(300)) == 0
    app.sample()
    app.say("speak 100")
    app.expect_activity("speaking")
    app.wait_for_mouth_open()
    app.shot("02-speaking")
    app.expect_activity("listening")
    app.page.wait_for_timeout(200)
    samples = app.samples()
    speaking = [s for s in samples if s["mouth"] > 0]
    assert changes(speaking) >= len(speaking) // 3, (changes(speaking), len(speaking))
    assert len({s["hash"] for s in speaking}) >= 10
    assert samples[-1]["mouth"] == 0
    assert rig in app.debug("avatar")


def test_fallbacks_a_broken_model_and_no_webgl(avatar_page: Callable[..., AvatarPage], models: Path) -> None:
    (models / MODEL_FILE).write_bytes(b"glTF this is not")
    app = avatar_page("edge-model", "-broken-model")
    app.start()
    notice = app.page.locator('[data-field="avatar-problem"]')
    expect(notice).to_contain_text("could not be shown", timeout=WAIT_MS)
    expect(notice).to_contain_text("built-in head")
    expect(app.canvas).to_have_attribute("data-head", "built-in")
    expect(app.page.locator(".event-log")).to_contain_text(re.compile("avatar model .* could not be shown"))
    app.wait_for_mouth_open()  # the greeting
    app.shot("01-broken-model")

    flat = avatar_page("edge", "-no-webgl", (NO_WEBGL,))
    flat.start()
    expect(flat.canvas).to_have_attribute("data-avatar", "2d", timeout=WAIT_MS)
    flat.expect_activity("greeting")
    flat.wait_for_mouth_open()
    flat.shot("01-2d-face")
    assert flat.debug("avatar") == "2D face (no WebGL)"
