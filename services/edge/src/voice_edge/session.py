"""One browser connection bridged to its session on the bus.

The connection's own task reads the client and decides when to end; NATS callbacks only send to
the client and, when the session must end (fatal error, taken over, worker lost), ask the
connection's task to do it, because ending unsubscribes the very subscription they run in.
Two side jobs run beside the reader: the credential's life (:class:`CredentialWatch`) and the
worker's (:class:`WorkerLink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from collections import deque
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.subscription import Subscription
from opentelemetry import trace
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from voice_proto import Bus, BusError, Delivery, channels
from voice_proto import messages as m
from voice_proto.auth import AuthClient, Credential
from voice_proto.ratelimit import TokenBucket
from voice_proto.telemetry_names import Attr, Placement, Span
from voice_proto.tracecontext import headers_for, trace_id_hex

from . import protocol as p
from .clock import SYSTEM_CLOCK, Clock
from .codec import codec_for
from .credentials import CredentialWatch
from .metrics import placed
from .outcome import CloseRequest, Outcome
from .placement import place_session
from .settings import EdgeSettings
from .turn_spans import TurnSpans
from .worker_link import WorkerLink

log = structlog.get_logger("voice_edge.session")
tracer = trace.get_tracer("voice_edge")

_BYTES_PER_SECOND = m.INPUT_RATE * 2


class EdgeSession:
    def __init__(
        self,
        ws: WebSocket,
        bus: Bus,
        settings: EdgeSettings,
        offer: p.Offer,
        identity: m.ValidateReply,
        auth: AuthClient,
        clock: Clock = SYSTEM_CLOCK,
        *,
        recorded: bool = False,
    ) -> None:
        self.ws = ws
        #: The session is recorded (the deployment records, and the client did not opt out).
        self.recorded = recorded
        self.bus = bus
        self.settings = settings
        self.offer = offer
        self.codec = codec_for(offer.protocol, max_text_chars=settings.max_text_chars)
        self.conn_id = secrets.token_hex(8)
        self.id = ""
        self.resume_token = ""
        self.history: deque[m.HistoryTurn] = deque(maxlen=settings.history_turns)
        #: The highest turn id seen on this session (its worker's ledger numbers turns; a worker
        #: that takes the session over goes on above it: ``SessionStart.next_turn_id``).
        self.last_turn_id = 0
        self._clock = clock
        self._log = log.bind(conn_id=self.conn_id, principal=identity.principal)
        source = ws.client.host if ws.client else ""
        self.credentials = CredentialWatch(
            identity,
            offer.credential,
            validate=functools.partial(auth.validate, source=source),
            renew_notice=settings.auth_renew_notice,
            tell=self._send_event,
            close=self.request_close,
            clock=clock,
            log=self._log,
        )
        #: Made once the session is placed or resumed (it needs the session id).
        self.worker: WorkerLink
        self._subscriptions: list[Subscription] = []
        self._ready = asyncio.Event()
        self._closing: asyncio.Future[CloseRequest] = asyncio.get_running_loop().create_future()
        #: Done when the connection has been wound up (the edge waits for it on shutdown).
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._headers: dict[str, str] | None = None
        self.turn_spans = TurnSpans()
        self._audio_seq = 0
        self._bucket = TokenBucket(
            _BYTES_PER_SECOND, _BYTES_PER_SECOND * settings.audio_burst_seconds, clock.monotonic
        )
        per_minute = settings.max_errors_per_minute
        self._error_budget = TokenBucket(per_minute / 60, per_minute, clock.monotonic)

    # --- the connection's life -------------------------------------------------------------------

    async def run(self, resume_session: str | None) -> None:
        try:
            await self._run(resume_session)
        finally:
            self.finished.set_result(None)

    async def _run(self, resume_session: str | None) -> None:
        with tracer.start_as_current_span(
            Span.EDGE_SESSION,
            kind=trace.SpanKind.SERVER,
            attributes={
                Attr.CLIENT_PROTOCOL: self.offer.protocol,
                Attr.SESSION_RESUME: resume_session is not None,
            },
        ) as span:
            self._headers = headers_for()
            self._log = self._log.bind(trace_id=trace_id_hex())
            if resume_session is not None:
                capabilities = await self._resume(resume_session)
            else:
                capabilities = await self._start()
            span.set_attribute(Attr.SESSION_ID, self.id)
            self.turn_spans.session_id = self.id
            if capabilities is None:
                return
            self._log = self.credentials.log = self._log.bind(session_id=self.id)
            self.worker = WorkerLink(
                self.bus,
                self.id,
                settings=self.settings,
                handover_request=functools.partial(self._session_start, handover=True),
                tell=self._send_event,
                close=self.request_close,
                capabilities=capabilities,
                clock=self._clock,
                headers=self._headers,
                log=self._log,
            )
            await self.ws.accept(subprotocol=self.offer.selected)
            await self._send_text(
                p.session_event(
                    self.id,
                    self.resume_token,
                    capabilities,
                    self.credentials.bearer_expiry(),
                    recorded=self.recorded,
                )
            )
            self._ready.set()
            request = await self._serve()
            span.set_attribute(Attr.SESSION_OUTCOME, request.outcome.value)
            await self._finish(request)

    def _session_start(self, *, handover: bool = False) -> m.SessionStart:
        """What a worker is asked to take the session with: new, or moved with its finished turns."""
        identity = self.credentials.identity
        return m.SessionStart(
            session_id=self.id,
            principal=identity.principal,
            roles=list(identity.roles),
            handover=handover,
            resume_token=self.resume_token,
            history=list(self.history),
            greet=not handover,
            next_turn_id=self.last_turn_id + 1,
            recorded=self.recorded,
        )

    async def _start(self) -> list[str] | None:
        """Place a new session; the claiming worker's capabilities, or None when none took it."""
        self.id = secrets.token_urlsafe(18)  # 24 characters of A-Z a-z 0-9 _ -
        await self._subscribe_outputs()
        claim = await place_session(
            self.bus, self._session_start(), timeout=self.settings.start_timeout, clock=self._clock
        )
        if claim is None:
            self._log.warning("no worker took the session", session_id=self.id)
            placed(Placement.NO_WORKER)
            await self._unsubscribe()
            await self._refuse(p.Close.TRY_AGAIN_LATER, "no worker available")
            return None
        self.resume_token = claim.resume_token
        placed(Placement.PLACED)
        trace.get_current_span().set_attribute(Attr.WORKER_ID, claim.worker_id)
        self._log.info("session placed", session_id=self.id, worker=claim.worker_id)
        return claim.capabilities

    async def _resume(self, session_id: str) -> list[str] | None:
        """Take the session over from its last connection; its worker's capabilities, or None
        when the resume was refused."""
        try:
            self.id = channels.check_session_id(session_id)
        except channels.InvalidSessionId:
            await self._refuse(p.Close.BAD_OFFER, "malformed session id")
            return None
        await self._subscribe_outputs()
        control = m.Control(
            kind=m.ControlKind.RESUME,
            token=self.offer.resume_token,
            principal=self.credentials.identity.principal,
            conn_id=self.conn_id,
        )
        try:
            reply: m.ControlReply
            reply, delivery = await self.bus.ask(
                channels.IN_CONTROL, control, session_id=self.id, timeout=self.settings.auth_timeout
            )
            refusal = "" if reply.ok else reply.reason
            # A new connection makes a new trace; it links to the session's (the worker's span).
            session_span = trace.get_current_span(delivery.trace_context()).get_span_context()
            if session_span.is_valid:
                trace.get_current_span().add_link(session_span, {Attr.SESSION_ID: self.id})
        except BusError:
            refusal = m.ResumeRefusal.EXPIRED  # nobody owns the session any more
        if refusal:
            self._log.info("resume refused", session_id=self.id, reason=refusal)
            placed(Placement.RESUME_REFUSED)
            await self._unsubscribe()
            await self._refuse(p.Close.RESUME_REFUSED, f"resume refused: {refusal}")
            return None
        self.resume_token = self.offer.resume_token
        placed(Placement.RESUMED)
        self.last_turn_id = max(self.last_turn_id, reply.next_turn_id - 1)
        self._log.info("session resumed", session_id=self.id)
        return reply.capabilities

    async def _refuse(self, code: int, reason: str) -> None:
        await self.ws.accept(subprotocol=self.offer.selected)
        await self.ws.close(code, reason)

    async def _serve(self) -> CloseRequest:
        reader = asyncio.create_task(self._read_client(), name=f"read-{self.id}")
        helpers = [
            asyncio.create_task(self.worker.run(), name=f"worker-{self.id}"),
            asyncio.create_task(self.credentials.run(), name=f"credentials-{self.id}"),
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

    def request_close(self, request: CloseRequest) -> None:
        if not self._closing.done():
            self._closing.set_result(request)

    async def _finish(self, request: CloseRequest) -> None:
        if (control := request.outcome.control) is not None:
            await self.worker.control(*control)
        await self._unsubscribe()
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(request.code, request.reason)
        self._log.info("connection closed", outcome=request.outcome.value, code=request.code)

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
                    received = self.codec.decode_binary(data)
                else:
                    received = self.codec.decode_text(text or "")
                closing = await self._on_message(received)
            except p.ProtocolError as exc:
                closing = await self._on_bad_message(exc)
            if closing is not None:
                return closing

    async def _on_message(self, message: p.ClientMessage) -> CloseRequest | None:
        match message:
            case p.ClientAudio():
                return await self._on_audio(message)
            case p.ClientText(text):
                self.turn_spans.client_input(audio=False)
                await self.bus.publish(
                    channels.IN_TEXT, m.TextIn(text=text), session_id=self.id, headers=self._headers
                )
            case p.ClientEnd():
                return CloseRequest(p.Close.NORMAL, "session ended", Outcome.HANGUP)
            case p.ClientAuth(token):
                await self.credentials.renew(Credential(m.CredentialScheme.BEARER, token))
        return None

    async def _on_audio(self, audio: p.ClientAudio) -> CloseRequest | None:
        if audio.pcm:
            if not self._bucket.take(len(audio.pcm)):
                await self._send_error(p.ErrorCode.RATE_LIMITED, "audio arrives faster than real time")
                return CloseRequest(p.Close.RATE_LIMITED, "audio faster than real time", Outcome.ABUSE)
            self._audio_seq += 1
            self.turn_spans.client_input(audio=True)
            await self.bus.publish(
                channels.IN_AUDIO,
                m.AudioIn(seq=self._audio_seq, pcm=audio.pcm),
                session_id=self.id,
                headers=self._headers,
            )
        if audio.end_of_utterance:
            await self.worker.control(m.ControlKind.END_OF_UTTERANCE)
        return None

    async def _on_bad_message(self, exc: p.ProtocolError) -> CloseRequest | None:
        self._log.info("bad client message", code=exc.code.value)
        await self._send_error(exc.code, exc.message)
        if not self._error_budget.take(1):
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
                channels.OUT_AUDIO: self._when_ready(self._on_out_audio),
                channels.OUT_EVENT: self._when_ready(self._on_out_event),
                channels.TRANSCRIPT: self._when_ready(self._on_transcript),
            },
        )
        self._subscriptions = [outputs]

    def _when_ready[T](
        self, handler: Callable[[T, Delivery], Awaitable[None]]
    ) -> Callable[[T, Delivery], Awaitable[None]]:
        async def gated(message: T, delivery: Delivery) -> None:
            if not self._ready.is_set():
                await self._ready.wait()
            await handler(message, delivery)

        return gated

    async def _unsubscribe(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    # No guard against audio of interrupted turns here: the worker's turn ledger is the one place
    # that drops it, before it is published, and one subscription delivers in publishing order.

    async def _on_out_audio(self, audio: m.AudioOut, delivery: Delivery) -> None:
        self._saw_turn(audio.turn_id)
        self.turn_spans.audio_out(audio, delivery)
        await self._send(self.codec.audio_out(audio.pcm))

    def _saw_turn(self, turn_id: int) -> None:
        if turn_id > self.last_turn_id:
            self.last_turn_id = turn_id

    async def _on_out_event(self, event: m.OutEvent, delivery: Delivery) -> None:
        self.turn_spans.event(event, delivery)
        if (turn_id := getattr(event, "turn_id", 0)) > 0:
            self._saw_turn(turn_id)
        match event:
            case m.Heartbeat():
                self.worker.heartbeat()
                return
            case m.HandoverRequested():
                self.worker.released()
                return
            case m.Resumed(conn_id=conn_id):
                if conn_id != self.conn_id:
                    self.request_close(
                        CloseRequest(p.Close.TAKEN_OVER, "session resumed elsewhere", Outcome.TAKEN_OVER)
                    )
                return
        rendered = p.out_event(event)
        if rendered is not None:
            await self._send_text(rendered)
        if isinstance(event, m.ErrorEvent) and event.fatal:
            self.request_close(CloseRequest(p.Close.INTERNAL_ERROR, "session failed", Outcome.FAILED))

    async def _on_transcript(self, transcript: m.Transcript, _delivery: Delivery) -> None:
        self._saw_turn(transcript.turn_id)
        if transcript.stage is m.Stage.FINAL and transcript.text:
            self.history.append(m.HistoryTurn(role=transcript.role, text=transcript.text))
        await self._send_text(p.transcript_event(transcript))

    async def _send(self, message: Message) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.send(message)

    async def _send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def _send_event(self, event: p.ServerEvent) -> None:
        await self._send_text(p.encode(event))

    async def _send_error(self, code: p.ErrorCode, message: str) -> None:
        await self._send_event(p.ErrorEvent(code, message))
