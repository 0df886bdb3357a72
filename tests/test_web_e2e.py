"""The web client in real headless Chromium against the real system: edge, worker and auth as
processes on a real NATS server, the built app served by the edge, Chromium's fake microphone
looping a spoken question made at test time. Screenshots of every step go to
test-artifacts/web/<test>/.

The conversation is the offline engine (NOVA_ENGINE=local) with dev sign-in: the greeting plays,
the user's spoken question and the assistant's answer appear, and the question, coming round again
in the loop, interrupts the answer. The other tests use an API key (the kiosk mode) and the
loopback or scripted engines, which need no models and answer at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect
from voice_testkit.browser import CHROMIUM, chromium
from voice_testkit.scripted_conversation import SCRIPTED_ENGINE
from voice_testkit.speech import RATE, say, speaker, write_wav
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
WEB_DIST = ROOT / "web" / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "web"
#: How the debug panel shows a level of digital silence.
SILENT = "\N{MINUS SIGN}∞"
#: Generous: two shared cores, several browsers and services at once.
WAIT_MS = 30_000
#: The offline worker loads its models before it is ready.
MODELS_MS = 180_000

QUESTION = "Tell me about cloud storage."
#: Silence after the question before Chromium loops the file. The answer starts one to four seconds
#: after the question ends (end-of-turn silence, transcription, the first sentence's synthesis,
#: on shared cores) and lasts about ten, so the question's next round lands inside the answer.
PAUSE_S = 6.0


def _need(condition: bool, why: str) -> None:
    if not condition:
        # ./check installs chromium and builds the app first; a bare pytest elsewhere may lack them.
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    _need(CHROMIUM.exists(), f"{CHROMIUM} is missing: ./check installs Debian's chromium")
    _need((WEB_DIST / "index.html").exists(), "web/dist is not built: ./check builds it")
    # The engine's own voice: whisper hears it reliably even through the browser's noise suppression.
    speech = say(speaker("piper"), QUESTION)
    lead, pause = np.zeros(RATE // 4, np.int16), np.zeros(int(RATE * PAUSE_S), np.int16)
    wav = write_wav(tmp_path_factory.mktemp("mic") / "microphone.wav", np.concatenate((lead, speech, pause)))
    with chromium(wav) as b:
        yield b


def _web_stack(stack: Stack, engine: str, *, dev_sign_in: bool = False) -> Stack:
    """auth, a worker and an edge serving the app; API keys only (the kiosk set-up) unless
    ``dev_sign_in``, which turns on the dev issuer as ./run does."""
    env = {"NOVA_ENGINE": engine, "EDGE_WEB_DIR": str(WEB_DIST), "AUTH_DEV_ISSUER": str(dev_sign_in).lower()}
    stack.start_auth(wait=False, **env)
    stack.start_worker(wait=False, **env)
    stack.start_edge(wait=False, **env)
    stack.wait_ready(timeout=MODELS_MS / 1000)
    return stack


class VoicePage:
    """The app as a person uses it, with a screenshot at each step."""

    def __init__(self, page: Page, base_url: str, shots: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.shots = shots
        self.step = 0
        shots.mkdir(parents=True, exist_ok=True)
        for old in shots.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> Path:
        self.step += 1
        path = self.shots / f"{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def open(self) -> None:
        self.page.goto(self.base_url)
        expect(self.page.get_by_role("heading", name="Virtual Cloud Assistant")).to_be_visible()

    def sign_in_as(self, name: str) -> None:
        """The dev issuer's sign-in: a name, no cloud account."""
        self.page.get_by_role("textbox", name="Your name").fill(name)
        self.page.get_by_role("button", name="Sign in", exact=True).click()

    def use_key(self, api_key: str = API_KEYS["alice"]) -> None:
        self.page.get_by_role("textbox", name="API key").fill(api_key)
        self.page.get_by_role("button", name="Use this key").click()

    def expect_signed_in(self) -> None:
        expect(self.page.get_by_role("button", name="Engage")).to_be_visible()

    def mute(self, muted: bool) -> None:
        name = "Mute microphone" if muted else "Unmute microphone"
        self.page.get_by_role("button", name=name).click()

    def engage(self) -> None:
        self.page.get_by_role("button", name="Engage").click()

    def disconnect(self) -> None:
        self.page.get_by_role("button", name="Disconnect").click()

    def activity(self) -> str:
        return self.page.locator("[data-activity]").get_attribute("data-activity") or ""

    def expect_activity(self, *states: str) -> None:
        pattern = re.compile("|".join(states))
        badge = self.page.locator("[data-activity]")
        expect(badge).to_have_attribute("data-activity", pattern, timeout=WAIT_MS)

    def open_debug(self) -> None:
        self.page.locator("details.debug > summary").click()

    def session_id(self) -> str:
        locator = self.page.locator('[data-field="session-id"]')
        expect(locator).to_have_text(re.compile(r"^[A-Za-z0-9_-]{16,}$"), timeout=WAIT_MS)
        return locator.inner_text()

    def meter(self, name: str) -> str:
        return self.page.locator(f'[data-meter="{name}"]').inner_text()

    def count(self, name: str) -> int:
        return int(self.meter(name).split()[0])

    def mouth(self) -> float:
        return float(self.page.locator("canvas.avatar").get_attribute("data-mouth") or 0)

    def wait_until(self, what: str, check: Callable[[], bool], timeout_ms: int = WAIT_MS) -> None:
        deadline = self.page.evaluate("Date.now()") + timeout_ms
        while not check():
            if self.page.evaluate("Date.now()") > deadline:
                raise AssertionError(f"timed out waiting until {what}")
            self.page.wait_for_timeout(50)

    def type_message(self, text: str) -> None:
        self.page.get_by_label("Type a message").fill(text)
        self.page.get_by_label("Type a message").press("Enter")

    def turns(self, role: str) -> list[str]:
        return self.page.locator(f'.turn[data-role="{role}"] .turn-text').all_inner_texts()


