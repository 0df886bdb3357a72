from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from voice_proto.settings import ServiceSettings


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
