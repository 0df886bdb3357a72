"""The shared auth client's pieces that need no auth service: header parsing and the read rule."""

from __future__ import annotations

import pytest
from starlette.exceptions import HTTPException
from voice_proto import messages as m
from voice_proto.auth import Credential, credential_from_header, listed_principal, may_read


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer eyJ.a.b", Credential(m.CredentialScheme.BEARER, "eyJ.a.b")),
        ("bearer  eyJ.a.b ", Credential(m.CredentialScheme.BEARER, "eyJ.a.b")),
        ("ApiKey k-123", Credential(m.CredentialScheme.API_KEY, "k-123")),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_authorization_header(header: str | None, expected: Credential | None) -> None:
    assert credential_from_header(header) == expected


def test_the_secret_never_prints() -> None:
    assert "s3cret" not in repr(Credential(m.CredentialScheme.API_KEY, "s3cret"))


def test_own_sessions_or_admin() -> None:
    alice = m.ValidateReply(ok=True, principal="alice")
    admin = m.ValidateReply(ok=True, principal="ops", roles=["admin"])
    assert may_read(alice, "alice")
    assert not may_read(alice, "bob")
    assert not may_read(alice, "")  # a session whose owner is not known yet
    assert may_read(admin, "bob")
    assert may_read(admin, "")
    assert not may_read(m.ValidateReply(ok=False, principal="alice"), "alice")


def test_a_listing_holds_own_sessions_or_whose_an_admin_asks() -> None:
    alice = m.ValidateReply(ok=True, principal="alice")
    admin = m.ValidateReply(ok=True, principal="ops", roles=["admin"])
    assert listed_principal(alice, None) == "alice"
    assert listed_principal(alice, "alice") == "alice"
    with pytest.raises(HTTPException) as refused:
        listed_principal(alice, "bob")
    detail: object = refused.value.detail  # starlette's stub says str; the API sends a mapping
    assert (refused.value.status_code, detail) == (403, {"error": "forbidden"})
    assert listed_principal(admin, None) is None  # everyone's
    assert listed_principal(admin, "bob") == "bob"
