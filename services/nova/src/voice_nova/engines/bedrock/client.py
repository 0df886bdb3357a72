"""The Bedrock Runtime client every session of a worker shares (one HTTP/2 connection pool).

SDK 0.12.0: the configuration is resolved asynchronously, and the default transport (aiohttp)
cannot do bidirectional streams, so the awscrt one is passed, forced to HTTP/2 so that a
misconfigured endpoint fails at once instead of hanging on HTTP/1.1.
"""

from __future__ import annotations

import asyncio
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


def quiet_finished_stream_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Keep awscrt's complaint about writing to an HTTP/2 stream that already ended (the service
    ended it, or we dropped it) out of the error log: its body-writer task fails that way after
    every stream that did not end with our goodbye, and there is nothing to act on."""
    default = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "AWS_ERROR_HTTP_STREAM_HAS_COMPLETED" in str(context.get("exception", "")):
            return
        if default is not None:
            default(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
