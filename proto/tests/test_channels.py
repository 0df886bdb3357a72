"""Subjects come from the channel table only, and session ids cannot inject subject tokens."""

from __future__ import annotations

import pytest
from voice_proto import InvalidSessionId, channels

SID = "abcdefghij0123456789"


def test_subjects_match_the_design() -> None:
    assert channels.SESSIONS_START.subject() == "voice.sessions.start"
    assert channels.IN_AUDIO.subject(SID) == f"voice.{SID}.in.audio"
    assert channels.IN_TEXT.subject(SID) == f"voice.{SID}.in.text"
    assert channels.IN_CONTROL.subject(SID) == f"voice.{SID}.in.control"
    assert channels.OUT_AUDIO.subject(SID) == f"voice.{SID}.out.audio"
    assert channels.OUT_EVENT.subject(SID) == f"voice.{SID}.out.event"
    assert channels.TRANSCRIPT.subject(SID) == f"voice.{SID}.transcript"
    assert channels.LIFECYCLE.subject(SID) == f"voice.{SID}.lifecycle"
    assert channels.AUTH_VALIDATE.subject() == "auth.validate"
    assert channels.AUTH_DEV_TOKEN.subject() == "auth.dev.token"
    assert channels.AUTH_CONFIG.subject() == "auth.config"


def test_the_session_of_a_subject() -> None:
    assert channels.TRANSCRIPT.session_of(f"voice.{SID}.transcript") == SID
    assert channels.LIFECYCLE.session_of(f"voice.{SID}.transcript") is None
    assert channels.TRANSCRIPT.session_of("voice.short.transcript") is None
    assert channels.TRANSCRIPT.session_of(f"voice.{SID}.x.transcript") is None
    assert channels.AUTH_VALIDATE.session_of("auth.validate") is None


@pytest.mark.parametrize(
    "bad", ["", "short", "a.b.c.d.e.f.g.h.i.j", "*" * 20, ">" * 20, "has space in it 1234", "x" * 65]
)
def test_session_ids_that_would_break_a_subject_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSessionId):
        channels.IN_AUDIO.subject(bad)


def test_per_session_channels_need_a_session() -> None:
    with pytest.raises(InvalidSessionId):
        channels.OUT_AUDIO.subject()


def test_wildcards_for_taps_and_streams() -> None:
    assert channels.TRANSCRIPT.wildcard() == "voice.*.transcript"
    assert channels.SESSIONS_START.wildcard() == "voice.sessions.start"