@pytest.fixture
def voice_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[Stack], VoicePage]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pages: list[Page] = []

    def open_page(stack: Stack) -> VoicePage:
        page = context.new_page()
        pages.append(page)
        return VoicePage(page, stack.http_url(), ARTIFACTS / request.node.name)

    try:
        yield open_page
    finally:
        context.close()


def test_talk_to_the_assistant(fresh_stack: Stack, voice_page: Callable[[Stack], VoicePage]) -> None:
    app = voice_page(_web_stack(fresh_stack, "local", dev_sign_in=True))
    app.open()
    app.shot("sign-in")

    app.sign_in_as("alice")
    app.expect_signed_in()
    app.open_debug()
    app.shot("signed-in")

    # Muted at first, so that the looping microphone does not talk over the greeting.
    app.mute(True)
    app.engage()
    session_id = app.session_id()
    assistant = app.page.locator('.turn[data-role="assistant"]')
    expect(assistant.first).to_contain_text("Virtual Cloud Assistant", timeout=WAIT_MS)
    app.wait_until("the greeting moves the avatar's mouth", lambda: app.mouth() > 0.05)
    app.wait_until("the output level shows in the debug panel", lambda: app.meter("out") != SILENT)
    app.shot("greeting")
    # The greeting plays to its end: what the microphone says next is a question, not a barge-in.
    expect(assistant.first).to_have_attribute("data-final", "true", timeout=WAIT_MS)
    app.expect_activity("listening")
    assert app.count("stops") == 0
    chunks_after_greeting = app.count("chunks-in")

    app.mute(False)
    heard = app.page.locator('.turn[data-role="user"]').first
    expect(heard).to_contain_text(re.compile("cloud storage", re.I), timeout=WAIT_MS)
    answer = assistant.nth(1)
    expect(answer).to_contain_text(re.compile("storage", re.I), timeout=WAIT_MS)
    app.wait_until("the answer's audio arrives", lambda: app.count("chunks-in") > chunks_after_greeting + 10)
    app.expect_activity("speaking")
    app.wait_until("the answer moves the avatar's mouth", lambda: app.mouth() > 0.05)
    app.shot("answer-playing")

    # The question, coming round again in the microphone's loop, interrupts the answer: the turn
    # ends final with only what was spoken, marked interrupted, and playback stops.
    expect(answer).to_have_attribute("data-interrupted", "true", timeout=WAIT_MS)
    expect(answer).to_have_attribute("data-final", "true", timeout=WAIT_MS)
    expect(answer.locator(".tag-interrupted")).to_be_visible()
    app.wait_until("the stop is counted", lambda: app.count("stops") >= 1)
    app.shot("interrupted")
    # ...and the question that interrupted it is heard in full and answered.
    expect(app.page.locator('.turn[data-role="user"]').nth(1)).to_contain_text(
        re.compile("cloud storage", re.I), timeout=WAIT_MS
    )
    expect(assistant.nth(2)).to_contain_text(re.compile("storage", re.I), timeout=WAIT_MS)
    app.shot("answered-again")

    app.disconnect()
    expect(app.page.get_by_role("button", name="Engage")).to_be_visible(timeout=WAIT_MS)
    app.expect_activity("idle")
    expect(app.page.locator('[data-field="link"]')).to_have_text("closed")
    assert app.session_id() == session_id
    app.shot("disconnected")


