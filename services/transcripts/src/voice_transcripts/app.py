"""The read API (FastAPI). Every call carries a credential (``Authorization: Bearer <jwt>`` or
``Authorization: ApiKey <key>``) checked through auth.validate; a principal sees only its own
sessions, the admin role sees all. Someone else's session answers 404, as a missing one does."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from voice_proto import messages as m
from voice_proto.auth import AuthClient, api_error, caller, listed_principal, may_read
from voice_proto.ops import ReadyCheck, probe_routes, untraced

from .export import session_json, transcript_json, transcript_text
from .models import SessionRow
from .store import Store


class Api:
    """What the routes need: the store and the auth client."""

    def __init__(self, store: Store, auth: AuthClient) -> None:
        self.store = store
        self.auth = auth


def _encode_cursor(after: tuple[datetime, str]) -> str:
    return base64.urlsafe_b64encode(f"{after[0].isoformat()}|{after[1]}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, session_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), session_id
    except ValueError:
        raise api_error(400, "bad_cursor") from None


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


Caller = Annotated[m.ValidateReply, Depends(caller)]


def create_app(api: Api, ready: ReadyCheck, *, cors_origins: list[str] | None = None) -> FastAPI:
    app = FastAPI(
        title="voice transcripts", docs_url="/docs", redoc_url=None, telemetry={"exclude": untraced}
    )
    app.state.auth = api.auth
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "DELETE"],
            allow_headers=["Authorization"],
        )

    async def readable(session_id: str, caller: m.ValidateReply) -> SessionRow:
        session = await api.store.session(session_id)
        if session is None or not may_read(caller, session.principal):
            raise api_error(404, "not_found")
        return session

    @app.get("/api/sessions")
    async def list_sessions(
        caller: Caller,
        since: datetime | None = None,
        until: datetime | None = None,
        principal: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> JSONResponse:
        """Sessions newest first; ``since``/``until`` bound their start; ``principal`` is for admins."""
        principal = listed_principal(caller, principal)
        page = await api.store.page(
            principal=principal,
            since=_aware(since),
            until=_aware(until),
            limit=limit,
            after=_decode_cursor(cursor) if cursor else None,
        )
        return JSONResponse(
            {
                "sessions": [session_json(s.session, s.turns) for s in page.sessions],
                "next": _encode_cursor(page.after) if page.after else None,
            }
        )

    @app.get("/api/sessions/{session_id}")
    async def get_session(session_id: str, caller: Caller) -> JSONResponse:
        session = await readable(session_id, caller)
        return JSONResponse(transcript_json(session, await api.store.turns(session_id)))

    @app.get("/api/sessions/{session_id}/export")
    async def export(session_id: str, caller: Caller, format: Literal["json", "text"] = "json") -> Response:
        session = await readable(session_id, caller)
        turns = await api.store.turns(session_id)
        extension = "txt" if format == "text" else "json"
        disposition = {"Content-Disposition": f'attachment; filename="transcript-{session_id}.{extension}"'}
        if format == "text":
            return PlainTextResponse(transcript_text(session, turns), headers=disposition)
        return JSONResponse(transcript_json(session, turns), headers=disposition)

    @app.delete("/api/sessions/{session_id}", status_code=204)
    async def delete_session(session_id: str, caller: Caller) -> Response:
        await readable(session_id, caller)
        await api.store.delete(session_id, datetime.now(UTC))
        return Response(status_code=204)

    for route in probe_routes(ready):
        app.router.routes.append(route)
    return app
