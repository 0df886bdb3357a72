"""Fuzz the browser protocol and the bus decoders, offline and against a live stack.

1. Offline: ``--examples`` malformed text frames, binary frames and bus payloads each, drawn by
   Hypothesis from ``voice_testkit.fuzz``, through both subprotocols' decoders and every channel's
   decoder. Every frame must be a client message or a ProtocolError with a documented code, every
   payload a message or a ProtoDecodeError; the counts per outcome are printed.
2. Live: a NATS server, auth, a loopback worker and an edge as processes. ``--bystanders``
   sessions stream 20 ms of audio every 20 ms and time each frame's echo, first alone (baseline),
   then while fuzz connections (JSON and binary subprotocols) send every generated frame and the
   test's own NATS connection publishes every generated payload onto a fuzz session's subjects,
   ``voice.sessions.start`` and ``auth.validate``. Every bad frame must be answered by the error
   the offline decoder predicts; the services must still be up; the bystanders must have every
   frame back. Their echo latency is printed beside the baseline's, with the load average.

    .venv/bin/python bench/fuzz.py [--examples 10000] [--bystanders 4] [--fuzzers 4]

Not a test: numbers depend on what else the machine runs; note that with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from voice_edge import protocol as p
from voice_edge.codec import BinaryCodec, Codec, JsonCodec
from voice_proto import channels
from voice_testkit.client import BINARY_PROTOCOL, JSON_PROTOCOL, Closed, VoiceClient
from voice_testkit.fuzz import binary_frames, bus_payloads, text_frames
from voice_testkit.machine import load_average
from voice_testkit.nats import NatsServer
from voice_testkit.stack import API_KEYS, Stack
from websockets.exceptions import ConnectionClosed

FRAME = 640  # 20 ms of 16 kHz PCM16
#: A frame every codec answers ``invalid_json``: sent after each fuzz frame, so that whatever
#: the fuzz frame caused has arrived once the sentinel's error has.
SENTINEL = "{"
_SENTINEL_MESSAGE = "the message is not valid JSON"


def draw[T](strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy`` (fewer when Hypothesis runs out of distinct ones)."""
    drawn: list[T] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        drawn.append(example)

    collect()
    return drawn


def expected(codec: Codec, frame: str | bytes) -> p.ClientMessage | str:
    """What the edge makes of ``frame``: the message, or the documented code of its error."""
    try:
        return codec.decode_text(frame) if isinstance(frame, str) else codec.decode_binary(frame)
    except p.ProtocolError as exc:
        if exc.code not in p.ErrorCode or not exc.code.meaning:
            raise AssertionError(f"undocumented code {exc.code}") from exc
        return exc.code.value


def offline(texts: list[str], binaries: list[bytes], payloads: list[bytes]) -> None:
    json_codec, binary_codec = JsonCodec(2000), BinaryCodec(2000)
    started = time.perf_counter()
    outcomes: Counter[str] = Counter()
    frames: list[str | bytes] = [*texts, *binaries]
    for frame in frames:
        for codec in (json_codec, binary_codec):
            result = expected(codec, frame)
            outcomes[result if isinstance(result, str) else type(result).__name__] += 1
    frames_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded: Counter[str] = Counter()
    for data in payloads:
        for channel in channels.ALL_CHANNELS:
            try:
                channel.decode(data, "voice.fuzzfuzzfuzzfuzz.in.text")
                decoded["decoded"] += 1
            except channels.ProtoDecodeError:
                decoded["undecodable"] += 1
    payloads_s = time.perf_counter() - started
    print(
        f"offline: {len(texts)} text + {len(binaries)} binary frames x 2 codecs in {frames_s:.1f} s: "
        f"{dict(outcomes.most_common())}  load {load_average()}"
    )
    print(
        f"offline: {len(payloads)} bus payloads x {len(channels.ALL_CHANNELS)} channels in "
        f"{payloads_s:.1f} s: {dict(decoded)}  load {load_average()}"
    )


class Bystander:
    """A session streaming audio in real time and timing each frame's echo."""

    def __init__(self, client: VoiceClient) -> None:
        self.client = client
        self.sent: dict[bytes, float] = {}
        self.rtts: list[float] = []
        self.errors = 0
        self.lost = 0

    async def stream(self, stop: asyncio.Event) -> None:
        """Until ``stop``, then up to 5 s for the last echoes (those that never come are lost)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.create_task(self._read())
        try:
            next_at = loop.time()
            while not stop.is_set():
                frame = os.urandom(FRAME)
                self.sent[frame] = loop.time()
                await self.client.send_audio(frame)
                next_at += 0.02
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            deadline = loop.time() + 5
            while self.sent and loop.time() < deadline:  # noqa: ASYNC110 - polling the echoes in flight
                await asyncio.sleep(0.05)
            self.lost += len(self.sent)
            self.sent.clear()
        finally:
            reader.cancel()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            event = await self.client.recv(timeout=30)
            if event["event"] == "media":
                sent_at = self.sent.pop(event["pcm"], None)
                if sent_at is not None:
                    self.rtts.append(loop.time() - sent_at)
            elif event["event"] == "error":
                self.errors += 1


async def streamed(bystanders: list[Bystander], work: Any) -> tuple[list[float], Any]:
    """The bystanders' echo times while ``work`` (an awaitable) runs, and its result."""
    marks = [len(b.rtts) for b in bystanders]
    stop = asyncio.Event()
    streams = [asyncio.create_task(b.stream(stop)) for b in bystanders]
    try:
        result = await work
    finally:
        stop.set()
        await asyncio.gather(*streams)
    return [x for b, mark in zip(bystanders, marks, strict=True) for x in b.rtts[mark:]], result