def test_an_interruption_silences_playback_at_once(
    fresh_stack: Stack, voice_page: Callable[[Stack], VoicePage]
) -> None:
    """The scripted engine speaks a long turn on request and stops when it hears the microphone:
    the page must drop what it had queued, shut the avatar's mouth and mark the turn interrupted."""
    app = voice_page(_web_stack(fresh_stack, SCRIPTED_ENGINE))
    app.open()
    app.use_key()
    app.open_debug()
    app.mute(True)
    app.engage()
    app.session_id()

    app.type_message("speak 1500")  # 30 s of assistant audio, paced in real time
    assistant = app.page.locator('.turn[data-role="assistant"]')
    expect(assistant).to_have_attribute("data-final", "false", timeout=WAIT_MS)  # speculative text
    expect(app.page.locator('.turn[data-role="user"]')).to_contain_text("speak 1500")
    app.wait_until("the turn's audio arrives", lambda: app.count("chunks-in") > 25)
    app.expect_activity("speaking")
    app.shot("speaking")

    app.mute(False)  # the microphone's sound reaches the engine: a barge-in
    expect(assistant).to_have_attribute("data-interrupted", "true", timeout=WAIT_MS)
    expect(assistant).to_have_attribute("data-final", "true", timeout=WAIT_MS)
    expect(assistant.locator(".tag-interrupted")).to_be_visible()
    # The debug panel's counters render on their own schedule: wait for it, then it must stay at one.
    app.wait_until("the stop is counted", lambda: app.count("stops") >= 1)
    assert app.count("stops") == 1
    app.expect_activity("listening")
    assert app.mouth() == 0
    chunks_at_stop = app.count("chunks-in")
    app.wait_until("the playback buffer is empty", lambda: app.meter("buffered") == "0 ms")
    app.shot("interrupted")

    # 200 % zoom is half the CSS width: the captions reflow, nothing needs sideways scrolling.
    app.page.set_viewport_size({"width": 640, "height": 900})
    expect(assistant.locator(".turn-text")).to_be_visible()
    assert app.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    app.shot("zoom-200")

    # The edge drops the turn's late audio: nothing more arrives for it.
    app.page.wait_for_timeout(500)
    assert app.count("chunks-in") == chunks_at_stop
    app.disconnect()
    expect(app.page.get_by_role("button", name="Engage")).to_be_visible(timeout=WAIT_MS)


def test_a_server_restart_resumes_the_conversation(
    fresh_stack: Stack, voice_page: Callable[[Stack], VoicePage]
) -> None:
    stack = _web_stack(fresh_stack, "loopback")
    app = voice_page(stack)
    app.open()
    app.use_key()
    app.open_debug()
    app.engage()
    session_id = app.session_id()
    app.wait_until("echoed audio arrives", lambda: app.count("chunks-in") > 10)
    # The loopback engine takes typed text: the session event said so, and there is a field to
    # type in (an engine without text input gets none: Composer.test.tsx).
    expect(app.page.get_by_label("Type a message")).to_have_count(1)

    port = stack.edge_ports["edge"]
    stack.processes["edge"].stop()  # SIGTERM: the edge closes its clients with 1012
    expect(app.page.locator(".notice")).to_contain_text("restarting", timeout=WAIT_MS)
    app.expect_activity("connecting")
    app.shot("server-restarting")

    stack.start_edge(
        "edge-restarted", EDGE_PORT=str(port), NOVA_ENGINE="loopback", EDGE_WEB_DIR=str(WEB_DIST)
    )
    expect(app.page.locator(".turn-notice")).to_contain_text("Reconnected", timeout=WAIT_MS)
    assert app.session_id() == session_id
    app.expect_activity("listening", "speaking")
    chunks = app.count("chunks-in")
    app.wait_until("audio flows again", lambda: app.count("chunks-in") > chunks + 10)
    expect(app.page.get_by_label("Type a message")).to_have_count(1)
    app.shot("resumed")

    # Leaving the page (here a reload) ends the conversation: it does not wait, suspended, for a
    # resume that a page without a gesture cannot make (services/edge/README.md).
    app.page.reload()
    app.wait_until("the worker ends the session as hung up", lambda: _ended_by_hangup(stack, session_id))


def _ended_by_hangup(stack: Stack, session_id: str) -> bool:
    """The worker logged the session's end for the reason ``hangup`` (a drop would suspend it)."""
    return any(
        f'"session_id": "{session_id}"' in line and '"reason": "hangup"' in line and "session ended" in line
        for line in stack.processes["nova"].log_text().splitlines()
    )


def test_clear_messages_when_the_system_says_no(
    fresh_stack: Stack, voice_page: Callable[[Stack], VoicePage]
) -> None:
    stack = _web_stack(fresh_stack, "loopback")
    app = voice_page(stack)
    app.open()

    app.use_key("not-a-key-of-this-system")
    app.engage()
    expect(app.page.locator(".notice-error")).to_contain_text("refused your sign-in", timeout=WAIT_MS)
    expect(app.page.get_by_role("textbox", name="API key")).to_be_visible()
    app.shot("credential-refused")

    stack.processes["nova"].stop()
    app.use_key()
    app.engage()
    expect(app.page.locator(".notice")).to_contain_text("No assistant is available", timeout=WAIT_MS)
    app.expect_activity("connecting")
    app.shot("no-worker")
    stack.start_worker("nova-back", NOVA_ENGINE="loopback")
    app.session_id()
    app.expect_activity("listening", "speaking")
    app.shot("worker-back")
    assert httpx.get(f"{stack.http_url()}/api/config").json()["signIn"]["apiKey"] is True
