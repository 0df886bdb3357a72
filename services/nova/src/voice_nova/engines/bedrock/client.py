"""The Bedrock Runtime client every session of a worker shares (one HTTP/2 connection pool).

SDK 0.12.0: the configuration is resolved asynchronously, and the default transport (aiohttp)
cannot do bidirectional streams, so the awscrt one is passed, forced to HTTP/2 so that a
misconfigured endpoint fails at once instead of hanging on HTTP/1.1.
"""

from __future__ import annotations

from typing import Any

from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
from aws_sdk_bedrock_runtime.config import AsyncBedrockRuntimeConfig
from smithy_http.aio.crt import AWSCRTHTTPClient, AWSCRTHTTPClientConfig

from .settings import BedrockSettings

FALLBACK_REGION = "us-east-1"


async def bedrock_client(settings: BedrockSettings) -> AsyncBedrockRuntimeClient:
    """A client configured from the settings and the standard AWS environment.

    Region: the setting, else ``AWS_REGION``/``AWS_DEFAULT_REGION``/the profile, else us-east-1.
    Endpoint: ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (or ``AWS_ENDPOINT_URL``) when set. Credentials:
    the SDK's standard chain, resolved on first use and refreshed by it.
    """
    overrides: dict[str, Any] = {
        "transport": AWSCRTHTTPClient(client_config=AWSCRTHTTPClientConfig(force_http_2=True)),
    }
    if settings.region:
        overrides["region"] = settings.region
    config = await AsyncBedrockRuntimeConfig.resolve(**overrides)
    if not config.region:
        config = await AsyncBedrockRuntimeConfig.resolve(region=FALLBACK_REGION, **overrides)
    return AsyncBedrockRuntimeClient(config=config)
