"""Typed publish, subscribe and request over NATS.

The helpers encode with the channel's codec, put the current trace context into the NATS headers
and hand it back on delivery. A payload that does not decode is logged and counted and the
subscription carries on; so does a handler that raises.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypedDict, Unpack

import nats
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry import metrics, trace
from opentelemetry.context import Context

from . import messages as m
from .channels import (
    IN_CONTROL,
    IN_TEXT,
    LIFECYCLE,
    OUT_EVENT,
    SESSIONS_START,
    Channel,
    ProtoDecodeError,
    covering_wildcard,
    inbox_prefix,
)
from .records import MSG_ID_HEADER, DurablePublisher
from .settings import RECONNECT_BUFFER, RECONNECT_WAIT, NatsCredentials, ServiceSettings
from .telemetry import counter
from .telemetry_names import MESSAGING_SYSTEM_NATS, Attr, Metrics
from .tracecontext import context_from, headers_for

log = structlog.get_logger("voice_proto.bus")
#: Seconds between two log lines about undecodable payloads of one channel.
_DECODE_LOG_EVERY = 10.0
_meter = metrics.get_meter("voice_proto.bus")
_decode_errors = counter(_meter, Metrics.BUS_DECODE_ERRORS)
_handler_errors = counter(_meter, Metrics.BUS_HANDLER_ERRORS)


tracer = trace.get_tracer("voice_proto.bus")

#: Channels whose messages get a span when sent and when processed (OpenTelemetry messaging
#: conventions): control and event subjects. Audio frames and transcript chunks never do (one span
#: per frame would drown the traces), nor do keepalives and heartbeats.
_SPANNED = frozenset(channel.name for channel in (SESSIONS_START, IN_TEXT, IN_CONTROL, OUT_EVENT, LIFECYCLE))


def _spanned(channel: Channel[Any], message: Any) -> bool:
    if channel.name not in _SPANNED:
        return False
    if isinstance(message, m.Control):
        return message.kind is not m.ControlKind.KEEPALIVE
    return not isinstance(message, m.Heartbeat)


def messaging_attributes(channel: Channel[Any], operation: str) -> dict[str, str]:
    """The OpenTelemetry messaging attributes of a span that sends or processes on ``channel``."""
    return {
        Attr.MESSAGING_SYSTEM: MESSAGING_SYSTEM_NATS,
        # The subject's template (voice.{session}.in.control), not the subject: low cardinality.
        Attr.MESSAGING_DESTINATION: channel.address,
        Attr.MESSAGING_OPERATION_TYPE: operation,
        Attr.MESSAGING_OPERATION_NAME: operation,
    }


class BusError(Exception):
    pass


class NoResponders(BusError):
    """Nobody listens on the subject (no worker, no auth service)."""


class RequestTimeout(BusError):
    """Somebody listens but did not answer in time."""


class CredentialsRefused(BusError):
    """The server refused this service's credentials: retrying will not help."""


class BusUnavailable(BusError):
    """The connection is away and its reconnect buffer is full: the message was not queued."""


#: Seconds a stopping service waits for the stream to acknowledge its last records.
RECORDS_DRAIN_TIMEOUT = 5.0
#: Durable record ids a connection remembers to drop repeats (a few seconds of records).
_SEEN_RECORDS = 4096


