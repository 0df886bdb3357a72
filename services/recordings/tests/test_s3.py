"""The S3 backend against an S3-compatible server running as a real process (moto's server mode):
keys by date and principal, whole and ranged reads, a presigned URL that any client can GET with a
Range, deletion. Credentials come from the standard AWS chain (here: the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from voice_recordings.store import ByteRange, ObjectMissing, S3Location, S3Store, object_key
from voice_testkit.s3 import CREDENTIALS, S3Server

BUCKET = "voice-recordings-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(Path(tmp_path_factory.mktemp("s3"))).start()
    server.create_bucket(BUCKET)
    try:
        yield server
    finally:
        server.stop()


async def test_s3_store(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    store = S3Store(S3Location(BUCKET, CREDENTIALS["AWS_DEFAULT_REGION"], s3.url))
    await store.start()
    assert await store.ping()
    key = object_key("recordings", 1_764_460_800.0, "alice/x", "s3-test-session-000001", ".ogg")
    assert key == "recordings/2025/11/30/alice%2Fx/s3-test-session-000001.ogg"
    data = bytes(range(256)) * 40
    await store.put(key, data, "audio/ogg")
    assert await store.read(key) == data
    assert await store.read(key, ByteRange(100, 1099)) == data[100:1100]

    url = await store.presigned_url(key, 60)
    assert url is not None
    assert "X-Amz-Signature" in url
    async with httpx.AsyncClient() as client:
        ranged = await client.get(url, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206
        assert ranged.content == data[10:20]
        unsigned = await client.get(url.split("?")[0])
        assert unsigned.status_code == 403

    await store.delete(key)
    await store.delete(key)  # twice is fine
    with pytest.raises(ObjectMissing):
        await store.read(key)


async def test_a_missing_bucket_is_made_when_asked(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    region = CREDENTIALS["AWS_DEFAULT_REGION"]
    absent = S3Store(S3Location("voice-recordings-absent", region, s3.url))
    await absent.start()
    assert not await absent.ping()
    made = S3Store(S3Location("voice-recordings-made", region, s3.url, create_bucket=True))
    await made.start()
    assert await made.ping()
