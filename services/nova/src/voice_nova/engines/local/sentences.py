"""Sentences of an answer: the unit of synthesis, of streaming, and of what counts as spoken.

A unit is bounded (``MAX_UNIT_CHARS``) whatever the text: synthesis of one call costs memory and
time in proportion to its length (Piper holds the whole utterance's tensors at once), so a text
with no sentence end is cut at clause ends, then between words, then, for a "word" longer than the
bound, anywhere. Each session has at most one unit in the worker's speech pool at a time, so a
bounded unit is also what keeps the pool fair between sessions.
"""

from __future__ import annotations

import re

#: Longest text one synthesis call gets (a long spoken sentence is about 150 characters).
MAX_UNIT_CHARS = 200

_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=\S)")
#: After a clause mark (comma, semicolon, colon, dash) followed by a space.
_CLAUSE = re.compile(r"(?<=[,;:\u2013\u2014])\s+")


def split_sentences(text: str, limit: int = MAX_UNIT_CHARS) -> list[str]:
    """The units to synthesize, in order, each at most ``limit`` characters."""
    units: list[str] = []
    for sentence in _BOUNDARY.split(text.strip()):
        sentence = sentence.strip()
        if sentence:
            units.extend(_bounded(sentence, limit))
    return units


def _bounded(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    pieces = _pack(_CLAUSE.split(sentence), limit)
    if all(len(piece) <= limit for piece in pieces):
        return pieces
    words = [word for piece in pieces for word in piece.split()]
    hard = [word[i : i + limit] for word in words for i in range(0, len(word), limit)]
    return _pack(hard, limit)


def _pack(parts: list[str], limit: int) -> list[str]:
    """Join consecutive parts with spaces while they fit in ``limit``."""
    packed: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if packed and len(packed[-1]) + 1 + len(part) <= limit:
            packed[-1] = f"{packed[-1]} {part}"
        else:
            packed.append(part)
    return packed
