from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import ServiceSettings


def split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_")

    #: Comma-separated API keys, each ``key`` or ``principal=key``.
    api_keys: str = Field(default="", validation_alias="AUTH_API_KEYS")
    #: Principals that get the ``admin`` role (they may read every session's transcript).
    admin_principals: str = ""
    #: How long a caller may cache a positive answer for an API key (revocation takes this long).
    api_key_ttl: float = 300.0
    http_host: str = "127.0.0.1"
    http_port: int = 8082
    #: ``/metrics`` (see ServiceSettings.metrics_port); each service has its own default port.
    metrics_port: int = Field(default=9466, ge=0, le=65535, validation_alias="METRICS_PORT")

    # --- JWT (Cognito or any OpenID Connect issuer) ---------------------------------------------
    #: The issuer's JWKS; JWT validation is on when this is set.
    jwks_url: str = ""
    #: The exact ``iss`` of accepted tokens (Cognito: https://cognito-idp.<region>.amazonaws.com/<pool id>).
    issuer: str = ""
    #: Comma-separated: ``aud`` (ID tokens) or ``client_id`` (access tokens) must be one of these.
    audience: str = ""
    #: Comma-separated accepted ``token_use`` values (``access``, ``id``); empty: not checked.
    token_use: str = "access"  # noqa: S105 - a claim value, not a secret
    #: Comma-separated allow-list; asymmetric algorithms only.
    jwt_algorithms: str = "RS256"
    #: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    jwt_leeway: float = Field(default=30.0, ge=0, le=300)
    #: An unknown ``kid`` refreshes the JWKS at most this often (seconds).
    jwks_min_refresh: float = Field(default=30.0, ge=0)
    #: The JWKS is fetched again when older than this (seconds).
    jwks_max_age: float = Field(default=3600.0, gt=0)
    #: The claim that names the principal (Cognito: ``sub`` in both token kinds).
    principal_claim: str = "sub"
    #: Members of this group (``cognito:groups``) get the ``admin`` role.
    admin_group: str = "admin"
    #: Where the identity provider sends the browser back after sign-in (told to the web app).
    oidc_redirect_uri: str = ""

    # --- the development issuer -----------------------------------------------------------------
    dev_issuer: bool = False
    dev_key_path: Path = Path(".data/auth-dev-key.pem")
    dev_token_ttl: float = Field(default=900.0, gt=0)

    # --- abuse ------------------------------------------------------------------------------------
    #: Failed validations a source may make at once, and how fast that allowance refills.
    failures_burst: int = Field(default=20, ge=1)
    failures_per_minute: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _jwt_needs_issuer_and_audience(self) -> Self:
        # Without both, a token minted for any other app of the same user pool would pass.
        if self.jwks_url and not (self.issuer and split(self.audience)):
            raise ValueError("AUTH_JWKS_URL needs AUTH_ISSUER and AUTH_AUDIENCE")
        return self
