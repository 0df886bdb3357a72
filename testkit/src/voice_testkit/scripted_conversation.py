"""A scripted conversation through the whole stack (NOVA_ENGINE=scripted, the test kit's engine),
in two halves so that a test can do something in between. What is said, in order:

| role | text | interrupted |
|---|---|---|
| user | hello there | |
| assistant | turn 1 with 3 chunks | |
| user | what time is it | |
| assistant | turn 2 with 100 chunks | yes |
| user | thanks bye | |

then the client ends the session (end reason ``hangup``).
"""

from __future__ import annotations

from .client import VoiceClient

SCRIPTED_ENGINE = "scripted"

SAID = [
    ("user", "hello there", False),
    ("assistant", "turn 1 with 3 chunks", False),
    ("user", "what time is it", False),
    ("assistant", "turn 2 with 100 chunks", True),
    ("user", "thanks bye", False),
]


async def first_half(client: VoiceClient) -> None:
    await client.send_text("user hello there")
    await client.send_text("speak 3")
    await client.expect("turn", timeout=10, state="ended", role="assistant")


async def second_half(client: VoiceClient) -> None:
    await client.send_text("user what time is it")
    await client.send_text("speak 100")
    await client.expect("media", timeout=10)
    await client.send_text("interrupt")
    await client.expect("turn", timeout=10, state="ended", reason="interrupted")
    await client.send_text("user thanks bye")
    await client.expect("transcript", timeout=10, text="thanks bye")
    await client.end()
    await client.closed()
