"""One browser connection bridged to its session on the bus.

The connection's own task reads the client and decides when to end; NATS callbacks only send to
the client and, when the session must end (fatal error, taken over, worker lost), ask the
connection's task to do it, because ending unsubscribes the very subscription they run in.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum

import msgspec
import structlog
from nats.aio.subscription import Subscription
from opentelemetry import trace
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from voice_proto import Bus, BusError, Delivery, channels
from voice_proto import messages as m
from voice_proto.auth import AuthClient, Credential
from voice_proto.ratelimit import TokenBucket
from voice_proto.tracecontext import headers_for, trace_id_hex

from . import protocol as p
from .placement import place_session
from .settings import EdgeSettings

log = structlog.get_logger("voice_edge.session")
tracer = trace.get_tracer("voice_edge")

_BYTES_PER_SECOND = m.INPUT_RATE * 2


class Outcome(Enum):
    """How a connection ended, which decides what the worker is told."""

    HANGUP = "hangup"  # the client sent end: the session ends
    CLIENT_GONE = "client_gone"  # the socket dropped: the session waits for a resume
    SHUTDOWN = "edge_shutdown"  # this edge is stopping: the client reconnects and resumes
    ABUSE = "abuse"  # closed for bad behaviour: the session ends
    TAKEN_OVER = "taken_over"  # another connection resumed the session
    FAILED = "failed"  # the session cannot go on (no worker, fatal engine error)
    EXPIRED = "auth_expired"  # the credential expired and was not renewed: the session ends


@dataclass(frozen=True)
class CloseRequest:
    code: int
    reason: str
    outcome: Outcome


def new_session_id() -> str:
    return secrets.token_urlsafe(18)  # 24 characters of A-Z a-z 0-9 _ -


class EdgeSession:
    def __init__(
        self,
        ws: WebSocket,
        bus: Bus,
        settings: EdgeSettings,
        offer: p.Offer,
        identity: m.ValidateReply,
        auth: AuthClient,
    ) -> None:
        self.ws = ws
        self.bus = bus
        self.settings = settings
        self.offer = offer
        self.identity = identity
        self.auth = auth
        #: The credential the session holds now: the offered one, or the last token the client sent.
        self.credential: Credential | None = offer.credential
        self.source = ws.client.host if ws.client else ""
        self._renewed = asyncio.Event()
        self.binary = offer.protocol == p.BINARY_PROTOCOL
        self.conn_id = secrets.token_hex(8)
        self.id = ""
        self.resume_token = ""
        self.history: deque[m.HistoryTurn] = deque(maxlen=settings.history_turns)
        self.interrupted: set[int] = set()
        self._log = log.bind(conn_id=self.conn_id, principal=identity.principal)
        self._subscriptions: list[Subscription] = []
        self._ready = asyncio.Event()
        self._closing: asyncio.Future[CloseRequest] = asyncio.get_running_loop().create_future()
        #: Done when the connection has been wound up (the edge waits for it on shutdown).
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handover_now = asyncio.Event()
        self._last_heartbeat = time.monotonic()
        self._headers: dict[str, str] | None = None
        self._audio_seq = 0
        self._bucket = TokenBucket(_BYTES_PER_SECOND, _BYTES_PER_SECOND * settings.audio_burst_seconds)
        self._errors: deque[float] = deque()

    # --- the connection's life -------------------------------------------------------------------

    async def run(self, resume_session: str | None) -> None:
        try:
            await self._run(resume_session)
        finally:
            self.finished.set_result(None)

    async def _run(self, resume_session: str | None) -> None:
        with tracer.start_as_current_span(
            "edge.session",
            kind=trace.SpanKind.SERVER,
            attributes={"client.protocol": self.offer.protocol, "session.resume": resume_session is not None},
        ) as span:
            self._headers = headers_for()
            self._log = self._log.bind(trace_id=trace_id_hex())
            if resume_session is not None:
                attached = await self._resume(resume_session)
            else:
                attached = await self._start()
            span.set_attribute("session.id", self.id)
            if not attached:
                return
            self._log = self._log.bind(session_id=self.id)
            await self.ws.accept(subprotocol=self.offer.selected)
            await self._send_text(p.session_event(self.id, self.resume_token, self._bearer_expiry()))
            self._ready.set()
            request = await self._serve()
            span.set_attribute("session.outcome", request.outcome.value)
            await self._finish(request)

    async def _start(self) -> bool:
        self.id = new_session_id()
        await self._subscribe_outputs()
        start = m.SessionStart(
            session_id=self.id, principal=self.identity.principal, roles=list(self.identity.roles)
        )
        claim = await place_session(self.bus, start, timeout=self.settings.start_timeout)
        if claim is None:
            self._log.warning("no worker took the session", session_id=self.id)
            await self._unsubscribe()
            await self._refuse(p.Close.TRY_AGAIN_LATER, "no worker available")
            return False
        self.resume_token = claim.resume_token
        self._log.info("session placed", session_id=self.id, worker=claim.worker_id)
        return True

    async def _resume(self, session_id: str) -> bool:
        try:
            self.id = channels.check_session_id(session_id)
        except channels.InvalidSessionId:
            await self._refuse(p.Close.BAD_OFFER, "malformed session id")
            return False
        await self._subscribe_outputs()
        control = m.Control(
            kind=m.ControlKind.RESUME,
            token=self.offer.resume_token,
            principal=self.identity.principal,
            conn_id=self.conn_id,
        )
        try:
            reply: m.ControlReply = await self.bus.request(
                channels.IN_CONTROL, control, session_id=self.id, timeout=self.settings.auth_timeout
            )
            refusal = "" if reply.ok else reply.reason
        except BusError:
            refusal = "expired"  # nobody owns the session any more
        if refusal:
            self._log.info("resume refused", session_id=self.id, reason=refusal)
            await self._unsubscribe()
            await self._refuse(p.Close.RESUME_REFUSED, f"resume refused: {refusal}")
            return False
        self.resume_token = self.offer.resume_token
        self._log.info("session resumed", session_id=self.id)
        return True

    async def _refuse(self, code: int, reason: str) -> None:
        await self.ws.accept(subprotocol=self.offer.selected)
        await self.ws.close(code, reason)

    async def _serve(self) -> CloseRequest:
        reader = asyncio.create_task(self._read_client(), name=f"read-{self.id}")
        helpers = [
            asyncio.create_task(self._watch_worker(), name=f"watch-{self.id}"),
            asyncio.create_task(self._keep_alive(), name=f"keepalive-{self.id}"),
            asyncio.create_task(self._watch_expiry(), name=f"expiry-{self.id}"),
        ]
        try:
            done, _ = await asyncio.wait({reader, self._closing}, return_when=asyncio.FIRST_COMPLETED)
            if self._closing in done:
                return self._closing.result()
            return reader.result()
        finally:
            for task in (reader, *helpers):
                task.cancel()
            await asyncio.gather(reader, *helpers, return_exceptions=True)

    def request_close(self, code: int, reason: str, outcome: Outcome) -> None:
        if not self._closing.done():
            self._closing.set_result(CloseRequest(code, reason, outcome))

    async def _finish(self, request: CloseRequest) -> None:
        match request.outcome:
            case Outcome.HANGUP | Outcome.ABUSE:
                await self._control(m.ControlKind.HANGUP)
            case Outcome.CLIENT_GONE | Outcome.SHUTDOWN:
                await self._control(m.ControlKind.CLIENT_GONE)
            case Outcome.FAILED:
                await self._control(m.ControlKind.HANGUP)
            case Outcome.EXPIRED:
                await self._control(m.ControlKind.HANGUP, reason=Outcome.EXPIRED.value)
            case Outcome.TAKEN_OVER:
                pass
        await self._unsubscribe()
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(request.code, request.reason)
        self._log.info("connection closed", outcome=request.outcome.value, code=request.code)

    async def _control(self, kind: m.ControlKind, reason: str = "") -> None:
        with contextlib.suppress(BusError, OSError):
            await self.bus.publish(
                channels.IN_CONTROL,
                m.Control(kind=kind, reason=reason),
                session_id=self.id,
                headers=self._headers,
            )

    # --- client -> bus ---------------------------------------------------------------------------

    async def _read_client(self) -> CloseRequest:
        max_frame = self.settings.max_frame_bytes
        while True:
            try:
                message = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return CloseRequest(p.Close.NORMAL, "", Outcome.CLIENT_GONE)
            if message["type"] == "websocket.disconnect":
                return CloseRequest(p.Close.NORMAL, "", Outcome.CLIENT_GONE)
            data: bytes | None = message.get("bytes")
            text: str | None = message.get("text")
            size = len(data) if data is not None else len(text or "")
            if size > max_frame:
                await self._send_error(
                    p.ErrorCode.FRAME_TOO_LARGE, f"frames are limited to {max_frame} bytes"
                )
                return CloseRequest(p.Close.TOO_BIG, "frame too large", Outcome.ABUSE)
            try:
                if data is not None:
                    if not self.binary:
                        raise p.ProtocolError(
                            p.ErrorCode.UNEXPECTED_BINARY, "binary frames need the voice.v1.binary protocol"
                        )
                    closing = await self._on_audio(p.ClientAudio(p.check_pcm(data)))
                else:
                    closing = await self._on_message(
                        p.parse_text_frame(text or "", max_text_chars=self.settings.max_text_chars)
                    )
            except p.ProtocolError as exc:
                closing = await self._on_bad_message(exc)
            if closing is not None:
                return closing

    async def _on_message(self, message: p.ClientMessage) -> CloseRequest | None:
        match message:
            case p.ClientAudio():
                return await self._on_audio(message)
            case p.ClientText(text):
                await self.bus.publish(
                    channels.IN_TEXT, m.TextIn(text=text), session_id=self.id, headers=self._headers
                )
            case p.ClientEnd():
                return CloseRequest(p.Close.NORMAL, "session ended", Outcome.HANGUP)
            case p.ClientAuth(token):
                await self._renew(Credential(m.CredentialScheme.BEARER, token))
        return None

    async def _on_audio(self, audio: p.ClientAudio) -> CloseRequest | None:
        if audio.pcm:
            if not self._bucket.take(len(audio.pcm)):
                await self._send_error(p.ErrorCode.RATE_LIMITED, "audio arrives faster than real time")
                return CloseRequest(p.Close.RATE_LIMITED, "audio faster than real time", Outcome.ABUSE)
            self._audio_seq += 1
            await self.bus.publish(
                channels.IN_AUDIO,
                m.AudioIn(seq=self._audio_seq, pcm=audio.pcm),
                session_id=self.id,
                headers=self._headers,
            )
        if audio.end_of_utterance:
            await self._control(m.ControlKind.END_OF_UTTERANCE)
        return None

    async def _on_bad_message(self, exc: p.ProtocolError) -> CloseRequest | None:
        self._log.info("bad client message", code=exc.code.value)
        await self._send_error(exc.code, exc.message)
        now = time.monotonic()
        self._errors.append(now)
        while self._errors and self._errors[0] < now - 60:
            self._errors.popleft()
        if len(self._errors) > self.settings.max_errors_per_minute:
            await self._send_error(p.ErrorCode.TOO_MANY_ERRORS, "too many bad messages")
            return CloseRequest(p.Close.POLICY_VIOLATION, "too many bad messages", Outcome.ABUSE)
        return None

    # --- bus -> client ---------------------------------------------------------------------------

    async def _subscribe_outputs(self) -> None:
        # Subscribed before the worker is asked, so nothing it says first (a greeting) is missed;
        # the handlers hold it until the client has its session event. One subscription for all
        # three channels, so the client gets them in the order the worker published them.
        outputs = await self.bus.subscribe_session(
            self.id,
            {
                channels.OUT_AUDIO: self._on_out_audio,
                channels.OUT_EVENT: self._on_out_event,
                channels.TRANSCRIPT: self._on_transcript,
            },
        )
        self._subscriptions = [outputs]

    async def _unsubscribe(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _on_out_audio(self, audio: m.AudioOut, _delivery: Delivery) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        if audio.turn_id in self.interrupted:
            return  # still in flight when the user barged in
        if self.binary:
            await self._send_bytes(audio.pcm)
        else:
            await self._send_text(p.media_event(audio.pcm))

    async def _on_out_event(self, event: m.OutEvent, _delivery: Delivery) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        match event:
            case m.Heartbeat():
                self._last_heartbeat = time.monotonic()
                return
            case m.HandoverRequested():
                self._handover_now.set()
                return
            case m.Resumed(conn_id=conn_id):
                if conn_id != self.conn_id:
                    self.request_close(p.Close.TAKEN_OVER, "session resumed elsewhere", Outcome.TAKEN_OVER)
                return
            case m.Interrupted():
                self.interrupted.add(event.turn_id)
        rendered = p.out_event(event)
        if rendered is not None:
            await self._send_text(rendered)
        if isinstance(event, m.ErrorEvent) and event.fatal:
            self.request_close(p.Close.INTERNAL_ERROR, "session failed", Outcome.FAILED)

    async def _on_transcript(self, transcript: m.Transcript, _delivery: Delivery) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        if transcript.stage is m.Stage.FINAL and transcript.text:
            self.history.append(m.HistoryTurn(role=transcript.role, text=transcript.text))
        await self._send_text(p.transcript_event(transcript))

    async def _send_text(self, text: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.send_text(text)

    async def _send_bytes(self, data: bytes) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.send_bytes(data)

    async def _send_error(self, code: p.ErrorCode, message: str) -> None:
        await self._send_text(p.error_event(code, message))

    # --- credential expiry and renewal ------------------------------------------------------------

    def _bearer_expiry(self) -> float:
        if self.credential is not None and self.credential.scheme is m.CredentialScheme.BEARER:
            return self.identity.expires_at
        return 0.0

    async def _renew(self, credential: Credential) -> None:
        """A fresh token from the client: the session goes on under it if it names the same principal."""
        try:
            reply = await self.auth.validate(credential, self.source)
        except BusError:
            await self._send_error(p.ErrorCode.AUTH_UNAVAILABLE, "cannot check the token now; try again")
            return
        if not reply.ok:
            self._log.info("token renewal refused", reason=reply.reason)
            await self._send_error(p.ErrorCode.AUTH_REFUSED, f"token refused: {reply.reason}")
            return
        if reply.principal != self.identity.principal:
            await self._send_error(p.ErrorCode.AUTH_REFUSED, "the token is for another principal")
            return
        self.identity, self.credential = reply, credential
        self._renewed.set()
        await self._send_text(p.auth_event("refreshed", self._bearer_expiry()))

    async def _until(self, when: float) -> bool:
        """Wait until the wall-clock time ``when``; True if the credential was renewed meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._renewed.wait(), max(0.0, when - time.time()))
        return self._renewed.is_set()

    async def _watch_expiry(self) -> None:
        """End the session when its credential expires and was not renewed.

        A bearer session is told ``expiring`` ahead of time so the client can send a fresh token.
        An API key's answer also expires (so a revoked key stops working): it is checked again.
        """
        while expires_at := self.identity.expires_at:
            self._renewed.clear()  # a renewal from here on wakes the waits below
            notice_at = expires_at - self.settings.auth_renew_notice
            if self._bearer_expiry() and time.time() < notice_at:
                if await self._until(notice_at):
                    continue
                await self._send_text(p.auth_event("expiring", expires_at))
            if await self._until(expires_at):
                continue
            if self.credential is not None and self.credential.scheme is m.CredentialScheme.API_KEY:
                try:
                    reply = await self.auth.validate(self.credential, self.source)
                except BusError:
                    self.identity = msgspec.structs.replace(self.identity, expires_at=time.time() + 30)
                    continue  # auth is down: not the client's fault, ask again shortly
                if reply.ok and reply.expires_at > time.time():
                    self.identity = reply
                    continue
            self._log.info(
                "credential expired", scheme=self.credential.scheme.value if self.credential else ""
            )
            await self._send_error(p.ErrorCode.AUTH_EXPIRED, "the credential expired; sign in again")
            self.request_close(p.Close.AUTH_EXPIRED, "credential expired", Outcome.EXPIRED)
            return

    # --- worker health and handover --------------------------------------------------------------

    async def _keep_alive(self) -> None:
        """Tell the worker this edge still serves the session (if we die, it suspends the session)."""
        while True:
            await asyncio.sleep(self.settings.keepalive_interval)
            await self._control(m.ControlKind.KEEPALIVE)

    async def _watch_worker(self) -> None:
        """Move the session to another worker when its worker stops beating or lets it go."""
        timeout = self.settings.heartbeat_timeout
        self._last_heartbeat = time.monotonic()
        while True:
            wait = self._last_heartbeat + timeout - time.monotonic()
            if wait > 0 and not self._handover_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._handover_now.wait(), wait)
                continue
            reason = "worker_released" if self._handover_now.is_set() else "heartbeat_lost"
            self._handover_now.clear()
            if not await self._hand_over(reason):
                return

    async def _hand_over(self, reason: str) -> bool:
        with tracer.start_as_current_span(
            "edge.handover", attributes={"session.id": self.id, "reason": reason}
        ):
            self._log.warning("handing the session over", reason=reason)
            start = m.SessionStart(
                session_id=self.id,
                principal=self.identity.principal,
                roles=list(self.identity.roles),
                handover=True,
                resume_token=self.resume_token,
                history=list(self.history),
                greet=False,
            )
            claim = await place_session(self.bus, start, timeout=self.settings.start_timeout)
        if claim is not None:
            self._last_heartbeat = time.monotonic()
            self._log.info("session handed over", worker=claim.worker_id)
            return True
        await self._send_error(
            p.ErrorCode.WORKER_LOST, "the session's worker stopped and no other is available"
        )
        lifecycle = m.Lifecycle(
            kind=m.LifecycleKind.ENDED,
            principal=self.identity.principal,
            reason="worker_lost",
            at=time.time(),
        )
        with contextlib.suppress(BusError, OSError):
            await self.bus.publish(channels.LIFECYCLE, lifecycle, session_id=self.id, headers=self._headers)
        self.request_close(p.Close.TRY_AGAIN_LATER, "worker lost", Outcome.FAILED)
        return False
