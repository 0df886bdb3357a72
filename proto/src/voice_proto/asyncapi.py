"""The AsyncAPI 3 description of the bus, generated from :mod:`voice_proto.channels`.

``proto/asyncapi.yaml`` is this document, committed so that other teams can read it and generate
code in any language; a test regenerates it and fails when the committed copy disagrees.

    python -m voice_proto.asyncapi --write proto/asyncapi.yaml
"""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec
import yaml

from . import messages as m
from .channels import ALL_CHANNELS, SESSION_PARAM, Channel
from .generated import document_command

CONTENT_TYPE = "application/msgpack"
_REF = "#/components/schemas/{name}"


def _members(payload: Any) -> list[type[msgspec.Struct]]:
    if isinstance(payload, types.UnionType) or typing.get_origin(payload) is typing.Union:
        return list(typing.get_args(payload))
    return [payload]


def _binary_bytes(schema: Any) -> Any:
    """msgspec describes bytes as base64 text (its JSON form); on this bus they are MessagePack bin."""
    if isinstance(schema, dict):
        if schema.get("contentEncoding") == "base64":
            return {"type": "string", "format": "binary", "description": "raw bytes (MessagePack bin)"}
        return {key: _binary_bytes(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_binary_bytes(item) for item in schema]
    return schema


def _message_ref(struct: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{struct.__name__}"}


def build_document() -> dict[str, Any]:
    all_types: list[Any] = []
    for channel in ALL_CHANNELS:
        all_types += _members(channel.payload)
        if channel.reply is not None:
            all_types += _members(channel.reply)
    _, schemas = msgspec.json.schema_components(all_types, ref_template=_REF)

    messages: dict[str, Any] = {}
    for struct in all_types:
        messages[struct.__name__] = {
            "name": struct.__name__,
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/TraceHeaders"},
            "payload": {"$ref": _REF.format(name=struct.__name__)},
        }
    schemas["TraceHeaders"] = {
        "type": "object",
        "description": "NATS headers: W3C trace context of the span that published the message.",
        "properties": {
            "traceparent": {
                "type": "string",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            },
            "tracestate": {"type": "string"},
        },
    }

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel in ALL_CHANNELS:
        channels[channel.name] = _channel_entry(channel)
        operation: dict[str, Any] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel.name}"},
            "summary": channel.describe_parties(),
            "messages": [
                {"$ref": f"#/channels/{channel.name}/messages/{s.__name__}"}
                for s in _members(channel.payload)
            ],
        }
        if channel.queue_group:
            operation["x-queue-group"] = channel.queue_group
        if channel.reply is not None:
            reply_name = f"{channel.name}Reply"
            channels[reply_name] = {
                "address": None,
                "description": f"The NATS reply inbox of a {channel.name} request.",
                "messages": {s.__name__: _message_ref(s) for s in _members(channel.reply)},
            }
            operation["reply"] = {
                "channel": {"$ref": f"#/channels/{reply_name}"},
                "messages": [
                    {"$ref": f"#/channels/{reply_name}/messages/{s.__name__}"}
                    for s in _members(channel.reply)
                ],
            }
        operations[f"send{channel.name[0].upper()}{channel.name[1:]}"] = operation

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Voice platform bus",
            "version": f"{m.SCHEMA_VERSION}.0.0",
            "description": (
                "Subjects and payloads of the real-time voice platform on NATS. Payloads are MessagePack "
                "maps; every one carries `v`, the schema version (a consumer refuses a newer one). "
                "Audio is raw bytes. Every message carries W3C trace context in its NATS headers. "
                f"Input audio is PCM16LE mono {m.INPUT_RATE} Hz; output audio PCM16LE mono at the rate the "
                f"session's engine declares (`SessionClaim.output_rate`, {m.OUTPUT_RATE} Hz by default)."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "The NATS server of a development machine (JetStream enabled).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _binary_bytes(schemas)},
    }


def _channel_entry(channel: Channel[Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "address": channel.address,
        "description": channel.summary,
        "messages": {s.__name__: _message_ref(s) for s in _members(channel.payload)},
    }
    if channel.per_session:
        entry["parameters"] = {
            SESSION_PARAM: {"description": "The session id: 16-64 characters of A-Z a-z 0-9 _ -."}
        }
    if channel.durable:
        entry["x-jetstream"] = (
            "captured by the durable stream VOICE_RECORDS; published with acknowledgement and a "
            "unique Nats-Msg-Id header, resent with the same id until the stream acknowledges it "
            "(the stream drops a repeat; a core subscriber may see one and drops it by that id)"
        )
    if channel.recorded:
        entry["x-jetstream-recordings"] = "captured by VOICE_AUDIO when recordings are on"
    return entry


def render() -> str:
    header = "# Generated by `python -m voice_proto.asyncapi --write proto/asyncapi.yaml`; do not edit.\n"
    return header + yaml.safe_dump(build_document(), sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    return document_command(
        argv, description=__doc__, render=render, load=yaml.safe_load, source="voice_proto.channels"
    )


if __name__ == "__main__":
    raise SystemExit(main())
