"""An S3-compatible server of the test's own: moto's server mode (``moto_server``, from the dev
dependencies) as a real process on a free port, with a bucket made for the test. Clients reach it
through the standard AWS credential chain, given test credentials in the environment."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from voice_dev.natsserver import free_port

from .processes import ManagedProcess, ProcessFailed
from .stack import script

#: What the standard AWS credential chain finds in the environment of a client of the test server.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


class S3Server:
    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self.process = ManagedProcess(
            f"s3-{self.port}",
            [script("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            dict(os.environ),
            work_dir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> S3Server:
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running:
                raise ProcessFailed(f"moto_server exited:\n{self.process.log_text()}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise ProcessFailed(f"moto_server not answering on {self.port}")

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": CREDENTIALS["AWS_DEFAULT_REGION"]}
        )

    def stop(self) -> None:
        self.process.stop()
