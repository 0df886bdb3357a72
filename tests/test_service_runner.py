"""Every service runs as a list of components: when one dies, the service stops the others in
reverse order and exits non-zero. The worker and auth used to go on without their HTTP server
(probes, metrics, the dev JWKS); now a server that cannot even bind its port stops them."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from voice_proto.channels import Service
from voice_testkit.nats import NatsEndpoint
from voice_testkit.processes import ManagedProcess
from voice_testkit.stack import Stack, script

pytestmark = pytest.mark.stack


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def log_events(process: ManagedProcess) -> list[dict[str, object]]:
    events = []
    for line in process.log_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


@pytest.mark.parametrize(
    ("role", "port_variable", "server"),
    [(Service.NOVA, "NOVA_HTTP_PORT", "probes"), (Service.AUTH, "AUTH_HTTP_PORT", "http")],
)
def test_a_service_whose_http_server_dies_stops_in_order_and_exits_non_zero(
    nats_endpoint: NatsEndpoint,
    tmp_path: Path,
    taken_port: int,
    role: Service,
    port_variable: str,
    server: str,
) -> None:
    env = Stack(nats_endpoint, tmp_path).service_env(role, **{port_variable: str(taken_port)})
    command = f"voice-{role.value}"
    process = ManagedProcess(command, [script(command)], env, tmp_path).start()
    deadline = time.monotonic() + 60
    while process.running and time.monotonic() < deadline:
        time.sleep(0.1)
    code = process.stop()
    events = log_events(process)
    died = [e for e in events if e.get("event") == "component died"]
    assert code == 1, process.log_text()[-4000:]
    assert [e["component"] for e in died] == [server]
    # The NATS connection had started before the server, so it was stopped (drained), not torn down.
    assert any(e.get("event") == "service stopping" for e in events)
    assert not any(e.get("event") == "component failed to stop" for e in events)
