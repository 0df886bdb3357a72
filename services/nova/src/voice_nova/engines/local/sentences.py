"""Sentences of an answer: the unit of synthesis, of streaming, and of what counts as spoken."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _BOUNDARY.split(text.strip()) if part.strip()]
