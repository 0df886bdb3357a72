"""Hypothesis strategies for malformed input: browser frames (both subprotocols) and bus payloads.

Shared by the bounded fuzz tests (services/edge/tests, proto/tests) and the long run with a live
stack (bench/fuzz.py). Each strategy mixes plain noise with input shaped like the real thing, so
that the decoders are reached past their first check: JSON objects with a known ``type`` and wrong
fields, numbers past Python's digit limit, deep nesting, control characters, MessagePack maps with
the right keys and wrong values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
from hypothesis import strategies as st

_TYPES = ["audio", "text", "end", "auth", "", "AUDIO", "sing", "media", "session"]

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

_b64 = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())

_shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(_TYPES) | st.text(max_size=8)},
    optional={
        "data": _b64 | st.text(max_size=30) | json_values,
        "endOfUtterance": json_values,
        "text": st.text(max_size=60) | json_values,
        "token": st.text(max_size=30) | json_values,
        "extra": json_values,
    },
).map(json.dumps)


def _deep(depth: int) -> str:
    return '{"type":"text","text":' + "[" * depth + "]" * depth + "}"


def _huge_number(digits: int) -> str:
    return '{"type":"audio","endOfUtterance":' + "9" * digits + "}"


#: What a client may put in a text frame.
text_frames: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=80),
    json_values.map(json.dumps),
    _shaped,
    _shaped.map(lambda s: s[: len(s) // 2]),  # cut short
    st.integers(1, 3000).map(_deep),
    st.integers(4300, 6000).map(_huge_number),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Co"]), max_size=20).map(
        lambda t: json.dumps({"type": "text", "text": t})
    ),
)

#: What a client may put in a binary frame.
binary_frames: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=200),
    text_frames.map(str.encode),
)


def _msgpack(value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


_msgpack_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = [
    "v", "seq", "pcm", "text", "kind", "token", "session_id", "principal", "type", "turn_id",
    "role", "stage", "accepted", "ok", "reason", "history", "credential", "scheme", "at", "worker_id",
]  # fmt: skip

#: What may arrive on a bus subject: noise, MessagePack of any shape, maps with the contract's keys.
bus_payloads: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=200),
    _msgpack_values.map(_msgpack),
    st.dictionaries(st.sampled_from(_FIELDS), _msgpack_values, max_size=8).map(_msgpack),
    st.integers(1, 2000).map(lambda depth: b"\x91" * depth + b"\xc0"),  # nested one-element arrays
)
