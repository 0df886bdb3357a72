"""The read API (FastAPI), with the transcripts API's credentials and roles: every call carries
``Authorization: Bearer <jwt>`` or ``Authorization: ApiKey <key>``, checked through auth.validate;
a principal sees its own recordings, the admin role sees all; someone else's answers 404, as a
missing one does.

- ``GET /api/recordings?since=&until=&principal=&limit=&cursor=``: newest first, paginated;
- ``GET /api/recordings/{session}``: one recording's metadata, its turns with offsets, and
  ``audioUrl``: a short-lived URL of the audio (S3: presigned; else this API's own, signed), which a
  browser's ``<audio>`` can play and seek without a header;
- ``GET /api/recordings/{session}/audio``: the Ogg Opus bytes, with HTTP Range (206); on S3 a
  redirect to the presigned URL;
- ``DELETE /api/recordings/{session}``: the audio, its index and the catalogue entry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from voice_proto import messages as m
from voice_proto.auth import AuthClient, api_error, caller, listed_principal, may_read
from voice_proto.ops import ReadyCheck, probe_routes, untraced

from .catalogue import Catalogue, Entry, page
from .retention import delete_recording
from .store import ByteRange, ObjectMissing, RecordingStore, StorageError


class Api:
    """What the routes need: the store, the catalogue, the auth client and the URL signer."""

    def __init__(
        self,
        store: RecordingStore,
        catalogue: Catalogue,
        auth: AuthClient,
        *,
        url_secret: str,
        url_seconds: int,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.auth = auth
        self.url_secret = url_secret.encode()
        self.url_seconds = url_seconds

    def signature(self, session_id: str, expires: int) -> str:
        digest = hmac.new(self.url_secret, f"{session_id}|{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def signed_path(self, session_id: str) -> str:
        expires = int(time.time()) + self.url_seconds
        signature = self.signature(session_id, expires)
        return f"/api/recordings/{session_id}/audio?expires={expires}&signature={signature}"

    def signature_ok(self, session_id: str, expires: int, signature: str) -> bool:
        return expires >= time.time() and hmac.compare_digest(self.signature(session_id, expires), signature)


def _encode_cursor(after: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(f"{after[0]!r}|{after[1]}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        at, _, session_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return float(at), session_id
    except ValueError:
        raise api_error(400, "bad_cursor") from None


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> ByteRange | None:
    """One ``bytes=first-last`` / ``first-`` / ``-suffix`` range of a ``size``-byte object; None when
    the header asks for something else (several ranges): the whole object is then sent. Raises
    HTTPException 416 when the range lies outside the object."""
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first_text, last_text = match.groups()
    if not first_text:
        first, last = max(0, size - int(last_text)), size - 1
    else:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise HTTPException(
            416, detail={"error": "range_not_satisfiable"}, headers={"Content-Range": f"bytes */{size}"}
        )
    return ByteRange(first, last)


def entry_json(entry: Entry, audio_url: str | None = None) -> dict[str, object]:
    data: dict[str, object] = {
        "sessionId": entry.session_id,
        "principal": entry.principal,
        "startedAt": entry.started_at,
        "endedAt": entry.ended_at,
        "duration": entry.duration,
        "size": entry.size,
        "contentType": entry.content_type,
        "storage": entry.storage,
        "turns": entry.turns,
    }
    if audio_url is not None:
        data["audioUrl"] = audio_url
    return data


Caller = Annotated[m.ValidateReply, Depends(caller)]


def create_app(api: Api, ready: ReadyCheck, *, cors_origins: list[str] | None = None) -> FastAPI:
    app = FastAPI(title="voice recordings", docs_url="/docs", redoc_url=None, telemetry={"exclude": untraced})
    app.state.auth = api.auth
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "DELETE"],
            allow_headers=["Authorization", "Range"],
            expose_headers=["Content-Range", "Accept-Ranges", "Content-Length"],
        )

    @app.exception_handler(StorageError)
    async def storage_unavailable(_request: Request, _exc: StorageError) -> JSONResponse:
        return JSONResponse(
            {"detail": {"error": "storage_unavailable"}}, status_code=503, headers={"Retry-After": "2"}
        )

    async def readable(session_id: str, caller: m.ValidateReply) -> Entry:
        entry = await api.catalogue.get(session_id)
        if entry is None or not may_read(caller, entry.principal):
            raise api_error(404, "not_found")
        return entry

    async def audio_url(entry: Entry) -> str:
        presigned = await api.store.presigned_url(entry.key, api.url_seconds)
        return presigned if presigned is not None else api.signed_path(entry.session_id)

    @app.get("/api/recordings")
    async def list_recordings(
        caller: Caller,
        since: datetime | None = None,
        until: datetime | None = None,
        principal: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> JSONResponse:
        """Recordings newest first; ``since``/``until`` bound their start; ``principal`` is for admins."""
        principal = listed_principal(caller, principal)
        entries, after = page(
            await api.catalogue.entries(),
            principal=principal,
            since=since.timestamp() if since else None,
            until=until.timestamp() if until else None,
            limit=limit,
            after=_decode_cursor(cursor) if cursor else None,
        )
        return JSONResponse(
            {"recordings": [entry_json(e) for e in entries], "next": _encode_cursor(after) if after else None}
        )

    @app.get("/api/recordings/{session_id}")
    async def get_recording(session_id: str, caller: Caller) -> JSONResponse:
        entry = await readable(session_id, caller)
        return JSONResponse(entry_json(entry, await audio_url(entry)))

    @app.get("/api/recordings/{session_id}/audio")
    async def get_audio(
        session_id: str, request: Request, expires: int | None = None, signature: str | None = None
    ) -> Response:
        """The audio, to a caller with a credential or with the signed URL of ``audioUrl``."""
        if expires is not None and signature is not None:
            if not api.signature_ok(session_id, expires, signature):
                raise api_error(403, "bad_signature")
            entry = await api.catalogue.get(session_id)
            if entry is None:
                raise api_error(404, "not_found")
        else:
            entry = await readable(session_id, await caller(request))
        presigned = await api.store.presigned_url(entry.key, api.url_seconds)
        if presigned is not None:
            return RedirectResponse(presigned, status_code=307)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=60"}
        header = request.headers.get("range")
        byte_range = parse_range(header, entry.size) if header else None
        try:
            data = await api.store.read(entry.key, byte_range)
        except ObjectMissing:
            raise api_error(404, "not_found") from None
        if byte_range is None:
            return Response(data, media_type=entry.content_type, headers=headers)
        headers["Content-Range"] = f"bytes {byte_range.first}-{byte_range.last}/{entry.size}"
        return Response(data, status_code=206, media_type=entry.content_type, headers=headers)

    @app.delete("/api/recordings/{session_id}", status_code=204)
    async def remove_recording(session_id: str, caller: Caller) -> Response:
        entry = await readable(session_id, caller)
        await delete_recording(api.store, api.catalogue, entry)
        return Response(status_code=204)

    for route in probe_routes(ready):
        app.router.routes.append(route)
    return app
