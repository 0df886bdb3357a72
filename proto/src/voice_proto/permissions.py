"""What each service may publish and subscribe to on NATS, derived from the channel table.

Every service connects as a NATS user of its own (:class:`voice_proto.channels.Service`), allowed
exactly what the channel table says it sends and receives, so a channel added to the table is
granted to the roles it names and to nobody else (and the tests, which run with these permissions,
fail when a service uses a channel the table does not give it):

- publish: the subject of every channel the role sends on (a request is a publish too);
- subscribe: the channels it receives; a role that receives several channels of a session gets
  their covering wildcard (``Bus.subscribe_session`` makes one subscription of them), and every
  other channel under that wildcard is denied, which NATS filters out of such a subscription;
- replies: a role that receives requests may answer them (NATS ``allow_responses``: only to the
  reply subject of a request it was delivered); a role that sends requests gets its replies on an
  inbox prefix of its own, ``_INBOX.<role>``, which no other role may subscribe to;
- JetStream: the API of the records stream (``VOICE_RECORDS``) for the roles that use it: ensuring
  the stream, and for its readers a durable consumer's API and acknowledgements. Nobody else can
  read what the stream keeps. The recorder alone owns the audio stream (``VOICE_AUDIO``), its
  object store bucket and its catalogue (a key-value bucket), and may reposition its consumers;
- the session-state bucket (``VOICE_SESSIONS``, ``voice_proto.session_state``): the edge ensures it,
  reads, writes and deletes entries; a worker deletes the entry of a session it ended.

``python -m voice_proto.permissions --write helm/voice/files/nats-permissions.json`` writes the
table the Helm chart renders into ``nats.conf``; a test fails when the committed copy disagrees.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Final

from .channels import ALL_CHANNELS, Service, covering_wildcard, inbox_prefix
from .generated import document_command
from .session_state import SESSIONS_BUCKET, SESSIONS_STREAM
from .streams import AUDIO_STREAM, RECORDINGS_BUCKET, RECORDINGS_CATALOGUE, RECORDS_STREAM

_JS_API: Final = "$JS.API"


class StreamAccess(enum.Enum):
    #: Create the stream, or add the subjects the contract grew (``ensure_records_stream``).
    ENSURE = "ensure"
    #: ENSURE, plus durable consumers of the stream: create, inspect, fetch, acknowledge.
    READ = "read"


#: Who uses the records stream, and how. A role missing here cannot reach it at all.
RECORDS_ACCESS: Final[dict[Service, StreamAccess]] = {
    Service.EDGE: StreamAccess.ENSURE,
    Service.TRANSCRIPTS: StreamAccess.READ,
    Service.ANALYTICS: StreamAccess.READ,
    Service.RECORDINGS: StreamAccess.READ,
}


class StateAccess(enum.Enum):
    #: Ensure the bucket, read, write and delete entries (the edge carries sessions).
    KEEP = "keep"
    #: Delete entries of an existing bucket (the worker, when it ends a session for good).
    FORGET = "forget"


#: Who uses the session-state bucket, and how.
SESSION_STATE_ACCESS: Final[dict[Service, StateAccess]] = {
    Service.EDGE: StateAccess.KEEP,
    Service.NOVA: StateAccess.FORGET,
}


def session_state_subjects(access: StateAccess) -> list[str]:
    """What a user of the session-state bucket publishes to: the bucket's stream API (binding,
    ensuring), direct gets, and its keys (a put or a delete is a publish)."""
    if access is StateAccess.FORGET:
        return [f"{_JS_API}.STREAM.INFO.{SESSIONS_STREAM}", f"$KV.{SESSIONS_BUCKET}.>"]
    return [
        f"{_JS_API}.STREAM.INFO.{SESSIONS_STREAM}",
        f"{_JS_API}.STREAM.CREATE.{SESSIONS_STREAM}",
        f"{_JS_API}.DIRECT.GET.{SESSIONS_STREAM}.>",
        f"$KV.{SESSIONS_BUCKET}.>",
    ]


def records_api_subjects(access: StreamAccess, stream: str = RECORDS_STREAM) -> list[str]:
    """The JetStream API subjects a user of the records stream (or ``stream``) publishes to."""
    subjects = [f"{_JS_API}.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
    if access is StreamAccess.READ:
        subjects += [
            f"{_JS_API}.CONSUMER.CREATE.{stream}.>",
            f"{_JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
            f"{_JS_API}.CONSUMER.INFO.{stream}.*",
            f"{_JS_API}.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.ACK.{stream}.>",
        ]
    return subjects


def recorder_api_subjects() -> list[str]:
    """What the recorder publishes to beyond the records stream: the audio stream it owns (and
    repositioning both its consumers, which deletes them), its object store and its catalogue."""
    subjects = records_api_subjects(StreamAccess.READ, AUDIO_STREAM)
    subjects += [f"{_JS_API}.CONSUMER.DELETE.{stream}.*" for stream in (RECORDS_STREAM, AUDIO_STREAM)]
    # nats-py's object store looks its stream up by subject before reading an object.
    subjects.append(f"{_JS_API}.STREAM.NAMES")
    for stream, subjects_prefix in (
        (f"OBJ_{RECORDINGS_BUCKET}", f"$O.{RECORDINGS_BUCKET}"),
        (f"KV_{RECORDINGS_CATALOGUE}", f"$KV.{RECORDINGS_CATALOGUE}"),
    ):
        subjects += [
            *(f"{_JS_API}.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE", "PURGE")),
            f"{_JS_API}.STREAM.MSG.GET.{stream}",
            f"{_JS_API}.STREAM.MSG.DELETE.{stream}",
            f"{_JS_API}.DIRECT.GET.{stream}.>",
            f"{_JS_API}.DIRECT.GET.{stream}",
            f"{_JS_API}.CONSUMER.CREATE.{stream}",
            f"{_JS_API}.CONSUMER.CREATE.{stream}.>",
            f"{_JS_API}.CONSUMER.DELETE.{stream}.*",
            f"{_JS_API}.CONSUMER.INFO.{stream}.*",
            f"$JS.FC.{stream}.>",
            f"{subjects_prefix}.>",
        ]
    return subjects


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    #: Subjects filtered out of the role's wildcard subscriptions (and refused to subscribe to).
    subscribe_deny: tuple[str, ...]
    #: May answer the requests it receives.
    respond: bool

    def server_config(self) -> dict[str, Any]:
        """The user's ``permissions`` block of a nats-server configuration (JSON is valid there)."""
        config: dict[str, Any] = {}
        if self.publish:
            config["publish"] = {"allow": list(self.publish)}
        elif not self.respond:
            config["publish"] = {"deny": [">"]}
        # With allow_responses and no publish list, NATS allows responses and nothing else.
        subscribe: dict[str, list[str]] = (
            {"allow": list(self.subscribe)} if self.subscribe else {"deny": [">"]}
        )
        if self.subscribe and self.subscribe_deny:
            subscribe["deny"] = list(self.subscribe_deny)
        config["subscribe"] = subscribe
        if self.respond:
            config["allow_responses"] = True
        return config


