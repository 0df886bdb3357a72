from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from voice_proto import Bus
from voice_testkit.stack import Stack


@pytest.fixture
async def bus(stack: Stack) -> AsyncIterator[Bus]:
    """A connection of the test's own to the stack's NATS server, to watch what crosses the bus."""
    b = await stack.nats.connect()
    yield b
    await b.drain()
