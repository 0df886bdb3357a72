"""A session and its transcript as JSON (the API's answer, and the JSON export) or plain text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import SessionRow, TurnRow


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def session_json(session: SessionRow, turns: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sessionId": session.session_id,
        "principal": session.principal,
        "startedAt": _iso(session.started_at),
        "endedAt": _iso(session.ended_at),
        "endReason": session.end_reason or None,
    }
    if turns is not None:
        body["turns"] = turns
    return body


def transcript_json(session: SessionRow, turns: list[TurnRow]) -> dict[str, Any]:
    return {
        **session_json(session),
        "turns": [
            {
                "turnId": turn.turn_id,
                "role": turn.role.lower(),
                "text": turn.text,
                "at": _iso(turn.spoken_at),
                # Seconds since the session started, never negative (clocks of two machines).
                "offset": round(max(0.0, (turn.spoken_at - session.started_at).total_seconds()), 3),
                "interrupted": turn.interrupted,
            }
            for turn in turns
        ],
    }


def transcript_text(session: SessionRow, turns: list[TurnRow]) -> str:
    ended = f", ended {_iso(session.ended_at)} ({session.end_reason})" if session.ended_at else ""
    owner = session.principal or "?"
    lines = [f"Session {session.session_id} of {owner}: started {_iso(session.started_at)}{ended}", ""]
    for turn in turns:
        seconds = int(max(0.0, (turn.spoken_at - session.started_at).total_seconds()))
        stamp = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        note = " (interrupted)" if turn.interrupted else ""
        lines.append(f"[{stamp}] {turn.role.lower()}{note}: {turn.text}")
    return "\n".join(lines) + "\n"
