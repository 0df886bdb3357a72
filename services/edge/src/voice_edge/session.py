"""One browser connection bridged to its session on the bus.

The connection's own task reads the client and decides when to end; NATS callbacks only send to
the client and, when the session must end (fatal error, taken over, worker lost), ask the
connection's task to do it, because ending unsubscribes the very subscription they run in.
Three side jobs run beside the reader: the credential's life (:class:`CredentialWatch`), the
worker's (:class:`WorkerLink`), and the session's state in the bus (:class:`StateKeeper`: finished
turns, owner, what the client was sent), which a resume on another edge reads back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import secrets
from collections import deque
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.subscription import Subscription
from opentelemetry import trace
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from voice_proto import Bus, BusError, Delivery, NoResponders, channels
from voice_proto import messages as m
from voice_proto.auth import AuthClient, Credential
from voice_proto.ratelimit import TokenBucket
from voice_proto.session_state import SessionStore, token_hash
from voice_proto.telemetry_names import Attr, Placement, Span
from voice_proto.tracecontext import headers_for, trace_id_hex

from . import protocol as p
from .clock import SYSTEM_CLOCK, Clock
from .codec import codec_for
from .credentials import CredentialWatch
from .metrics import count_placement
from .outcome import CloseRequest, Outcome
from .placement import place_session
from .settings import EdgeSettings
from .state import StateKeeper
from .turn_spans import TurnSpans
from .worker_link import EngineTraits, WorkerLink

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
        store: SessionStore | None = None,
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
        #: The worker's last answer was cut short by its shutdown (``TurnEnded`` reason
        #: ``handover``): the next worker answers again (``SessionStart.answer_again``).
        self.answer_cut_short = False
        self._store = store
        #: Made with the session id.
        self.state: StateKeeper
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
        self._bucket = TokenBucket(
            _BYTES_PER_SECOND, _BYTES_PER_SECOND * settings.audio_burst_seconds, clock.monotonic
        )
        per_minute = settings.max_errors_per_minute
        self._error_budget = TokenBucket(per_minute / 60, per_minute, clock.monotonic)
        self._text_budget = TokenBucket(settings.text_per_minute / 60, settings.text_burst, clock.monotonic)

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
            # Every way out of here releases what was taken: the output subscription always, and a
            # session placed or resumed is told how this connection ended, even when it ends by an
            # exception or a cancellation (a client gone during the handshake makes accept raise).
            # Until the reader decides otherwise, leaving means: a new session nobody can resume
            # (its client never had the resume token) ends; a resumed one waits again.
            left = Outcome.ABANDONED if resume_session is None else Outcome.CLIENT_GONE
            request = CloseRequest(p.Close.NORMAL, "", left)
            placed = False
            try:
                if resume_session is not None:
                    engine = await self._resume(resume_session)
                else:
                    engine = await self._start()
                span.set_attribute(Attr.SESSION_ID, self.id)
                self.turn_spans.session_id = self.id
                if engine is None:
                    return
                placed = True
                self._log = self.credentials.log = self._log.bind(session_id=self.id)
                self.worker = WorkerLink(
                    self.bus,
                    self.id,
                    settings=self.settings,
                    handover_request=functools.partial(self._session_start, handover=True),
                    tell=self._send_event,
                    close=self.request_close,
                    engine=engine,
                    moved=lambda: self.state.changed(),
                    clock=self._clock,
                    headers=self._headers,
                    log=self._log,
                )
                await self.ws.accept(subprotocol=self.offer.selected)
                expiry = self.credentials.bearer_expiry()
                await self._send_text(
                    p.session_event(
                        self.id,
                        self.resume_token,
                        engine.capabilities,
                        expiry,
                        output_rate=engine.output_rate,
                        recorded=self.recorded,
                    )
                )
                self._ready.set()
                self.state.changed()
                # From here the client holds the resume token: leaving by an exception suspends.
                request = CloseRequest(p.Close.NORMAL, "", Outcome.CLIENT_GONE)
                request = await self._serve()
            finally:
                if placed:
                    span.set_attribute(Attr.SESSION_OUTCOME, request.outcome.value)
                    await self._finish(request)
                else:
                    await self._unsubscribe()

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
            answer_again=handover and self.answer_cut_short,
            recorded=self.recorded,
        )

    def _snapshot(self) -> m.SessionState:
        """The session's state as it stands, for the bus."""
        return m.SessionState(
            principal=self.credentials.identity.principal,
            owner=self.worker.owner,
            next_turn_id=self.last_turn_id + 1,
            history=list(self.history),
            resume_token_hash=token_hash(self.resume_token),
            delivered_event_seq=self.worker.delivered_event_seq,
            delivered_transcript_seq=self.worker.delivered_transcript_seq,
            updated_at=self._clock.time(),
        )

    async def _start(self) -> EngineTraits | None:
        """Place a new session; what the claiming worker's engine declared, or None when none took it."""
        self.id = secrets.token_urlsafe(18)  # 24 characters of A-Z a-z 0-9 _ -
        self.state = StateKeeper(self._store, self.id, self._log.bind(session_id=self.id))
        await self._subscribe_outputs()
        claim = await place_session(
            self.bus, self._session_start(), timeout=self.settings.start_timeout, clock=self._clock
        )
        if claim is None:
            self._log.warning("no worker took the session", session_id=self.id)
            count_placement(Placement.NO_WORKER)
            await self._unsubscribe()
            await self._refuse(p.Close.TRY_AGAIN_LATER, "no worker available")
            return None
        self.resume_token = claim.resume_token
        count_placement(Placement.PLACED)
        trace.get_current_span().set_attribute(Attr.WORKER_ID, claim.worker_id)
        self._log.info("session placed", session_id=self.id, worker=claim.worker_id)
        return EngineTraits.of(claim)

    async def _resume(self, session_id: str) -> EngineTraits | None:
        """Take the session over from its last connection; what its worker's engine declared, or
        None when the resume was refused."""
        try:
            self.id = channels.check_session_id(session_id)
        except channels.InvalidSessionId:
            await self._refuse(p.Close.BAD_OFFER, "malformed session id")
            return None
        self.state = StateKeeper(self._store, self.id, self._log.bind(session_id=self.id))
        saved = await self.state.load()
        if saved is not None and saved.principal != self.credentials.identity.principal:
            saved = None
        await self._subscribe_outputs()
        control = m.Control(
            kind=m.ControlKind.RESUME,
            token=self.offer.resume_token,
            principal=self.credentials.identity.principal,
            conn_id=self.conn_id,
        )
        if saved is not None:
            # The conversation so far, for the next worker if the session moves again.
            self.history.extend(saved.history)
            self.last_turn_id = max(self.last_turn_id, saved.next_turn_id - 1)
            # How far the last edge sent the client its events (it may have died without saying).
            control.worker_id = saved.owner
            control.delivered_event_seq = saved.delivered_event_seq
            control.delivered_transcript_seq = saved.delivered_transcript_seq
        try:
            reply: m.ControlReply
            reply, delivery = await self.bus.ask(
                channels.IN_CONTROL, control, session_id=self.id, timeout=self.settings.auth_timeout
            )
            # A new connection makes a new trace; it links to the session's (the worker's span).
            session_span = trace.get_current_span(delivery.trace_context()).get_span_context()
            if session_span.is_valid:
                trace.get_current_span().add_link(session_span, {Attr.SESSION_ID: self.id})
        except NoResponders:  # nobody owns the session any more
            reply = await self._revive(saved)
        except BusError:
            reply = m.ControlReply(ok=False, reason=m.ResumeRefusal.EXPIRED)
        refusal = "" if reply.ok else reply.reason
        if refusal:
            self._log.info("resume refused", session_id=self.id, reason=refusal)
            count_placement(Placement.RESUME_REFUSED)
            await self._unsubscribe()
            await self._refuse(p.Close.RESUME_REFUSED, f"resume refused: {refusal}")
            return None
        self.resume_token = self.offer.resume_token
        count_placement(Placement.RESUMED)
        self.last_turn_id = max(self.last_turn_id, reply.next_turn_id - 1)
        self._log.info("session resumed", session_id=self.id, history=len(self.history))
        return EngineTraits.of(reply)

    async def _revive(self, saved: m.SessionState | None) -> m.ControlReply:
        """The answer to a resume of a session nobody owns (its worker died while no edge carried
        it): placed again from its state in the bus, when the client holds its resume token and
        the state was written within ``settings.revive_window`` seconds (a session whose resume
        window passed stays ended)."""
        expired = m.ControlReply(ok=False, reason=m.ResumeRefusal.EXPIRED)
        if saved is None or self._clock.time() - saved.updated_at > self.settings.revive_window:
            return expired
        if not hmac.compare_digest(token_hash(self.offer.resume_token), saved.resume_token_hash):
            return m.ControlReply(ok=False, reason=m.ResumeRefusal.BAD_TOKEN)
        self.resume_token = self.offer.resume_token
        start = self._session_start(handover=True)
        claim = await place_session(self.bus, start, timeout=self.settings.start_timeout, clock=self._clock)
        if claim is None:
            return expired
        self._log.info("session revived from its state", worker=claim.worker_id, history=len(start.history))
        return m.ControlReply(
            ok=True,
            capabilities=claim.capabilities,
            output_rate=claim.output_rate,
            next_turn_id=start.next_turn_id,
        )

    async def _refuse(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # gone already
            await self.ws.accept(subprotocol=self.offer.selected)
            await self.ws.close(code, reason)

    async def _serve(self) -> CloseRequest:
        reader = asyncio.create_task(self._read_client(), name=f"read-{self.id}")
        helpers = [
            asyncio.create_task(self.worker.run(), name=f"worker-{self.id}"),
            asyncio.create_task(self.credentials.run(), name=f"credentials-{self.id}"),
            asyncio.create_task(self.state.run(self._snapshot), name=f"state-{self.id}"),
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
        """Tell the worker how the connection ended, let go of the session's output, close."""
        if (control := request.outcome.control) is not None:
            await self.worker.control(*control)
            if control[0] is m.ControlKind.HANGUP:
                await self.state.forget()
            else:  # the client may resume, here or on another edge
                await self.state.save(self._snapshot())
        await self._unsubscribe()
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(request.code, request.reason)
        self._log.info(
            "connection closed",
            outcome=request.outcome.value,
            code=request.code,
            audio_dropped=self.worker.audio_dropped,
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
                if not self._text_budget.take(1):
                    raise p.ProtocolError(
                        p.ErrorCode.TEXT_RATE_LIMITED,
                        f"typed text is limited to {self.settings.text_per_minute} a minute",
                    )
                self.turn_spans.client_input(audio=False)
                await self.worker.send_text(text)
            case p.ClientEnd():
                return CloseRequest(p.Close.NORMAL, "session ended", Outcome.HANGUP)
            case p.ClientAuth(token):
                await self.credentials.renew(Credential(m.CredentialScheme.BEARER, token))
            case p.ClientPlayed(turn_id, played_ms):
                played = m.Control(kind=m.ControlKind.PLAYED, turn_id=turn_id, played_ms=played_ms)
                await self.worker.send(played)
        return None

    async def _on_audio(self, audio: p.ClientAudio) -> CloseRequest | None:
        if audio.pcm:
            if not self._bucket.take(len(audio.pcm)):
                await self._send_error(p.ErrorCode.RATE_LIMITED, "audio arrives faster than real time")
                return CloseRequest(p.Close.RATE_LIMITED, "audio faster than real time", Outcome.ABUSE)
            self.turn_spans.client_input(audio=True)
            await self.worker.send_audio(audio.pcm)
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
                self.worker.heartbeat(event)
                return
            case m.HandoverRequested():
                self.worker.released()
                return
            case m.TurnEnded(role=m.Role.ASSISTANT, reason=reason):
                self.answer_cut_short = reason == m.TurnEndReason.HANDOVER
            case m.Resumed(conn_id=conn_id):
                if conn_id != self.conn_id:
                    self.request_close(
                        CloseRequest(p.Close.TAKEN_OVER, "session resumed elsewhere", Outcome.TAKEN_OVER)
                    )
                return
            case m.MissedTranscript(transcript=transcript):
                await self._on_transcript(transcript, delivery)
                return
        rendered = p.out_event(event)
        if rendered is None or await self._send_text(rendered):
            self.worker.delivered(event_seq=event.seq)
            if isinstance(event, m.TurnEnded):
                self.state.changed()  # how far the client got, for a resume elsewhere
        if isinstance(event, m.ErrorEvent) and event.fatal:
            self.request_close(CloseRequest(p.Close.INTERNAL_ERROR, "session failed", Outcome.FAILED))

    async def _on_transcript(self, transcript: m.Transcript, _delivery: Delivery) -> None:
        self._saw_turn(transcript.turn_id)
        if transcript.stage is m.Stage.FINAL and transcript.text:
            self.history.append(m.HistoryTurn(role=transcript.role, text=transcript.text))
            self.state.changed()
        if await self._send_text(p.transcript_event(transcript)):
            self.worker.delivered(transcript_seq=transcript.seq)

    async def _send(self, message: Message) -> bool:
        """False when the client is gone (what it missed is sent again when it resumes)."""
        try:
            await self.ws.send(message)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return False
        return True

    async def _send_text(self, text: str) -> bool:
        return await self._send({"type": "websocket.send", "text": text})

    async def _send_event(self, event: p.ServerEvent) -> None:
        await self._send_text(p.encode(event))

    async def _send_error(self, code: p.ErrorCode, message: str) -> None:
        await self._send_event(p.ErrorEvent(code, message))