def permissions(role: Service) -> Permissions:
    sends = [c for c in ALL_CHANNELS if role in c.senders]
    receives = [c for c in ALL_CHANNELS if role in c.receivers]
    publish = [c.wildcard() for c in sends]
    requests = any(c.reply is not None for c in sends)
    subscribe = [c.wildcard() for c in receives if not c.per_session]
    session_channels = [c.wildcard() for c in receives if c.per_session]
    deny: list[str] = []
    if session_channels:
        covering = covering_wildcard(session_channels)
        subscribe.append(covering)
        deny = [c.wildcard() for c in ALL_CHANNELS if c not in receives and _within(c.wildcard(), covering)]
    # JetStream's API is request/reply too.
    if requests or role in RECORDS_ACCESS or role in SESSION_STATE_ACCESS:
        subscribe.append(f"{inbox_prefix(role)}.>")
    access = RECORDS_ACCESS.get(role)
    if access is not None:
        publish += records_api_subjects(access)
    if (state_access := SESSION_STATE_ACCESS.get(role)) is not None:
        publish += session_state_subjects(state_access)
    if role is Service.RECORDINGS:
        publish += recorder_api_subjects()
    return Permissions(
        publish=tuple(publish),
        subscribe=tuple(subscribe),
        subscribe_deny=tuple(deny),
        respond=any(c.reply is not None for c in receives),
    )


def permissions_document() -> dict[str, dict[str, Any]]:
    """Every role's ``permissions`` block, by role name."""
    return {role.value: permissions(role).server_config() for role in Service}


def _within(subject: str, pattern: str) -> bool:
    """True when every subject matched by ``subject`` (which may hold wildcards) matches ``pattern``."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for i, want in enumerate(wanted):
        if want == ">":
            return len(tokens) > i
        if i >= len(tokens) or tokens[i] == ">":
            return False
        if want != "*" and tokens[i] != want:
            return False
    return len(tokens) == len(wanted)


def render() -> str:
    return json.dumps(permissions_document(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    return document_command(
        argv, description=__doc__, render=render, load=json.loads, source="voice_proto.channels"
    )


if __name__ == "__main__":
    raise SystemExit(main())