def server_urls(url: str) -> list[str]:
    """``NATS_URL`` as a list of servers: one URL, or several separated by commas (a cluster's
    nodes; spaces around them ignored). Raises ValueError when it names none."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError(f"NATS_URL names no server: {url!r}")
    return urls


class Delivery:
    """What arrived with a payload: its subject, reply inbox and headers."""

    __slots__ = ("headers", "reply", "subject")

    def __init__(self, msg: Msg) -> None:
        self.subject: str = msg.subject
        self.reply: str = msg.reply
        self.headers: dict[str, str] | None = msg.headers

    def trace_context(self) -> Context:
        return context_from(self.headers)


type Handler[T] = Callable[[T, Delivery], Awaitable[None]]


class BusOptions(TypedDict, total=False):
    #: Seconds to keep retrying the first connection (the server may start after the service).
    retry_for: float
    #: Never deliver this connection's own publications back to it (the edge listens on a whole
    #: session's subjects and must not hear its own input).
    no_echo: bool
    #: The service's NATS user and the CA of the server's TLS certificate. Replies come to the
    #: inbox prefix of the service (its NATS user may read no other).
    credentials: NatsCredentials | None
    #: Seconds between reconnect attempts to one server (default RECONNECT_WAIT).
    reconnect_wait: float
    #: Bytes held for the server while reconnecting (default RECONNECT_BUFFER).
    reconnect_buffer: int


class Bus:
    """One NATS connection of a service, with typed helpers.

    ``Bus.connect(...)`` returns one connected at once. A service that starts its parts in order
    (``voice_proto.ops.serve``) makes it first and connects it with ``start`` as one of them;
    until then ``connected`` is false and nothing may be sent.
    """

    def __init__(self, url: str, service: str, **options: Unpack[BusOptions]) -> None:
        """``url``: one server, or a cluster's servers separated by commas (see server_urls)."""
        #: The nats-py client; a new, connected one once ``start`` returns.
        self.nc = NATS()
        self.service = service
        self._url = url
        self._servers = server_urls(url)
        self._reconnect_wait = options.get("reconnect_wait", RECONNECT_WAIT)
        self._reconnect_buffer = options.get("reconnect_buffer", RECONNECT_BUFFER)
        self._retry_for = options.get("retry_for", 30.0)
        self._no_echo = options.get("no_echo", False)
        self._credentials = options.get("credentials") or NatsCredentials()
        self._started = False
        #: Times the connection was lost since it was made, and when (time.monotonic()) the
        #: current loss began (None while connected) and the last one ended: a service that
        #: watches others' heartbeats must not take its own outage for their deaths.
        self.disconnects = 0
        self.away_since: float | None = None
        self.back_at: float | None = None
        self._connection_listeners: list[Callable[[bool], None]] = []
        #: Durable records (transcripts, lifecycle) kept until the stream acknowledged them.
        self.records = DurablePublisher(self.nc, service=service)
        #: Ids of durable records delivered lately: a record resent for want of an acknowledgement
        #: reaches core subscribers once.
        self._seen_records: OrderedDict[str, None] = OrderedDict()
        #: Undecodable payloads and failing handlers, by channel name (for tests and /ready pages).
        self.decode_errors: Counter[str] = Counter()
        self.handler_errors: Counter[str] = Counter()
        #: Per channel, when an undecodable payload was last logged and the count then.
        self._decode_logged: dict[str, tuple[float, int]] = {}

    @classmethod
    def for_service(cls, settings: ServiceSettings, service: str) -> Bus:
        """The bus of ``service`` as its settings say (``NATS_URL``, ``NATS_CONNECT_RETRY``,
        ``NATS_RECONNECT_WAIT``, ``NATS_RECONNECT_BUFFER``, its NATS user and the server's CA), not
        connected yet: see :meth:`start`."""
        return cls(
            settings.nats_url,
            service,
            retry_for=settings.nats_connect_retry,
            credentials=settings.nats_credentials(),
            reconnect_wait=settings.nats_reconnect_wait,
            reconnect_buffer=settings.nats_reconnect_buffer,
        )

    @classmethod
    async def connect(cls, url: str, service: str, **options: Unpack[BusOptions]) -> Bus:
        """A bus connected to ``url``; see :meth:`start`."""
        bus = cls(url, service, **options)
        await bus.start()
        return bus

    async def start(self) -> None:
        """Connect to any of the servers, retrying for ``retry_for`` seconds while none is up yet
        (services may start before NATS); raises BusError after that. A server that refuses the
        credentials ends it at once with CredentialsRefused (they will not become right by
        waiting). Once connected, a lost connection is retried forever, every ``reconnect_wait``
        seconds per server, across all the cluster's servers (those it announces too)."""
        refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def on_error(exc: Exception) -> None:
            if _is_refusal(exc) and not refused.done():
                refused.set_result(exc)
            if not self._started:
                log.info("nats not reachable yet, retrying", url=self._url, error=str(exc))
            else:
                await _on_error(exc)

        nc = NATS()
        connecting = asyncio.ensure_future(
            nc.connect(
                self._servers,
                name=self.service,
                max_reconnect_attempts=-1,
                reconnect_time_wait=self._reconnect_wait,  # type: ignore[arg-type]  # a float works
                pending_size=self._reconnect_buffer,
                connect_timeout=2,
                allow_reconnect=True,
                error_cb=on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                no_echo=self._no_echo,
                inbox_prefix=inbox_prefix(self.service),
                **_credential_options(self._credentials),
            )
        )
        waiting: set[asyncio.Future[Any]] = {connecting, refused}
        done, _ = await asyncio.wait(waiting, timeout=self._retry_for, return_when="FIRST_COMPLETED")
        if connecting in done and connecting.exception() is None:
            self.nc = nc
            self.records.bind(nc)
            self._started = True
            return
        connecting.cancel()
        await asyncio.wait({connecting})
        if not connecting.cancelled():
            connecting.exception()  # retrieved: the error below says what happened
        try:
            await nc.close()
        except Exception as exc:  # a half-made connection may fail to close; it is dropped anyway
            log.debug("closing a failed connection", error=repr(exc))
        if refused.done():
            raise CredentialsRefused(
                f"NATS at {self._url} refused the credentials of {self.service}: {refused.result()}"
            )
        refused.cancel()
        last = nc.last_error
        raise BusError(f"cannot reach NATS at {self._url} within {self._retry_for:g} s: {last}")

    def on_connection(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``listener(False)`` when the connection is lost and ``listener(True)`` when it is
        back (on another server, maybe); returns what stops it."""
        self._connection_listeners.append(listener)
        return lambda: self._connection_listeners.remove(listener)

    def _tell_listeners(self, connected: bool) -> None:
        for listener in list(self._connection_listeners):
            try:
                listener(connected)
            except Exception:
                log.exception("connection listener failed")

    async def _on_disconnected(self) -> None:
        if self.away_since is None:
            self.disconnects += 1
            self.away_since = time.monotonic()
            if not self.nc.is_closed:
                log.warning("nats disconnected")
                self._tell_listeners(False)

    async def _on_reconnected(self) -> None:
        away = None if self.away_since is None else time.monotonic() - self.away_since
        self.away_since = None
        self.back_at = time.monotonic()
        url = self.nc.connected_url
        log.info("nats reconnected", server=url.netloc if url else None, away_s=away)
        self._tell_listeners(True)

    def away_within(self, seconds: float) -> bool:
        """Whether the connection is away now or was, at any moment, in the last ``seconds``."""
        if self.away_since is not None:
            return True
        return self.back_at is not None and time.monotonic() - self.back_at < seconds

    async def flush(self, timeout: int = 2) -> None:
        """Return once the server has processed everything this connection sent so far.

        nats-py 2.16's own flush() writes its PING straight to the socket, ahead of commands
        still queued for its flusher task, so the PONG may come back before the server saw a SUB
        just made (a request from another connection then finds no responders). Push the queue
        out first.
        """
        await self.nc._flush_pending(force_flush=True)
        await self.nc.flush(timeout)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def publish[T](
        self,
        channel: Channel[T],
        message: T,
        *,
        session_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Publish with the current trace context, or with ``headers`` already computed for it.
        Control and event messages get a ``send`` span (a child of that context), whose context
        they then carry. A durable channel's message goes to its stream and is resent until the
        stream acknowledged it (``records``; ``records.flush`` waits for that).

        While the connection is away the message waits in the reconnect buffer and goes out, in
        order, when it is back; raises BusUnavailable when that buffer is full."""
        subject = channel.subject(session_id)
        try:
            if not _spanned(channel, message):
                await self._send(channel, subject, message, headers if headers is not None else headers_for())
                return
            parent = context_from(headers) if headers is not None else None
            with tracer.start_as_current_span(
                f"send {channel.address}",
                context=parent,
                kind=trace.SpanKind.PRODUCER,
                attributes=messaging_attributes(channel, "send"),
            ):
                await self._send(channel, subject, message, headers_for())
        except nats.errors.OutboundBufferLimitError:
            raise BusUnavailable(f"{subject}: NATS is away and the buffer is full") from None

    async def _send(
        self, channel: Channel[Any], subject: str, message: Any, headers: dict[str, str] | None
    ) -> None:
        if channel.durable:
            await self.records.publish(subject, channel.encode(message), headers or {})
        else:
            await self.nc.publish(subject, channel.encode(message), headers=headers)

    async def publish_lossy[T](
        self,
        channel: Channel[T],
        message: T,
        *,
        session_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> bool:
        """Publish what is worth nothing a moment later (audio) only while connected: while the
        connection is away it is dropped, not buffered, so it neither fills the reconnect buffer
        nor arrives late. Returns whether it was sent."""
        if not self.nc.is_connected:
            return False
        try:
            await self.publish(channel, message, session_id=session_id, headers=headers)
        except BusUnavailable:
            return False
        return True

    async def request[T](
        self,
        channel: Channel[T],
        message: T,
        *,
        session_id: str | None = None,
        timeout: float = 2.0,
    ) -> Any:
        """Ask and wait for the reply, decoded as the channel's reply type."""
        reply, _delivery = await self.ask(channel, message, session_id=session_id, timeout=timeout)
        return reply

    async def ask[T](
        self,
        channel: Channel[T],
        message: T,
        *,
        session_id: str | None = None,
        timeout: float = 2.0,
    ) -> tuple[Any, Delivery]:
        """:meth:`request`, with what came with the reply (its headers: the answerer's trace)."""
        subject = channel.subject(session_id)
        try:
            msg = await self.nc.request(
                subject, channel.encode(message), timeout=timeout, headers=headers_for()
            )
        except nats.errors.NoRespondersError:
            raise NoResponders(subject) from None
        except (nats.errors.TimeoutError, TimeoutError):
            raise RequestTimeout(subject) from None
        return channel.decode_reply(msg.data), Delivery(msg)

    async def respond(
        self,
        channel: Channel[Any],
        delivery: Delivery,
        reply: Any,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer a request, with the current trace context or ``headers``."""
        if delivery.reply:
            await self.nc.publish(
                delivery.reply,
                channel.encode_reply(reply),
                headers=headers if headers is not None else headers_for(),
            )

    async def subscribe[T](
        self,
        channel: Channel[T],
        handler: Handler[T],
        *,
        session_id: str | None = None,
        queue: str | None = None,
    ) -> Subscription:
        """Subscribe to one channel; a per-session channel without ``session_id`` means every session."""
        if channel.per_session and session_id is None:
            subject = channel.wildcard()
        else:
            subject = channel.subject(session_id)
        entry: tuple[Channel[Any], Handler[Any]] = (channel, handler)
        return await self.nc.subscribe(subject, queue=queue or "", cb=self._router(lambda _subject: entry))

    async def subscribe_session(
        self, session_id: str, handlers: Mapping[Channel[Any], Handler[Any]]
    ) -> Subscription:
        """One subscription for several channels of a session, so their messages keep their order.

        It listens on the narrowest wildcard that covers them (``voice.<sid>.in.>`` for the input
        channels) and routes each message by its subject; subjects of no listed channel are ignored.
        """
        routes = {channel.subject(session_id): (channel, handler) for channel, handler in handlers.items()}
        return await self.nc.subscribe(covering_wildcard(list(routes)), cb=self._router(routes.get))

    def _router(
        self, lookup: Callable[[str], tuple[Channel[Any], Handler[Any]] | None]
    ) -> Callable[[Msg], Awaitable[None]]:
        async def route(msg: Msg) -> None:
            entry = lookup(msg.subject)
            if entry is None:
                return
            channel, handler = entry
            if channel.durable and self._seen_before(msg.headers):
                return
            try:
                payload = channel.decode(msg.data, msg.subject)
            except ProtoDecodeError as exc:
                self.decode_errors[channel.name] += 1
                _decode_errors.add(1, {"channel": channel.name, "service": self.service})
                self._log_decode_error(channel, msg.subject, exc)
                return
            try:
                if _spanned(channel, payload):
                    with tracer.start_as_current_span(
                        f"process {channel.address}",
                        context=context_from(msg.headers),
                        kind=trace.SpanKind.CONSUMER,
                        attributes=messaging_attributes(channel, "process"),
                    ):
                        await handler(payload, Delivery(msg))
                else:
                    await handler(payload, Delivery(msg))
            except Exception:
                self.handler_errors[channel.name] += 1
                _handler_errors.add(1, {"channel": channel.name, "service": self.service})
                log.exception("bus handler failed", subject=msg.subject)

        return route

    def _log_decode_error(self, channel: Channel[Any], subject: str, exc: ProtoDecodeError) -> None:
        """Log an undecodable payload, at most once per channel every ``_DECODE_LOG_EVERY`` seconds
        (with how many were dropped meanwhile): a flood of garbage must not become a flood of log
        lines, whose writing would slow every session of the process. The metric counts each."""
        now = time.monotonic()
        count = self.decode_errors[channel.name]
        last_at, last_count = self._decode_logged.get(channel.name, (-_DECODE_LOG_EVERY, 0))
        if now - last_at >= _DECODE_LOG_EVERY:
            self._decode_logged[channel.name] = (now, count)
            log.warning(
                "dropped undecodable payload",
                subject=subject,
                error=exc.reason,
                since_last=count - last_count,
            )

    def _seen_before(self, headers: dict[str, str] | None) -> bool:
        msg_id = headers.get(MSG_ID_HEADER) if headers else None
        if msg_id is None:
            return False
        if msg_id in self._seen_records:
            return True
        self._seen_records[msg_id] = None
        if len(self._seen_records) > _SEEN_RECORDS:
            self._seen_records.popitem(last=False)
        return False

    async def drain(self) -> None:
        """Wait (up to RECORDS_DRAIN_TIMEOUT) for the stream to acknowledge the durable records
        sent; finish what was received, stop receiving, flush what was published, close.

        Without a connection (NATS stopped first, as it does when a whole dev run is stopped) there
        is nothing to drain: close at once instead of waiting for a reconnection that may never come
        (records still unacknowledged are logged as lost).
        """
        if not self._started or self.nc.is_closed:
            return
        await self.records.close(RECORDS_DRAIN_TIMEOUT if self.nc.is_connected else 0.0)
        if self.nc.is_connected:
            try:
                await self.nc.drain()
                return
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.warning("nats drain failed", error=str(exc))
        try:
            await self.nc.close()
        except Exception as exc:  # nats-py writes its pending buffer to a socket that may be gone
            log.info("nats connection closed uncleanly", error=repr(exc))


def _credential_options(credentials: NatsCredentials) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if credentials.creds_file is not None:
        options["user_credentials"] = str(credentials.creds_file)
    if credentials.nkey_seed_file is not None:
        options["nkeys_seed"] = str(credentials.nkey_seed_file)
    if credentials.tls_ca is not None:
        options["tls"] = ssl.create_default_context(cafile=str(credentials.tls_ca))
    return options


def _is_refusal(exc: Exception) -> bool:
    """The server said no to who we are (nats-py raises it as a plain error while connecting)."""
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text


async def _on_error(exc: Exception) -> None:
    log.warning("nats error", error=str(exc))
