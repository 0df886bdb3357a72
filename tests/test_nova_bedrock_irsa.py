"""Web-identity credentials (IRSA on EKS): the worker finds them through the SDK's standard chain,
trades the pod's token for role credentials at STS, and signs Nova Sonic requests with them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from nova_emulator import EmulatorThread
from nova_emulator.sts import StsEmulator
from nova_emulator.talk import until
from smithy_aws_core.identity import AWSCredentialsIdentity
from smithy_aws_core.identity.chain import IdentityChain
from voice_testkit.client import VoiceClient
from voice_testkit.nats import NatsServer
from voice_testkit.stack import API_KEYS, Stack

ROLE = "arn:aws:iam::123456789012:role/voice-nova"


def irsa_env(token_file: Path, sts: StsEmulator, work: Path) -> dict[str, str]:
    return {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": ROLE,
        "AWS_ROLE_SESSION_NAME": "voice-test",
        "AWS_ENDPOINT_URL_STS": sts.url,
        "AWS_REGION": "us-east-1",
        # Nothing else the chain could find first, whatever this machine has.
        "AWS_CONFIG_FILE": str(work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
    }


@pytest.fixture
def sts() -> Iterator[StsEmulator]:
    # Three-minute credentials are inside the refresh margin: every use renews them.
    with StsEmulator(lifetime=timedelta(minutes=3)) as emulator:
        yield emulator


async def test_the_chain_trades_the_rotating_pod_token_for_role_credentials(
    sts: StsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("pod-token-1\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in irsa_env(token, sts, tmp_path).items():
        monkeypatch.setenv(name, value)
    # What the Bedrock client does on its first call: assemble the standard chain.
    resolver = await IdentityChain.create(AWSCredentialsIdentity, region_override="us-east-1")

    first = await resolver.get_identity(properties={})
    assert (first.access_key_id, first.session_token) == sts.issued[0]
    assert first.account_id == "123456789012"
    assert sts.calls == [
        {"RoleArn": ROLE, "RoleSessionName": "voice-test", "WebIdentityToken": "pod-token-1"}
    ]

    token.write_text("pod-token-2\n")  # the kubelet rotated it
    second = await resolver.get_identity(properties={})
    assert (second.access_key_id, second.session_token) == sts.issued[1]
    assert sts.calls[1]["WebIdentityToken"] == "pod-token-2"


@pytest.mark.stack
async def test_a_worker_with_only_a_web_identity_talks_to_nova(sts: StsEmulator, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("pod-token\n")
    nats = NatsServer(tmp_path).start()
    with EmulatorThread(tmp_path) as emulator:
        env = {**emulator.env(), **irsa_env(token, sts, tmp_path)}
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        stack = Stack(nats.endpoint, tmp_path, **env)
        try:
            stack.start_spine()
            client = await VoiceClient.open(stack.ws_url(), key=API_KEYS["alice"])
            await client.expect("turn", role="assistant", state="ended", timeout=15)  # the greeting
            await client.end()
            await until(lambda: bool(emulator.server.records))
        finally:
            stack.stop_all()
            nats.stop()
    record = emulator.server.records[0]
    assert (record.access_key_id, record.security_token) in sts.issued
    assert sts.calls[0]["WebIdentityToken"] == "pod-token"
    assert not record.validator.violations
