"""The tools a speech model may call, shared by every engine.

A tool is an async function with a JSON schema for its arguments. The registry offers their
specifications to a model and runs a call: arguments are validated against the schema, and every
call ends in a JSON result, errors included, so no call is left unanswered. ``run_reported`` also
reports the call as ``ToolCall`` events (started, then completed or failed), the same for every
engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator
from msgspec.structs import replace
from voice_proto import messages as m

type ToolHandler = Callable[..., Awaitable[Any]]

#: Longest a tool may run before its call is answered with a timeout error.
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    #: JSON Schema (draft 2020-12) of the arguments object.
    input_schema: dict[str, Any]
    handler: ToolHandler
    timeout: float = DEFAULT_TIMEOUT
    _validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.input_schema)
        object.__setattr__(self, "_validator", Draft202012Validator(self.input_schema))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    #: JSON text: the tool's return value, or ``{"error": ...}``.
    content: str

    @property
    def value(self) -> Any:
        return json.loads(self.content)


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name} is already registered")
        self._tools[tool.name] = tool

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self._tools.values()]

    async def call(self, name: str, arguments: str | dict[str, Any]) -> ToolResult:
        """Run a call; never raises (a bad name, bad arguments, a failure or a timeout is an error result)."""
        tool = self._tools.get(name)
        if tool is None:
            return _error(f"unknown tool {name!r}")
        try:
            args = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
        except json.JSONDecodeError as exc:
            return _error(f"arguments are not JSON: {exc.msg}")
        if not isinstance(args, dict):
            return _error("arguments must be a JSON object")
        problems = sorted(tool._validator.iter_errors(args), key=str)
        if problems:
            return _error(f"invalid arguments: {problems[0].message}")
        try:
            value = await asyncio.wait_for(tool.handler(**args), tool.timeout)
            return ToolResult(ok=True, content=json.dumps(value))
        except TimeoutError:
            return _error(f"{name} did not finish within {tool.timeout:g} s")
        except Exception as exc:
            return _error(f"{name} failed: {exc}")

    async def run_reported(self, call: m.ToolCall, emit: Callable[[m.ToolCall], object]) -> ToolResult:
        """Run ``call`` (its ``name`` and JSON ``arguments``) and report it through ``emit``: the call
        itself as ``started``, then a copy ``completed`` or ``failed`` with the result's JSON. Never
        raises, as :meth:`call`."""
        emit(call)
        result = await self.call(call.name, call.arguments)
        emit(replace(call, status=_status(result), result=result.content))
        return result


def _status(result: ToolResult) -> m.ToolCallStatus:
    return m.ToolCallStatus.COMPLETED if result.ok else m.ToolCallStatus.FAILED


def _error(message: str) -> ToolResult:
    return ToolResult(ok=False, content=json.dumps({"error": message}))


def date_and_time_tool(default_timezone: str = "UTC") -> Tool:
    async def get_date_and_time(timezone: str = default_timezone) -> dict[str, str]:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        now = datetime.now(zone)
        return {
            "timezone": timezone,
            "iso": now.isoformat(timespec="seconds"),
            "date": now.strftime("%A, %B %-d, %Y"),
            "time": now.strftime("%-I:%M %p"),
        }

    return Tool(
        name="get_date_and_time",
        description="The current date and time, in a time zone (IANA name such as Europe/Paris; default "
        f"{default_timezone}).",
        input_schema={
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "IANA time zone name"}},
            "additionalProperties": False,
        },
        handler=get_date_and_time,
    )


def default_tools(timezone: str = "UTC") -> ToolRegistry:
    """The tools every engine offers."""
    return ToolRegistry([date_and_time_tool(timezone)])