async def fuzz_connection(url: str, protocol: str, frames: list[str | bytes]) -> Counter[str]:
    """Send each frame then the sentinel; check the error (or none) the offline decoder predicts."""
    codec: Codec = BinaryCodec(2000) if protocol == BINARY_PROTOCOL else JsonCodec(2000)
    client = await VoiceClient.open(url, key=API_KEYS["alice"], protocol=protocol)
    tally: Counter[str] = Counter()
    for frame in frames:
        want = expected(codec, frame)
        if isinstance(want, p.ClientEnd | p.ClientAuth):
            continue  # would end the connection, or ask the auth service about noise
        await client.send_raw(frame)
        await client.send_raw(SENTINEL)
        errors = []
        while True:
            event = await client.recv(timeout=30)
            if event["event"] == "error":
                errors.append(event["code"])
                if event["code"] == p.ErrorCode.INVALID_JSON and len(errors) == (
                    2 if isinstance(want, str) else 1
                ):
                    break
        got = errors[0] if isinstance(want, str) else None
        if isinstance(want, str) and got != want:
            tally[f"MISMATCH {want} -> {got}"] += 1
        else:
            tally[want if isinstance(want, str) else "accepted"] += 1
    await client.close()
    return tally


async def flood(url: str, protocol: str, frames: list[str | bytes]) -> Counter[str]:
    """Every frame (and the sentinel after it) against the limits as deployed: the edge closes the
    connection after EDGE_MAX_ERRORS_PER_MINUTE bad messages, and the fuzzer reconnects at once and
    goes on with the next frame, as a client doing its worst would. Counts the closes by code."""
    closes: Counter[str] = Counter()
    codec: Codec = BinaryCodec(2000) if protocol == BINARY_PROTOCOL else JsonCodec(2000)
    # Not the frames that end the session or ask the auth service about noise (as above).
    pending = [f for f in frames if not isinstance(expected(codec, f), p.ClientEnd | p.ClientAuth)]
    client: VoiceClient | None = None
    for frame in pending:
        try:
            if client is None:
                client = await VoiceClient.open(url, key=API_KEYS["alice"], protocol=protocol)
            await client.send_raw(frame)
            await client.send_raw(SENTINEL)
            while (await client.recv(timeout=30)).get("message") != _SENTINEL_MESSAGE:
                pass
        except (Closed, ConnectionClosed) as closed:
            code = closed.code if isinstance(closed, Closed) else closed.rcvd.code if closed.rcvd else None
            closes[str(code)] += 1
            client = None
    if client is not None:
        await client.close()
    return closes


async def bus_fuzz(stack: Stack, session_id: str, payloads: list[bytes]) -> int:
    bus = await stack.nats.connect()
    subjects = [
        channel.subject(session_id) if channel.per_session else channel.subject()
        for channel in (
            channels.IN_AUDIO, channels.IN_TEXT, channels.IN_CONTROL, channels.OUT_AUDIO,
            channels.OUT_EVENT, channels.TRANSCRIPT, channels.SESSIONS_START, channels.AUTH_VALIDATE,
        )
    ]  # fmt: skip
    sent = 0
    for index, data in enumerate(payloads):
        await bus.nc.publish(subjects[index % len(subjects)], data)
        sent += 1
        if index % 200 == 0:
            await bus.nc.flush()
            await asyncio.sleep(0)
    await bus.nc.flush()
    await bus.drain()
    return sent


