from __future__ import annotations

import time

import pytest
from voice_auth.apikeys import ApiKeySpecError, ApiKeyStore, default_principal


def test_named_and_bare_keys() -> None:
    store = ApiKeyStore("alice=k-alice, k-bare ,", admins=frozenset({"alice"}), ttl=60)
    assert len(store) == 2
    alice = store.check("k-alice")
    assert alice.ok
    assert alice.principal == "alice"
    assert alice.roles == ["admin"]
    assert time.time() < alice.expires_at <= time.time() + 60
    bare = store.check("k-bare")
    assert bare.ok
    assert bare.principal == default_principal("k-bare")
    assert bare.roles == []
    assert "k-bare" not in bare.principal


@pytest.mark.parametrize("presented", ["", "k-alice ", "K-ALICE", "k-alic", "k-alice-longer", "alice"])
def test_anything_else_is_refused_with_a_reason(presented: str) -> None:
    reply = ApiKeyStore("alice=k-alice").check(presented)
    assert not reply.ok
    assert reply.reason == "unknown_key"
    assert reply.principal == ""


def test_no_keys_refuses_everything() -> None:
    assert not ApiKeyStore("").check("anything").ok


@pytest.mark.parametrize("spec", ["alice=", "=key"])
def test_malformed_spec_is_an_error(spec: str) -> None:
    with pytest.raises(ApiKeySpecError):
        ApiKeyStore(spec)
