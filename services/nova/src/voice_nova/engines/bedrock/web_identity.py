"""Web-identity credentials (IRSA on EKS) for the AWS SDK's standard credential chain.

SDK 0.12.0's chain keeps a slot for ``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN`` but no
released package fills it, so a worker on EKS with IRSA would find no credentials. This provider
claims that slot (it is registered under the SDK's ``smithy_aws_core.identity.chain_providers``
entry point group, so the chain finds it on its own) and trades the pod's token for the role's
credentials with STS AssumeRoleWithWebIdentity, a call that needs no credentials of its own.

The token file is read again at every refresh, because the kubelet rotates it; credentials are
refreshed a few minutes before they expire, so no request is signed with about-to-expire keys.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smithy_aws_core.identity import AWSCredentialsIdentity, AWSIdentityProperties
from smithy_aws_core.identity.chain import ChainSetup, Standard, StandardProvider
from smithy_core.exceptions import SmithyIdentityError
from smithy_core.interfaces.identity import Identity

TOKEN_FILE_ENV = "AWS_WEB_IDENTITY_TOKEN_FILE"  # noqa: S105 - a variable name, not a secret
ROLE_ARN_ENV = "AWS_ROLE_ARN"
SESSION_NAME_ENV = "AWS_ROLE_SESSION_NAME"
DEFAULT_STS_REGION = "us-east-1"

#: Credentials are renewed this long before they expire.
REFRESH_MARGIN = timedelta(minutes=5)


class _NoSigning:
    """AssumeRoleWithWebIdentity takes no credentials of its own. SDK 0.12.0's generated STS auth
    resolver means to say so, but compares the operation object with its name, so it would sign
    the call, and look for credentials in the very chain this provider is filling (endlessly)."""

    def resolve_auth_scheme(self, auth_parameters: Any) -> list[Any]:
        return []


class WebIdentityCredentialsResolver:
    """Role credentials for the pod's web-identity token, cached until shortly before expiry."""

    def __init__(self, *, token_file: str, role_arn: str, session_name: str, region: str) -> None:
        self._token_file = Path(token_file)
        self._role_arn = role_arn
        self._session_name = session_name
        self._region = region
        self._credentials: AWSCredentialsIdentity | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        credentials = self._credentials
        if credentials is None:
            return False
        if credentials.expiration is None:
            return True
        return datetime.now(UTC) + REFRESH_MARGIN < credentials.expiration

    async def get_identity(self, *, properties: AWSIdentityProperties) -> AWSCredentialsIdentity:
        if self._fresh():
            assert self._credentials is not None
            return self._credentials
        async with self._lock:
            if not self._fresh():
                self._credentials = await self._assume_role()
            assert self._credentials is not None
            return self._credentials

    async def invalidate(self) -> None:
        self._credentials = None

    async def _assume_role(self) -> AWSCredentialsIdentity:
        from aws_sdk_sts.client import AsyncSTSClient
        from aws_sdk_sts.config import AsyncSTSConfig
        from aws_sdk_sts.models import AssumeRoleWithWebIdentityInput

        try:
            token = (await asyncio.to_thread(self._token_file.read_text)).strip()
        except OSError as exc:
            raise SmithyIdentityError(
                f"cannot read the web identity token {self._token_file}: {exc}"
            ) from exc
        if self._client is None:
            # The STS client's own transport (plain HTTPS), not the worker's HTTP/2-only one.
            self._client = AsyncSTSClient(
                config=await AsyncSTSConfig.resolve(region=self._region, auth_scheme_resolver=_NoSigning())
            )
        response = await self._client.assume_role_with_web_identity(
            AssumeRoleWithWebIdentityInput(
                role_arn=self._role_arn, role_session_name=self._session_name, web_identity_token=token
            )
        )
        credentials = response.credentials
        if credentials is None:
            raise SmithyIdentityError("STS AssumeRoleWithWebIdentity answered without credentials")
        arn = response.assumed_role_user.arn if response.assumed_role_user is not None else ""
        parts = (arn or "").split(":")
        return AWSCredentialsIdentity(
            access_key_id=credentials.access_key_id,
            secret_access_key=credentials.secret_access_key,
            session_token=credentials.session_token,
            expiration=credentials.expiration,
            account_id=parts[4] if len(parts) > 4 and parts[4] else None,
        )


class WebIdentityProvider:
    """Fills the chain's web-identity slot when the pod has a token file and a role."""

    @property
    def name(self) -> str:
        return StandardProvider.WEB_IDENTITY_TOKEN_ENV.canonical_name

    @property
    def ordering(self) -> Standard:
        return Standard(slot=StandardProvider.WEB_IDENTITY_TOKEN_ENV)

    async def setup(self, identity_type: type[Identity], setup: ChainSetup) -> None:
        if identity_type is not AWSCredentialsIdentity:
            return
        token_file, role_arn = os.getenv(TOKEN_FILE_ENV), os.getenv(ROLE_ARN_ENV)
        if not token_file or not role_arn:
            return
        region = (
            setup.region_override
            or os.getenv("AWS_REGION")
            or os.getenv("AWS_DEFAULT_REGION")
            or DEFAULT_STS_REGION
        )
        session_name = os.getenv(SESSION_NAME_ENV) or f"voice-nova-{uuid.uuid4().hex[:12]}"
        setup.add_terminal_resolver(
            WebIdentityCredentialsResolver(
                token_file=token_file, role_arn=role_arn, session_name=session_name, region=region
            )
        )