def merged(counters: list[Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def summary(rtts: list[float]) -> str:
    ms = sorted(x * 1000 for x in rtts)
    p95 = ms[int(0.95 * (len(ms) - 1))] if ms else float("nan")
    return f"n={len(ms)} p50={statistics.median(ms):.1f} ms p95={p95:.1f} ms"


async def live(
    args: argparse.Namespace, texts: list[str], binaries: list[bytes], payloads: list[bytes]
) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as work:
        nats = NatsServer(Path(work)).start()
        env: dict[str, Any] = {
            "LOG_LEVEL": "warning",
            "EDGE_MAX_ERRORS_PER_MINUTE": "100000000",
            "EDGE_TEXT_PER_MINUTE": "100000000",
            "EDGE_TEXT_BURST": "100000000",
            "EDGE_AUDIO_BURST_SECONDS": "100000",
        }
        stack = Stack(nats.endpoint, Path(work), **env)
        try:
            stack.start_spine()
            url = stack.ws_url()
            bystanders = [
                Bystander(await VoiceClient.open(url, key=API_KEYS["bob"], protocol=BINARY_PROTOCOL))
                for _ in range(args.bystanders)
            ]
            load = load_average()
            baseline, _ = await streamed(bystanders, asyncio.sleep(args.baseline))
            print(
                f"live baseline: {args.bystanders} bystanders echo {summary(baseline)}  "
                f"load {load} -> {load_average()}"
            )

            victim = await VoiceClient.open(url, key=API_KEYS["alice"], protocol=BINARY_PROTOCOL)
            frames: list[str | bytes] = [*texts, *binaries]
            shares = [frames[i :: args.fuzzers] for i in range(args.fuzzers)]
            protocols = [JSON_PROTOCOL if i % 2 == 0 else BINARY_PROTOCOL for i in range(args.fuzzers)]
            load = load_average()
            started = time.perf_counter()
            fuzzing = asyncio.gather(
                *(
                    fuzz_connection(url, protocol, share)
                    for protocol, share in zip(protocols, shares, strict=True)
                ),
                bus_fuzz(stack, victim.session_id, payloads),
            )
            during, (*tallies, published) = await streamed(bystanders, fuzzing)
            seconds = time.perf_counter() - started
            total = merged(tallies)
            print(
                f"live fuzz: {sum(total.values())} frames over {args.fuzzers} connections and {published} "
                f"bus payloads in {seconds:.1f} s: {dict(total.most_common())}"
            )
            print(
                f"live during fuzz: bystanders echo {summary(during)}; p50 ratio "
                f"{statistics.median(during) / statistics.median(baseline):.2f}"
                f"  load {load} -> {load_average()}"
            )
            print(
                f"bystanders: {sum(b.errors for b in bystanders)} error events, "
                f"{sum(b.lost for b in bystanders)} frames without their echo; services up: "
                f"{all(proc.running for proc in stack.processes.values())}"
            )
            # The same frames against an edge with the limits as deployed: fuzzers flood, get closed
            # (1008 after too many bad messages), reconnect and go on; bystanders on that edge.
            stack.start_edge(
                "edge-default",
                EDGE_MAX_ERRORS_PER_MINUTE="30",
                EDGE_TEXT_PER_MINUTE="30",
                EDGE_TEXT_BURST="5",
                EDGE_AUDIO_BURST_SECONDS="2",
            )
            url = stack.ws_url("edge-default")
            bystanders = [
                Bystander(await VoiceClient.open(url, key=API_KEYS["bob"], protocol=BINARY_PROTOCOL))
                for _ in range(args.bystanders)
            ]
            load = load_average()
            baseline, _ = await streamed(bystanders, asyncio.sleep(args.baseline))
            print(f"limits as deployed, baseline: echo {summary(baseline)}  load {load} -> {load_average()}")
            load = load_average()
            started = time.perf_counter()
            flooding = asyncio.gather(
                *(flood(url, protocol, share) for protocol, share in zip(protocols, shares, strict=True))
            )
            during, floods = await streamed(bystanders, flooding)
            closes = merged(floods)
            print(
                f"limits as deployed, flood: {len(frames)} frames in {time.perf_counter() - started:.1f} s, "
                f"connections closed by code {dict(closes)}; bystanders echo {summary(during)}; p50 ratio "
                f"{statistics.median(during) / statistics.median(baseline):.2f}"
                f"  load {load} -> {load_average()}"
            )
            print(
                f"bystanders: {sum(b.errors for b in bystanders)} error events, "
                f"{sum(b.lost for b in bystanders)} frames without their echo"
            )
            for name, proc in stack.processes.items():
                lines = proc.log_text().splitlines()
                failed = sum("bus handler failed" in line for line in lines)
                dropped = sum("dropped undecodable payload" in line for line in lines)
                print(f"{name}: {dropped} undecodable payloads dropped, {failed} handler failures")
        finally:
            stack.stop_all()
            nats.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=10_000, help="of each kind")
    parser.add_argument("--bystanders", type=int, default=4)
    parser.add_argument("--fuzzers", type=int, default=4)
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds")
    args = parser.parse_args()
    started = time.perf_counter()
    texts = draw(text_frames, args.examples)
    binaries = draw(binary_frames, args.examples)
    payloads = draw(bus_payloads, args.examples)
    print(
        f"drew {len(texts)} text frames, {len(binaries)} binary frames, {len(payloads)} bus payloads "
        f"in {time.perf_counter() - started:.1f} s"
    )
    offline(texts, binaries, payloads)
    asyncio.run(live(args, texts, binaries, payloads))


if __name__ == "__main__":
    main()
