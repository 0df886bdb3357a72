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
#: Most characters of a call's JSON arguments, and of its JSON result: what a model or a tool
#: sends beyond it is answered with an error, so one call's cost (parsing, validating, the events
#: that report it on the bus and to the client) stays bounded.
MAX_ARGUMENTS_CHARS = 16_384
MAX_RESULT_CHARS = 65_536
#: Longest tool name repeated in an error result.
_NAME_SHOWN = 64


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
        """Run a call; never raises: a bad name, arguments that are not a JSON object of the tool's
        schema (too large, too deep, numbers past Python's 4300-digit limit included), a failure,
        a timeout or a result over ``MAX_RESULT_CHARS`` is an error result."""
        tool = self._tools.get(name)
        if tool is None:
            return _error(f"unknown tool {name[:_NAME_SHOWN]!r}")
        try:
            args = _arguments(arguments)
            problems = sorted(tool._validator.iter_errors(args), key=str)
        except _BadArguments as exc:
            return _error(str(exc))
        except RecursionError:
            return _error("arguments are nested too deeply")
        if problems:
            return _error(f"invalid arguments: {problems[0].message}")
        try:
            value = await asyncio.wait_for(tool.handler(**args), tool.timeout)
            content = json.dumps(value)
        except TimeoutError:
            return _error(f"{name} did not finish within {tool.timeout:g} s")
        except Exception as exc:
            return _error(f"{name} failed: {str(exc)[: _NAME_SHOWN * 4]}")
        if len(content) > MAX_RESULT_CHARS:
            return _error(f"{name} returned {len(content)} characters, over {MAX_RESULT_CHARS}")
        return ToolResult(ok=True, content=content)

    async def run_reported(self, call: m.ToolCall, emit: Callable[[m.ToolCall], object]) -> ToolResult:
        """Run ``call`` (its ``name`` and JSON ``arguments``) and report it through ``emit``: the call
        itself as ``started``, then a copy ``completed`` or ``failed`` with the result's JSON. Never
        raises, as :meth:`call`."""
        # Reported without what is over the limits: a model's runaway arguments must not become a
        # bus message over the server's maximum payload (which would fail the session, not the call).
        reported = replace(call, name=call.name[:_NAME_SHOWN], arguments=_shown(call.arguments))
        emit(reported)
        result = await self.call(call.name, call.arguments)
        emit(replace(reported, status=_status(result), result=result.content))
        return result


class _BadArguments(ValueError):
    pass


def _arguments(arguments: str | dict[str, Any]) -> dict[str, Any]:
    """The call's arguments as a dict; raises _BadArguments saying why not, or RecursionError."""
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENTS_CHARS:
            raise _BadArguments(f"arguments are {len(arguments)} characters, over {MAX_ARGUMENTS_CHARS}")
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise _BadArguments(f"arguments are not JSON: {exc.msg}") from None
        except ValueError:  # an integer past sys.get_int_max_str_digits()
            raise _BadArguments("arguments hold a number too long to read") from None
    else:
        args = arguments
    if not isinstance(args, dict):
        raise _BadArguments("arguments must be a JSON object")
    return args


def _shown(arguments: str) -> str:
    """A call's arguments as reported: as given, or a JSON note of their size when over the limit."""
    if len(arguments) <= MAX_ARGUMENTS_CHARS:
        return arguments
    return json.dumps({"omitted": f"{len(arguments)} characters, over {MAX_ARGUMENTS_CHARS}"})


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
