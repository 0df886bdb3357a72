"""The service runner: components start in order and stop in reverse, and any one dying stops all."""

from __future__ import annotations

import asyncio
import socket

import pytest
from starlette.applications import Starlette
from voice_proto.ops import Component, ServiceFailed, embedded_server, http_server, serve


class Part:
    """A component that writes down what happens to it."""

    def __init__(self, name: str, journal: list[str], *, runs: bool = False) -> None:
        self.name = name
        self.journal = journal
        self.stopped = asyncio.Event()
        self.runs = runs

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")

    async def run(self) -> None:
        await self.stopped.wait()
        self.journal.append(f"ran {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        self.stopped.set()

    def component(self) -> Component:
        return Component(self.name, start=self.start, run=self.run if self.runs else None, stop=self.stop)


async def test_components_start_in_order_and_stop_in_reverse_when_asked() -> None:
    journal: list[str] = []
    stop = asyncio.Event()
    parts = [Part("bus", journal), Part("worker", journal, runs=True), Part("http", journal)]
    service = asyncio.create_task(serve(stop, *(part.component() for part in parts)))
    await asyncio.sleep(0.05)
    assert journal == ["start bus", "start worker", "start http"]
    stop.set()
    await asyncio.wait_for(service, 10)
    assert journal[3:] == ["stop http", "stop worker", "ran worker", "stop bus"]


async def test_a_component_that_dies_stops_every_other_and_fails_the_service() -> None:
    journal: list[str] = []
    stop = asyncio.Event()

    async def crash() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("lost")

    with pytest.raises(ServiceFailed, match="server"):
        await asyncio.wait_for(
            serve(
                stop,
                Part("bus", journal).component(),
                Component("server", run=crash),
                Part("worker", journal, runs=True).component(),
            ),
            10,
        )
    assert stop.is_set()  # whatever else watches it stops too
    assert journal == ["start bus", "start worker", "stop worker", "ran worker", "stop bus"]


async def test_a_component_whose_run_returns_early_fails_the_service() -> None:
    async def done_at_once() -> None:
        return

    with pytest.raises(ServiceFailed, match="quitter"):
        await asyncio.wait_for(serve(asyncio.Event(), Component("quitter", run=done_at_once)), 10)


async def test_a_start_that_fails_stops_what_had_started_and_starts_nothing_more() -> None:
    journal: list[str] = []

    async def refuse() -> None:
        raise OSError("no database")

    with pytest.raises(ServiceFailed, match="database"):
        await asyncio.wait_for(
            serve(
                asyncio.Event(),
                Part("bus", journal).component(),
                Component("database", start=refuse),
                Part("http", journal).component(),
            ),
            10,
        )
    assert journal == ["start bus", "stop bus"]


async def test_a_run_without_a_stop_is_cancelled_and_every_stop_runs_even_after_one_fails() -> None:
    journal: list[str] = []
    stop = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            journal.append("loop cancelled")

    async def broken_stop() -> None:
        raise RuntimeError("cannot stop")

    service = asyncio.create_task(
        serve(
            stop,
            Part("bus", journal).component(),
            Component("loop", run=forever),
            Component("broken", run=forever, stop=broken_stop),
        )
    )
    await asyncio.sleep(0.05)
    stop.set()
    with pytest.raises(ServiceFailed, match="broken"):
        await asyncio.wait_for(service, 10)
    # The broken stop could not end its run: it was cancelled instead, and the rest stopped.
    assert journal == ["start bus", "loop cancelled", "loop cancelled", "stop bus"]


async def test_an_http_server_that_cannot_bind_its_port_stops_the_service() -> None:
    journal: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = embedded_server(Starlette(), "127.0.0.1", port, lifespan="off")
        with pytest.raises(ServiceFailed, match="probes"):
            await asyncio.wait_for(
                serve(asyncio.Event(), Part("worker", journal).component(), http_server("probes", server)), 10
            )
    assert journal == ["start worker", "stop worker"]
