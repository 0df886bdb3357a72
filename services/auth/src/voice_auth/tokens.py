"""JWT validation, Cognito-compatible, through PyJWT.

Every token, from Cognito or from the dev issuer, takes the same path: the algorithm must be on
the asymmetric allow-list (so ``none`` and HMAC tricks with a public key never get as far as a
key), the unverified ``iss`` picks the trusted issuer, the ``kid`` picks its key from the cached
JWKS, then PyJWT checks the signature and ``exp``/``nbf``/``iat`` with a small leeway, and the
claims Cognito puts in its tokens are checked: ``aud`` (ID tokens) or ``client_id`` (access tokens)
against the accepted audiences, and ``token_use``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from voice_proto.messages import AuthRefusal

from .jwks import JwksCache, JwksUnavailable, SigningKey

#: Algorithms that may ever be allowed: asymmetric only. A symmetric one would let anyone holding
#: the (public) verification key sign tokens.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class Refused(Exception):
    """A token that does not pass, with the reason code sent back to the caller."""

    def __init__(self, reason: AuthRefusal) -> None:
        super().__init__(reason)
        self.reason = reason


def check_algorithms(names: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(name.strip() for name in names if name.strip())
    if not allowed:
        raise ValueError("the JWT algorithm allow-list is empty")
    if unsafe := sorted(allowed - ASYMMETRIC_ALGORITHMS):
        raise ValueError(f"only asymmetric JWT algorithms may be allowed, not {', '.join(unsafe)}")
    return allowed


@dataclass(frozen=True)
class Issuer:
    """One issuer whose tokens are accepted, and what its tokens must say."""

    issuer: str
    keys: JwksCache = field(compare=False)
    #: ``aud`` (ID tokens) or ``client_id`` (access tokens) must be one of these.
    audiences: frozenset[str]
    #: Accepted values of ``token_use``; empty: the claim is not checked (issuers other than Cognito).
    token_uses: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verified:
    principal: str
    groups: tuple[str, ...]
    expires_at: float


class JwtValidator:
    def __init__(
        self,
        issuers: Iterable[Issuer],
        *,
        algorithms: Iterable[str] = ("RS256",),
        leeway: float = 30.0,
        principal_claim: str = "sub",
        groups_claim: str = "cognito:groups",
    ) -> None:
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self._algorithms = check_algorithms(algorithms)
        self._leeway = leeway
        self._principal_claim = principal_claim
        self._groups_claim = groups_claim

    def __bool__(self) -> bool:
        return bool(self._issuers)

    async def verify(self, token: str) -> Verified:
        try:
            header = jwt.get_unverified_header(token)
            unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Refused(AuthRefusal.MALFORMED) from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise Refused(AuthRefusal.ALG_NOT_ALLOWED)
        issuer = self._issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise Refused(AuthRefusal.WRONG_ISSUER)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Refused(AuthRefusal.UNKNOWN_KID)
        try:
            key = await issuer.keys.key(kid)
        except JwksUnavailable:
            raise Refused(AuthRefusal.JWKS_UNAVAILABLE) from None
        if key is None:
            raise Refused(AuthRefusal.UNKNOWN_KID)
        if not _key_fits(key, algorithm):
            raise Refused(AuthRefusal.ALG_NOT_ALLOWED)
        claims = self._decode(token, key, algorithm, issuer)
        self._check_cognito_claims(claims, issuer)
        principal = claims.get(self._principal_claim)
        if not isinstance(principal, str) or not principal:
            raise Refused(AuthRefusal.MISSING_CLAIM)
        groups = claims.get(self._groups_claim) or []
        if not isinstance(groups, list):
            groups = []
        return Verified(principal, tuple(str(g) for g in groups), float(claims["exp"]))

    def _decode(self, token: str, key: SigningKey, algorithm: str, issuer: Issuer) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=issuer.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Refused(AuthRefusal.EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise Refused(AuthRefusal.NOT_YET_VALID) from None
        except jwt.InvalidIssuerError:
            raise Refused(AuthRefusal.WRONG_ISSUER) from None
        except jwt.MissingRequiredClaimError:
            raise Refused(AuthRefusal.MISSING_CLAIM) from None
        except jwt.InvalidSignatureError:
            raise Refused(AuthRefusal.BAD_SIGNATURE) from None
        except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            raise Refused(AuthRefusal.ALG_NOT_ALLOWED) from None
        except jwt.InvalidTokenError:
            raise Refused(AuthRefusal.MALFORMED) from None
        return claims

    @staticmethod
    def _check_cognito_claims(claims: dict[str, Any], issuer: Issuer) -> None:
        aud = claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        client_id = claims.get("client_id")
        if isinstance(client_id, str):
            audiences.add(client_id)
        if not audiences & issuer.audiences:
            raise Refused(AuthRefusal.WRONG_AUDIENCE)
        if issuer.token_uses and claims.get("token_use") not in issuer.token_uses:
            raise Refused(AuthRefusal.WRONG_TOKEN_USE)


def _key_fits(key: SigningKey, algorithm: str) -> bool:
    """The key's type matches the algorithm's family, and its declared ``alg`` (if any) is this one."""
    if key.algorithm is not None and key.algorithm != algorithm:
        return False
    return key.key_type == _KEY_TYPES.get(algorithm[:2])
