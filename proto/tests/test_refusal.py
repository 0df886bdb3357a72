"""One classification of a refused credential, which each transport maps to its own codes."""

from __future__ import annotations

import pytest
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_proto.auth import AuthClient, HttpRefusal, Refusal, classify_refusal, http_caller
from voice_testkit.recorder import Recorder

CASES = [
    ("expired", Refusal.UNAUTHORIZED, 401),
    ("unknown_key", Refusal.UNAUTHORIZED, 401),
    ("", Refusal.UNAUTHORIZED, 401),
    ("rate_limited", Refusal.RATE_LIMITED, 429),
    ("jwks_unavailable", Refusal.UNAVAILABLE, 503),
]


@pytest.mark.parametrize(("reason", "refusal", "_status"), CASES)
def test_a_refusal_is_the_callers_fault_or_the_servers(reason: str, refusal: Refusal, _status: int) -> None:
    assert classify_refusal(reason) is refusal


@pytest.mark.parametrize(("reason", "_refusal", "status"), CASES)
async def test_http_callers_get_the_status_of_its_class(
    own_bus: Bus, reason: str, _refusal: Refusal, status: int
) -> None:
    refused = m.ValidateReply(ok=False, reason=reason)
    await Recorder().listen(own_bus, channels.AUTH_VALIDATE, answer=lambda _request: refused)
    with pytest.raises(HttpRefusal) as caught:
        await http_caller(AuthClient(own_bus, timeout=2, cache_seconds=0), "ApiKey k", "127.0.0.1")
    assert caught.value.status == status
    assert caught.value.body.get("reason") == (reason or None)
