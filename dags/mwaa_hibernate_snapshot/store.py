"""Where a snapshot lives: a local folder or an S3 prefix, behind one small interface.

Writes stream at constant memory and compute the stored object's sha256 and size on the fly; a write
that fails leaves nothing behind (S3 multipart uploads are aborted, partial local files removed).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlparse

from mwaa_hibernate_snapshot.errors import StoreError

# S3 multipart part size. Every part but the last has exactly this size (some S3-compatible stores
# require equal parts); 8 MiB keeps worker memory small and allows 80 GB per file (10,000 parts).
PART_SIZE = 8 * 1024 * 1024
# Read buffer for streaming objects back (verify, restore).
READ_CHUNK = 1024 * 1024


class CountingWriter(Protocol):
    """A binary sink that knows how many bytes went through it and their sha256."""

    def write(self, data: bytes) -> int: ...

    @property
    def bytes_written(self) -> int: ...

    @property
    def sha256(self) -> str: ...


class SnapshotStore(Protocol):
    """One snapshot folder. Names are relative (`manifest.json`, `tables/dag_run.csv.gz`)."""

    @property
    def uri(self) -> str: ...

    def writer(self, name: str) -> contextlib.AbstractContextManager[CountingWriter]: ...

    def reader(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]: ...

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int | None: ...

    def list(self) -> list[str]: ...

    def put_bytes(self, name: str, data: bytes) -> None: ...

    def get_bytes(self, name: str) -> bytes: ...


@dataclass
class _Hasher:
    sink: Any
    _sha: Any = field(default_factory=hashlib.sha256)
    bytes_written: int = 0

    def write(self, data: bytes) -> int:
        self._sha.update(data)
        self.bytes_written += len(data)
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        """gzip calls flush on its file object; the real flushing happens when the writer closes."""

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


@dataclass
class LocalStore:
    """A folder on a local disk (CLI, tests, the sandbox)."""

    root: Path

    @property
    def uri(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        # A name comes from a manifest, which is data: it must stay inside the folder (no "..", no absolute path).
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()) or path == self.root.resolve():
            raise StoreError(f"{name!r} is not a file inside the snapshot folder {self.root}: refused")
        return path

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[CountingWriter]:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                hasher = _Hasher(fh)
                yield hasher
            if path.exists():
                raise StoreError(
                    f"{path} already exists: a snapshot object is written once and never overwritten. Export into "
                    "a new snapshot folder"
                )
            os.replace(tmp, path)  # appears complete or not at all
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        try:
            fh = open(self._path(name), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise StoreError(f"{self._path(name)} does not exist") from exc
        with fh:
            yield fh

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else None

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def put_bytes(self, name: str, data: bytes) -> None:
        with self.writer(name) as out:
            out.write(data)

    def get_bytes(self, name: str) -> bytes:
        with self.reader(name) as fh:
            return fh.read()


class _MultipartSink:
    """Buffers exactly PART_SIZE bytes per part; small objects end up as one PutObject."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            self._upload_part(bytes(self.buffer[:PART_SIZE]))
            del self.buffer[:PART_SIZE]

    def _upload_part(self, body: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        resp = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def complete(self) -> None:
        # Created once, never overwritten: If-None-Match makes S3 refuse a key that already holds an object
        # (412), which the bucket policy also demands of every snapshot object.
        if self.upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), IfNoneMatch="*")
            return
        if self.buffer:
            self._upload_part(bytes(self.buffer))
            self.buffer.clear()
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
            IfNoneMatch="*",
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        self.buffer.clear()


class S3Store:
    """An S3 prefix. The client is injected (tests pass a moto client) or built on first use."""

    def __init__(self, bucket: str, prefix: str, *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def _key(self, name: str) -> str:
        return self.prefix + name

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[CountingWriter]:
        sink = _MultipartSink(self.client, self.bucket, self._key(name))
        hasher = _Hasher(sink)
        try:
            yield hasher
            sink.complete()
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the original error matters more than a failed abort
                sink.abort()
            if _already_exists(exc):
                raise StoreError(
                    f"{self.uri}{name} already exists: a snapshot object is written once and never overwritten. "
                    "Export into a new snapshot folder"
                ) from exc
            raise

    @contextlib.contextmanager
    def reader(self, name: str) -> Iterator[BinaryIO]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except ClientError as exc:
            raise StoreError(f"cannot read {self.uri}{name}: {exc}") from exc
        try:
            yield io.BufferedReader(_RawBody(body), buffer_size=READ_CHUNK)
        finally:
            body.close()

    def size(self, name: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(name))["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreError(f"cannot read {self.uri}{name}: {exc}") from exc

    def exists(self, name: str) -> bool:
        return self.size(name) is not None

    def list(self) -> list[str]:
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            names.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", ()))
        return sorted(names)

    def put_bytes(self, name: str, data: bytes) -> None:
        with self.writer(name) as out:
            out.write(data)

    def get_bytes(self, name: str) -> bytes:
        with self.reader(name) as fh:
            return fh.read()


def _already_exists(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in (
        "PreconditionFailed",
        "ConditionalRequestConflict",
    )


class _RawBody(io.RawIOBase):
    """Adapts botocore's StreamingBody to io.RawIOBase so it can be buffered and gunzipped."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_store(uri: str | os.PathLike[str], *, s3_client: Any = None) -> SnapshotStore:
    """Open the snapshot folder at `uri`: `s3://bucket/prefix/` or a local directory path.

    Parameters
    ----------
    uri
        Where the snapshot is (or will be). One snapshot per folder.
    s3_client
        A boto3 S3 client to use; built lazily from the default session when omitted.
    """
    text = os.fspath(uri)
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if not parsed.netloc:
            raise StoreError(f"{text!r} names no bucket: use s3://bucket/prefix/")
        return S3Store(parsed.netloc, parsed.path, client=s3_client)
    if "://" in text:
        raise StoreError(f"{text!r}: only s3:// URIs and local paths are supported")
    return LocalStore(Path(text))
