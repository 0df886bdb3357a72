"""The JSON Schema of the browser protocol, generated from :mod:`voice_edge.protocol`'s structs.

``web/src/net/protocol.schema.json`` is this document, committed next to the web app: its
TypeScript types are generated from it (``npm run gen:protocol`` in ``web/``), and its tests check
that the app handles every close code and error code in it. A test here regenerates it and fails
when the committed copy disagrees.

    python -m voice_edge.schema --write web/src/net/protocol.schema.json
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from voice_proto import messages as m
from voice_proto.generated import document_command

from . import protocol as p

_REF = "#/$defs/{name}"


def build_schema() -> dict[str, Any]:
    (client, server), components = msgspec.json.schema_components(
        (p.ClientMessage, p.ServerEvent), ref_template=_REF
    )
    defs = {
        "ClientMessage": {
            "title": "ClientMessage",
            "description": "A JSON text frame from the client, by its `type`.",
            **client,
        },
        "ServerEvent": {
            "title": "ServerEvent",
            "description": "A JSON text frame from the server, by its `event` (`session` comes first).",
            **server,
        },
        **components,
        "Capability": {
            "title": "Capability",
            "description": (
                "What an engine does beyond speech (the session event's capabilities): typed text "
                "(`text`), the client's end of utterance (`endOfUtterance`; without it the engine ends "
                "turns itself), tool calls (`tool` events)."
            ),
            "enum": [capability.value for capability in m.Capability],
        },
        "CloseCode": _documented_enum(
            "CloseCode", "WebSocket close codes of the edge (the close reason says more).", list(p.Close)
        ),
        "ErrorCode": _documented_enum(
            "ErrorCode",
            "Stable codes of the `error` event (engines may report codes of their own too).",
            list(p.ErrorCode),
        ),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "VoiceProtocol",
        "description": (
            "The browser protocol of the edge's /ws. Subprotocols: voice.v1 (every frame JSON text, "
            "audio base64 in it) and voice.v1.binary (audio as binary frames of PCM16LE both ways, "
            "the rest JSON text). A JSON frame from the client is a ClientMessage, one from the server "
            "a ServerEvent; CloseCode and ErrorCode are the stable codes, Capability what an engine "
            "can do. Generated from services/edge/src/voice_edge/protocol.py; see "
            "services/edge/README.md."
        ),
        "x-subprotocols": list(p.PROTOCOLS),
        "$defs": dict(sorted(defs.items())),
    }


def _documented_enum(
    title: str, description: str, members: list[p.Close] | list[p.ErrorCode]
) -> dict[str, Any]:
    """An enum whose every value carries its meaning: a oneOf of consts."""
    return {
        "title": title,
        "description": description,
        "oneOf": [{"const": member.value, "description": member.meaning} for member in members],
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    return document_command(
        argv, description=__doc__, render=render, load=json.loads, source="voice_edge.protocol"
    )


if __name__ == "__main__":
    raise SystemExit(main())
