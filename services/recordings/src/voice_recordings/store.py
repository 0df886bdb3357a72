"""Where recordings are kept: one small interface, two backends.

- :class:`NatsObjectStore`: the NATS JetStream object store (bucket ``recordings``), the embedded
  default: nothing new to run.
- :class:`S3Store`: Amazon S3 (or any S3-compatible server), credentials from the standard AWS
  chain (environment, web identity for IRSA, instance role), so no key is ever configured here.

Objects are named by :func:`object_key`: ``<prefix>/YYYY/MM/DD/<principal>/<session>.ogg`` (UTC
date of the session's start), and each recording's index of turns sits beside it as ``.json``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore
from voice_proto.streams import RECORDINGS_BUCKET


class StorageError(Exception):
    """The backend cannot be reached or refused the operation (retry later)."""


class ObjectMissing(KeyError):
    """No object under that key."""


def object_key(prefix: str, started_at: float, principal: str, session_id: str, suffix: str) -> str:
    """``<prefix>/YYYY/MM/DD/<principal>/<session><suffix>``; the principal is percent-encoded, so a
    principal holding ``/`` stays one path segment."""
    day = datetime.fromtimestamp(started_at, UTC).strftime("%Y/%m/%d")
    parts = [prefix.strip("/")] if prefix.strip("/") else []
    return "/".join([*parts, day, quote(principal or "anonymous", safe=""), f"{session_id}{suffix}"])


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte positions, as HTTP ``Range: bytes=first-last`` has them."""

    first: int
    last: int


class RecordingStore(Protocol):
    """Put, read (whole or a byte range), delete objects; an optional presigned URL."""

    name: str

    async def start(self) -> None: ...

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def read(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        """Raises ObjectMissing; StorageError when the backend fails."""
        ...

    async def delete(self, key: str) -> None:
        """Deleting what is not there is not an error."""
        ...

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        """A URL any client may GET for ``seconds`` (Range works on it), or None when the backend has
        none (then the API serves the bytes itself)."""
        ...

    async def ping(self) -> bool: ...


class NatsObjectStore:
    """The JetStream object store bucket ``recordings``; ``max_bytes`` bounds it (-1: the server's
    limits). An object is read whole and sliced: recordings are small (about 4 kB a second)."""

    name = "nats"

    def __init__(self, js: Callable[[], JetStreamContext], *, max_bytes: int, replicas: int = 1) -> None:
        #: The connected bus's JetStream (asked for at start, when the bus is connected).
        self._jetstream = js
        self._max_bytes = max_bytes
        self._replicas = replicas
        self._store: ObjectStore | None = None

    async def start(self) -> None:
        js = self._jetstream()
        try:
            self._store = await js.object_store(RECORDINGS_BUCKET)
        except (BucketNotFoundError, NotFoundError):
            config = ObjectStoreConfig(
                bucket=RECORDINGS_BUCKET,
                description="Voice session recordings (Ogg Opus) and their indexes",
                storage=StorageType.FILE,
                max_bytes=self._max_bytes,
                replicas=self._replicas,
            )
            self._store = await js.create_object_store(RECORDINGS_BUCKET, config=config)

    @property
    def _bucket(self) -> ObjectStore:
        assert self._store is not None, "NatsObjectStore.start() was not awaited"
        return self._store

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await self._bucket.put(key, data)
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc

    async def read(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        try:
            result = await self._bucket.get(key)
        except ObjectNotFoundError:
            raise ObjectMissing(key) from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc
        data = result.data or b""
        if byte_range is None:
            return data
        return data[byte_range.first : byte_range.last + 1]

    async def delete(self, key: str) -> None:
        try:
            await self._bucket.delete(key)
        except ObjectNotFoundError:
            return
        except (nats.errors.Error, TimeoutError) as exc:
            raise StorageError(str(exc)) from exc

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        return None

    async def ping(self) -> bool:
        try:
            await self._bucket.status()
        except (nats.errors.Error, TimeoutError):
            return False
        return True


@dataclass(frozen=True)
class S3Location:
    bucket: str
    region: str | None = None
    #: For an S3-compatible server (MinIO, a test server); None: AWS itself.
    endpoint_url: str | None = None
    #: Create the bucket at start when it is missing.
    create_bucket: bool = False


class S3Store:
    """An S3 bucket through boto3 (calls run in threads; boto3 clients are thread-safe)."""

    name = "s3"

    def __init__(self, location: S3Location) -> None:
        self._location = location
        self._client: Any = None

    async def start(self) -> None:
        import boto3  # only deployments on S3 pay for importing it
        from botocore.config import Config

        def client() -> Any:
            config = Config(retries={"mode": "standard", "max_attempts": 4}, signature_version="s3v4")
            return boto3.session.Session().client(
                "s3",
                region_name=self._location.region,
                endpoint_url=self._location.endpoint_url,
                config=config,
            )

        self._client = await asyncio.to_thread(client)
        if self._location.create_bucket and not await self.ping():
            params: dict[str, Any] = {}
            if self._location.region and self._location.region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": self._location.region}
            await self._call("create_bucket", **params)

    async def _call(self, method: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        call = functools.partial(getattr(self._client, method), Bucket=self._location.bucket, **params)
        try:
            return await asyncio.to_thread(call)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(params.get("Key", "")) from None
            raise StorageError(f"{method}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{method}: {exc}") from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call("put_object", Key=key, Body=data, ContentType=content_type)

    async def read(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        params: dict[str, Any] = {"Key": key}
        if byte_range is not None:
            params["Range"] = f"bytes={byte_range.first}-{byte_range.last}"
        response = await self._call("get_object", **params)
        body = response["Body"]
        try:
            return await asyncio.to_thread(body.read)
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Key=key)

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        params = {"Bucket": self._location.bucket, "Key": key}
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url, "get_object", Params=params, ExpiresIn=seconds
        )
        return url

    async def ping(self) -> bool:
        try:
            await self._call("head_bucket")
        except (StorageError, ObjectMissing):
            return False
        return True
