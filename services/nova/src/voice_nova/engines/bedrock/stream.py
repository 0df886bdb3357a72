"""One Nova Sonic bidirectional stream: input events written in order by one writer, output events
parsed and handed over as they come, and one outcome (closed by us, or the failure that ended it).

Nothing here waits without a bound: the response headers, every write, and the goodbye each have
a timeout, so a dead connection ends the stream instead of hanging the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
from aws_sdk_bedrock_runtime.models import (
    BidirectionalInputPayloadPart,
    InvokeModelWithBidirectionalStreamInputChunk,
    InvokeModelWithBidirectionalStreamOperationInput,
    InvokeModelWithBidirectionalStreamOutputChunk,
)
from opentelemetry import trace
from opentelemetry.context import Context

from . import events as ev
from .audio import frame_bytes
from .errors import StreamEnded, StreamStalled
from .outputs import NovaOutput, parse
from .settings import BedrockSettings

log = structlog.get_logger("voice_nova.bedrock.stream")
tracer = trace.get_tracer("voice_nova.bedrock")

type OutputHandler = Callable[[NovaStream, NovaOutput], None]

_CLOSE = None


class NovaStream:
    def __init__(
        self,
        client: AsyncBedrockRuntimeClient,
        settings: BedrockSettings,
        on_output: OutputHandler,
        *,
        label: str,
    ) -> None:
        self.label = label
        self.prompt = ev.new_name()
        self.audio_content = ev.new_name()
        self.audio_open = False
        self.opened_at = 0.0
        self.request_id = ""
        #: Set when the response headers arrived: the service took the stream.
        self.connected = asyncio.Event()
        #: The stream's outcome: None when we closed it, else the exception that ended it.
        self.outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._client = client
        self._settings = settings
        self._on_output = on_output
        self._queue: asyncio.Queue[list[ev.NovaEvent] | None] = asyncio.Queue()
        self._stream: object | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._log = log.bind(stream=label)

    @property
    def done(self) -> bool:
        return self.outcome.done()

    # --- opening ----------------------------------------------------------------------------------

    async def open(self, setup: list[ev.NovaEvent], *, reason: str, parent: Context | None) -> None:
        """Start the request and queue ``setup`` (session, prompt, system prompt, history).

        Returns once the request is on its way; the response headers are awaited by the reader,
        whose failure (access denied, throttled...) becomes the outcome.
        """
        self.opened_at = time.monotonic()
        span = tracer.start_span(
            "nova.stream.setup",
            context=parent,
            attributes={
                "nova.stream": self.label,
                "nova.model_id": self._settings.model_id,
                "nova.reason": reason,
            },
        )
        self.send(setup)
        try:
            stream = await asyncio.wait_for(
                self._client.invoke_model_with_bidirectional_stream(
                    InvokeModelWithBidirectionalStreamOperationInput(model_id=self._settings.model_id)
                ),
                self._settings.connect_timeout,
            )
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            span.end()
            self._finish(exc)
            return
        self._stream = stream
        self._tasks = [
            asyncio.create_task(self._write(stream), name=f"nova-write-{self.label}"),
            asyncio.create_task(self._read(stream, span), name=f"nova-read-{self.label}"),
        ]

    # --- input ------------------------------------------------------------------------------------

    def send(self, block: list[ev.NovaEvent]) -> None:
        """Queue events to be written together, in order, with nothing between them."""
        if not self._closing and not self.done:
            self._queue.put_nowait(block)

    def open_audio(self, replay: bytes) -> None:
        """Open the one USER audio block of the stream, starting with ``replay``."""
        frames = [ev.audio_start(self.prompt, self.audio_content)]
        step = frame_bytes(self._settings.frame_ms)
        frames += [
            ev.audio_input(self.prompt, self.audio_content, replay[i : i + step])
            for i in range(0, len(replay), step)
        ]
        self.send(frames)
        self.audio_open = True

    def send_audio(self, pcm: bytes) -> None:
        if self.audio_open:
            self.send([ev.audio_input(self.prompt, self.audio_content, pcm)])

    async def _write(self, stream: object) -> None:
        input_stream = stream.input_stream  # type: ignore[attr-defined]
        try:
            while True:
                block = await self._queue.get()
                if block is _CLOSE:
                    await asyncio.wait_for(input_stream.close(), self._settings.send_timeout)
                    return
                for event in block:
                    chunk = InvokeModelWithBidirectionalStreamInputChunk(
                        value=BidirectionalInputPayloadPart(bytes_=ev.encode(event))
                    )
                    # Before the headers arrive, writes wait on the connection being set up.
                    limit = (
                        self._settings.send_timeout
                        if self.connected.is_set()
                        else self._settings.connect_timeout
                    )
                    try:
                        await asyncio.wait_for(input_stream.send(chunk), limit)
                    except TimeoutError:
                        raise StreamStalled(f"an event could not be written within {limit:g} s") from None
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._finish(exc)

    # --- output -----------------------------------------------------------------------------------

    async def _read(self, stream: object, setup_span: trace.Span) -> None:
        try:
            try:
                # Shielded: a timeout here must not cancel the SDK's own future, which its
                # close() awaits again.
                output, receiver = await asyncio.wait_for(
                    asyncio.shield(stream.await_output()),  # type: ignore[attr-defined]
                    self._settings.connect_timeout,
                )
            except TimeoutError:
                raise StreamStalled(
                    f"no response from the model within {self._settings.connect_timeout:g} s"
                ) from None
            except BaseException as exc:
                setup_span.record_exception(exc)
                setup_span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                raise
            finally:
                setup_span.end()
            self.connected.set()
            self.request_id = str(getattr(output.response_metadata, "request_id", "") or "")
            setup_span.set_attribute("nova.request_id", self.request_id)
            while True:
                chunk = await receiver.receive()
                if chunk is None:
                    if self._closing:
                        self._finish(None)
                        return
                    raise StreamEnded("the model ended the response stream")
                if isinstance(chunk, InvokeModelWithBidirectionalStreamOutputChunk) and chunk.value.bytes_:
                    parsed = parse(chunk.value.bytes_)
                    if parsed is not None:
                        self._on_output(self, parsed)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._finish(exc)

    # --- ending -----------------------------------------------------------------------------------

    def _finish(self, exc: BaseException | None) -> None:
        if not self.outcome.done():
            self.outcome.set_result(exc)
            if exc is not None:
                self._log.info("stream ended", error=type(exc).__name__, message=str(exc)[:300])

    async def close(self) -> None:
        """Say goodbye in the documented order, wait a little for the model to end, then drop it."""
        if not self._closing and not self.done:
            goodbye: list[ev.NovaEvent] = []
            if self.audio_open:
                goodbye.append(ev.content_end(self.prompt, self.audio_content))
            goodbye += [ev.prompt_end(self.prompt), ev.session_end()]
            self.send(goodbye)
            self._closing = True
            self._queue.put_nowait(_CLOSE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.outcome), self._settings.close_timeout)
        await self.abort()

    async def abort(self) -> None:
        """Drop the stream at once (it failed, or its goodbye took too long)."""
        self._closing = True
        self._finish(None)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: the SDK's writer can hold off a cancellation while its buffer is stuck.
            await asyncio.wait(tasks, timeout=self._settings.close_timeout)
        stream, self._stream = self._stream, None
        if stream is not None:
            _detach(_close_halves(stream, self._settings.close_timeout))


async def _close_halves(stream: Any, timeout: float) -> None:
    """Each side on its own, never the SDK's close(), which first waits for response headers that
    a dead stream never sends. awscrt complains about closing a finished HTTP/2 stream again;
    there is nothing to act on."""
    halves = [stream.input_stream]
    if stream.output_stream is not None:
        halves.append(stream.output_stream)
    for half in halves:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(half.close(), timeout)


#: Closings that run on their own: a stuck one must never hold up a session (kept referenced).
_closing: set[asyncio.Task[None]] = set()


def _detach(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coroutine)
    _closing.add(task)
    task.add_done_callback(_closing.discard)
