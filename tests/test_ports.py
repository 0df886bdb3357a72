"""Ports on one host: every service, the analytics example included, can run beside the others on
its defaults (``./run`` starts them all on one host, and a team adding a subscriber starts theirs
beside it), and ``./run`` started again at once finds its ports free."""

from __future__ import annotations

import socket
from collections import Counter

from pydantic_settings import BaseSettings
from voice_analytics.settings import AnalyticsSettings
from voice_auth.settings import AuthSettings
from voice_dev.natsserver import free_port, port_is_free
from voice_edge.settings import EdgeSettings
from voice_nova.settings import NovaSettings
from voice_recordings.settings import RecordingsSettings
from voice_transcripts.settings import TranscriptsSettings

SERVICES: list[type[BaseSettings]] = [
    EdgeSettings,
    NovaSettings,
    AuthSettings,
    TranscriptsSettings,
    RecordingsSettings,
    AnalyticsSettings,
]


def default_ports(settings: type[BaseSettings]) -> list[int]:
    """The defaults of every ``*port`` field of a service's settings."""
    return [
        field.default
        for name, field in settings.model_fields.items()
        if name == "port" or name.endswith("_port")
    ]


def test_no_two_services_share_a_default_port() -> None:
    ports = Counter(port for settings in SERVICES for port in default_ports(settings))
    assert all(default_ports(settings) for settings in SERVICES)
    assert [port for port, count in ports.items() if count > 1] == []


def test_a_port_left_only_in_time_wait_is_free() -> None:
    """What a stopped ``./run`` leaves: its server closed a connection first, so the port holds a
    TIME_WAIT connection for a minute, and nothing listens."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as server:
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its end goes to TIME_WAIT
        client.recv(1)
        client.close()
    assert port_is_free(port)
    with socket.create_server(("127.0.0.1", port)):
        assert not port_is_free(port)  # a listener does hold it
