"""Each service's NATS permissions come from the channel table: a sender may publish, a receiver may
subscribe, nobody else may do either (the live side of this is tests/test_nats_security.py)."""

from __future__ import annotations

from typing import Any

import pytest
from voice_proto import channels
from voice_proto import messages as m
from voice_proto import permissions as p
from voice_proto.channels import Service


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching of a literal subject against a pattern."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, want in enumerate(wanted):
        if want == ">":
            return len(tokens) > i
        if i >= len(tokens) or (want != "*" and want != tokens[i]):
            return False
    return len(tokens) == len(wanted)


SID = "permissions-test-0001"


def subject_of(channel: channels.Channel[Any]) -> str:
    return channel.subject(SID if channel.per_session else None)


def may_publish(service: Service, subject: str) -> bool:
    return any(matches(allowed, subject) for allowed in p.permissions(service).publish)


def may_receive(service: Service, subject: str) -> bool:
    rules = p.permissions(service)
    allowed = any(matches(pattern, subject) for pattern in rules.subscribe)
    return allowed and not any(matches(pattern, subject) for pattern in rules.subscribe_deny)


@pytest.mark.parametrize("channel", channels.ALL_CHANNELS, ids=lambda c: c.name)
def test_exactly_the_senders_publish_and_the_receivers_receive(channel: channels.Channel[Any]) -> None:
    subject = subject_of(channel)
    for service in Service:
        assert may_publish(service, subject) == (service in channel.senders), (service, subject)
        assert may_receive(service, subject) == (service in channel.receivers), (service, subject)


def test_a_session_subscription_is_allowed_as_one_wildcard() -> None:
    worker = p.permissions(Service.NOVA)
    inputs: list[channels.Channel[Any]] = [channels.IN_AUDIO, channels.IN_TEXT, channels.IN_CONTROL]
    assert channels.covering_wildcard([c.wildcard() for c in inputs]) in worker.subscribe
    edge = p.permissions(Service.EDGE)
    assert "voice.*.>" in edge.subscribe
    # Under the edge's wildcard, what it does not receive is filtered out.
    assert set(edge.subscribe_deny) == {
        c.wildcard()
        for c in (
            channels.SESSIONS_START,
            channels.IN_AUDIO,
            channels.IN_TEXT,
            channels.IN_CONTROL,
            channels.LIFECYCLE,
        )
    }


def test_replies_inboxes_and_the_records_stream() -> None:
    assert p.permissions(Service.AUTH).respond  # answers auth.validate
    assert p.permissions(Service.NOVA).respond  # answers session starts and resumes
    assert not p.permissions(Service.EDGE).respond
    assert "_INBOX.edge.>" in p.permissions(Service.EDGE).subscribe
    assert not any(s.startswith("_INBOX") for s in p.permissions(Service.AUTH).subscribe)
    nova_js = [s for s in p.permissions(Service.NOVA).publish if s.startswith("$JS")]
    assert nova_js == ["$JS.API.STREAM.INFO.KV_VOICE_SESSIONS"]  # no stream access: a bucket's binding
    edge_js = [s for s in p.permissions(Service.EDGE).publish if s.startswith("$JS") and "KV_" not in s]
    assert edge_js == p.records_api_subjects(p.StreamAccess.ENSURE)
    assert not any("CONSUMER" in s for s in edge_js)
    reader = p.permissions(Service.TRANSCRIPTS).publish
    assert "$JS.API.CONSUMER.MSG.NEXT.VOICE_RECORDS.*" in reader
    assert "$JS.ACK.VOICE_RECORDS.>" in reader


def test_a_channel_added_to_the_table_is_granted_to_the_services_it_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new = channels.Channel[m.TextIn](
        name="newThing",
        address="voice.{sessionId}.new.thing",
        payload=m.TextIn,
        summary="a channel from the future",
        senders=(Service.NOVA,),
        receivers=(Service.ANALYTICS,),
    )
    monkeypatch.setattr(p, "ALL_CHANNELS", (*channels.ALL_CHANNELS, new))
    subject = new.subject(SID)
    assert may_publish(Service.NOVA, subject)
    assert not may_publish(Service.EDGE, subject)
    assert may_receive(Service.ANALYTICS, subject)
    assert not may_receive(Service.EDGE, subject)  # under the edge's voice.*.> and denied


def test_the_document_is_json_for_nats_conf() -> None:
    document = p.permissions_document()
    assert set(document) == {s.value for s in Service}
    assert document["auth"] == {
        "subscribe": {"allow": ["auth.validate", "auth.dev.token", "auth.config"]},
        "allow_responses": True,
    }


def test_the_edge_keeps_the_session_state_bucket_and_a_worker_may_forget_an_entry() -> None:
    write = "$KV.VOICE_SESSIONS.some-session-id"  # a put or a delete
    get = "$JS.API.DIRECT.GET.KV_VOICE_SESSIONS.$KV.VOICE_SESSIONS.some-session-id"
    for service in Service:
        assert may_publish(service, write) == (service in (Service.EDGE, Service.NOVA)), service
        assert may_publish(service, get) == (service is Service.EDGE), service
