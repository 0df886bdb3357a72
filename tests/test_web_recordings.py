"""The History view in real headless Chromium against the real system: auth, a worker on the
scripted engine (two spoken answers, no models to load), an edge serving the built app and saying
the conversation is recorded, and the recordings service (NATS object store) on another origin.
The page lists the recorded session, shows its transcript, and a click on a line plays the
recording from that line. Screenshots go to test-artifacts/web/history/."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from voice_dev.natsserver import free_port
from voice_testkit.browser import CHROMIUM, silent_chromium
from voice_testkit.client import VoiceClient
from voice_testkit.nats import NatsServer
from voice_testkit.scripted_conversation import SCRIPTED_ENGINE
from voice_testkit.stack import API_KEYS, Stack

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
WEB_DIST = ROOT / "web" / "dist"
SHOTS = ROOT / "test-artifacts" / "web" / "history"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists() or not (WEB_DIST / "index.html").exists():
        pytest.skip("needs Debian's chromium and web/dist (./check provides both)")
    with silent_chromium(tmp_path_factory.mktemp("mic")) as b:
        yield b


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("history")
    nats = NatsServer(work).start()
    stack = Stack(nats.endpoint, work, NOVA_ENGINE=SCRIPTED_ENGINE)
    edge_port = free_port()
    edge_origin = f"http://127.0.0.1:{edge_port}"
    try:
        stack.start_recordings(wait=False, RECORDINGS_CORS_ORIGINS=edge_origin, RECORDINGS_SETTLE="0.5")
        stack.start_auth(wait=False)
        stack.start_worker(wait=False)
        stack.start_edge(
            wait=False,
            EDGE_PORT=str(edge_port),
            EDGE_WEB_DIR=str(WEB_DIST),
            EDGE_RECORDING="true",
            EDGE_RECORDINGS_URL=stack.service_url("recordings"),
        )
        stack.wait_ready()
        yield stack
    finally:
        stack.stop_all()
        nats.stop()


async def record_a_conversation(stack: Stack) -> str:
    client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
    assert client.session["recorded"] is True
    for turn in (1, 2):
        await client.send_text("speak 60")  # 1.2 s of speech each
        await client.expect("turn", turnId=turn, state="ended", timeout=20)
    await client.end()
    return client.session_id


def wait_recorded(stack: Stack, session_id: str) -> None:
    headers = {"Authorization": f"ApiKey {API_KEYS['alice']}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        url = f"{stack.service_url('recordings')}/api/recordings/{session_id}"
        if httpx.get(url, headers=headers).status_code == 200:
            return
        time.sleep(0.3)
    raise AssertionError("the conversation was not recorded")


def test_the_history_lists_the_session_and_plays_from_a_clicked_line(stack: Stack, browser: Browser) -> None:
    # Playwright's sync API keeps an event loop of its own in this thread: the client gets another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        session_id = pool.submit(asyncio.run, record_a_conversation(stack)).result()
    wait_recorded(stack, session_id)

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(stack.http_url())
    page.get_by_role("textbox", name="API key").fill(API_KEYS["alice"])
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_text("This conversation is recorded.")).to_be_visible()
    page.screenshot(path=str(SHOTS / "01-recorded-notice.png"))

    page.get_by_role("button", name="History").click()
    sessions = page.get_by_role("region", name="Past conversations").get_by_role("button")
    expect(sessions).to_have_count(1)
    sessions.first.click()
    lines = page.get_by_role("region", name="Recording").get_by_role("listitem")
    expect(lines).to_have_count(2)
    expect(lines.nth(1)).to_contain_text("turn 2 with 60 chunks")
    page.screenshot(path=str(SHOTS / "02-recording.png"))

    audio = page.locator("audio")
    expect(audio).to_have_attribute("src", re.compile("signature="))
    lines.nth(1).get_by_role("button").click()
    start = float(
        page.evaluate(
            """() => {
              const text = document.querySelectorAll('.history-line .history-time')[1].textContent;
              const [m, s] = text.split(':').map(Number);
              return m * 60 + s;
            }"""
        )
    )
    page.wait_for_function(
        "start => { const a = document.querySelector('audio'); return !a.paused && a.currentTime > start; }",
        arg=start,
    )
    playing = page.evaluate("() => document.querySelector('audio').currentTime")
    assert playing >= start
    expect(lines.nth(1).get_by_role("button")).to_have_attribute("aria-current", "true")
    page.screenshot(path=str(SHOTS / "03-playing-from-the-line.png"))
    page.close()
