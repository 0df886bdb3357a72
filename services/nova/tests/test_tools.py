from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from voice_nova.tools import Tool, ToolRegistry, date_and_time_tool, default_tools
from voice_proto import messages as m


async def test_date_and_time_in_a_zone() -> None:
    result = await default_tools().call("get_date_and_time", '{"timezone": "Asia/Tokyo"}')
    assert result.ok
    value = result.value
    assert value["timezone"] == "Asia/Tokyo"
    stamp = datetime.fromisoformat(value["iso"])
    assert stamp.utcoffset() == datetime.now(ZoneInfo("Asia/Tokyo")).utcoffset()
    assert abs((stamp - datetime.now(ZoneInfo("UTC"))).total_seconds()) < 5


async def test_the_default_zone_comes_from_the_registry() -> None:
    result = await ToolRegistry([date_and_time_tool("Europe/Paris")]).call("get_date_and_time", {})
    assert result.value["timezone"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("name", "arguments", "fragment"),
    [
        ("no_such_tool", "{}", "unknown tool"),
        ("get_date_and_time", "{not json", "not JSON"),
        ("get_date_and_time", "[1]", "JSON object"),
        ("get_date_and_time", '{"timezone": 5}', "invalid arguments"),
        ("get_date_and_time", '{"zone": "UTC"}', "invalid arguments"),
        ("get_date_and_time", '{"timezone": "Mars/Olympus"}', "unknown time zone"),
    ],
)
async def test_every_failure_is_a_json_error_result(name: str, arguments: str, fragment: str) -> None:
    result = await default_tools().call(name, arguments)
    assert not result.ok
    assert fragment in result.value["error"]


async def test_a_slow_tool_times_out_with_an_error_result() -> None:
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    registry = ToolRegistry([Tool("slow", "sleeps", {"type": "object"}, slow, timeout=0.05)])
    result = await registry.call("slow", "{}")
    assert not result.ok
    assert "did not finish" in result.value["error"]


def test_specs_for_a_model_and_duplicate_names() -> None:
    registry = default_tools()
    (spec,) = registry.specs()
    assert spec["name"] == "get_date_and_time"
    assert spec["input_schema"]["type"] == "object"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(date_and_time_tool())


async def test_a_reported_call_is_announced_then_answered_with_its_result() -> None:
    events: list[m.ToolCall] = []
    call = m.ToolCall(turn_id=3, call_id="c1", name="get_date_and_time", arguments='{"timezone": "UTC"}')
    result = await default_tools().run_reported(call, events.append)
    assert result.ok
    started, completed = events
    assert started == call
    assert started.status == m.ToolCallStatus.STARTED
    assert (completed.call_id, completed.turn_id, completed.status) == ("c1", 3, m.ToolCallStatus.COMPLETED)
    assert completed.result == result.content

    events.clear()
    failing = m.ToolCall(turn_id=4, call_id="c2", name="no_such_tool")
    assert not (await default_tools().run_reported(failing, events.append)).ok
    assert [e.status for e in events] == [m.ToolCallStatus.STARTED, m.ToolCallStatus.FAILED]
    assert "unknown tool" in events[1].result


def _deep(levels: int) -> str:
    return '{"timezone": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ('{"timezone": ' + "9" * 4301 + "}", "number too long"),  # the reported 4,300-digit integer
        (_deep(5_000), "nested too deeply"),  # the reported deep nesting
        ('"UTC"', "JSON object"),
        ("null", "JSON object"),
        ("7", "JSON object"),
        ('{"timezone": "' + "x" * 20_000 + '"}', "characters, over"),
        ("\x00", "not JSON"),
    ],
    ids=["huge-int", "deep", "string", "null", "number", "huge", "nul"],
)
async def test_every_call_gets_exactly_one_result_whatever_its_arguments(
    arguments: str, fragment: str
) -> None:
    events: list[m.ToolCall] = []
    call = m.ToolCall(turn_id=1, call_id="c", name="get_date_and_time", arguments=arguments)
    result = await default_tools().run_reported(call, events.append)
    assert not result.ok
    assert fragment in result.value["error"]
    assert [e.status for e in events] == [m.ToolCallStatus.STARTED, m.ToolCallStatus.FAILED]
    # What is reported stays small enough for the bus, whatever the model sent.
    assert all(len(e.arguments) <= 16_384 and len(e.result) <= 1_000 for e in events)


async def test_a_tool_that_raises_or_answers_too_much_is_an_error_result() -> None:
    async def huge() -> str:
        return "x" * 100_000

    async def unprintable() -> int:
        return 10**5000  # json.dumps refuses it past the 4300-digit limit

    async def recursing(depth: int = 0) -> int:
        return await recursing(depth + 1)

    registry = ToolRegistry(
        [Tool(f.__name__, "misbehaves", {"type": "object"}, f) for f in (huge, unprintable, recursing)]
    )
    for name, fragment in [("huge", "over"), ("unprintable", "failed"), ("recursing", "failed")]:
        result = await registry.call(name, "{}")
        assert not result.ok
        assert fragment in result.value["error"]
