"""S3 failures on demand for the sandbox's moto server: writes refused, objects corrupted after the fact.

The MWAA stand-in injects MWAA's failures; these are the S3 ones a hibernation must survive, applied
at the HTTP layer of moto's server so every client (the DAGs in Airflow, the handlers, moto's own
interpreter) sees them as it would see S3:

- ``deny(pattern, methods=...)``: requests with those methods on matching keys answer 403
  AccessDenied, as S3 does when a role lacks ``s3:PutObject`` or ``s3:GetObject`` there. With
  ``user_agent`` set, only requests whose User-Agent contains it are refused: the sandbox tags the
  Airflow processes' boto3 with an app id, so a fault can hit the environment's execution role alone.
- ``corrupt_after_write(trigger, target)``: once a key matching ``trigger`` has been written, the
  largest object matching ``target`` in the same folder (``tables/*`` beside a ``manifest.json``) is
  overwritten with the same number of bytes, one of them changed (a silently corrupted object: same
  size, different checksum). It happens before the trigger's
  write is answered, so whoever reads next already sees it.

Patterns are ``fnmatch`` patterns on the object key.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_WRITE_METHODS = ("PUT", "POST")


@dataclass(frozen=True)
class _Denial:
    pattern: str
    methods: tuple[str, ...]
    reason: str
    user_agent: str | None


@dataclass
class _Corruption:
    trigger: str
    target: str
    done: threading.Event


class S3Faults:
    """The S3 faults planned for one moto server; thread-safe (requests are served on many threads)."""

    def __init__(self) -> None:
        self._denied: list[_Denial] = []
        self._corruptions: list[_Corruption] = []
        self._lock = threading.Lock()
        self.corrupted: list[tuple[str, str]] = []  # (bucket, key) of every object corrupted so far

    def deny(
        self,
        pattern: str,
        *,
        methods: tuple[str, ...] = _WRITE_METHODS,
        reason: str = "Access Denied",
        user_agent: str | None = None,
    ) -> None:
        with self._lock:
            self._denied.append(_Denial(pattern, methods, reason, user_agent))

    def corrupt_after_write(self, *, trigger: str, target: str) -> threading.Event:
        """Plan one corruption; the returned event is set once it happened."""
        corruption = _Corruption(trigger=trigger, target=target, done=threading.Event())
        with self._lock:
            self._corruptions.append(corruption)
        return corruption.done

    def clear(self) -> None:
        with self._lock:
            self._denied.clear()
            self._corruptions.clear()

    def denial_for(self, method: str, key: str, user_agent: str) -> str | None:
        with self._lock:
            for denial in self._denied:
                if (
                    method in denial.methods
                    and fnmatch.fnmatchcase(key, denial.pattern)
                    and (denial.user_agent is None or denial.user_agent in user_agent)
                ):
                    return denial.reason
        return None

    def take_corruption(self, key: str) -> _Corruption | None:
        with self._lock:
            for corruption in self._corruptions:
                if fnmatch.fnmatchcase(key, corruption.trigger):
                    self._corruptions.remove(corruption)
                    return corruption
        return None


def corrupt_object(s3: Any, bucket: str, key: str) -> None:
    """Overwrite an object with the same bytes but one, in the middle (size kept, checksum broken)."""
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if not data:
        raise ValueError(f"s3://{bucket}/{key} is empty: nothing to corrupt")
    middle = len(data) // 2
    data[middle] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    log.warning("corrupted s3://%s/%s (byte %d flipped)", bucket, key, middle)


def pick_target(s3: Any, bucket: str, pattern: str) -> str | None:
    """The largest object whose key matches ``pattern`` (the one most worth corrupting)."""
    prefix = pattern.split("*", 1)[0]
    found: list[tuple[int, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [
            (item["Size"], item["Key"])
            for item in page.get("Contents", [])
            if fnmatch.fnmatchcase(item["Key"], pattern)
        ]
    return max(found)[1] if found else None


def _bucket_and_key(environ: dict[str, Any]) -> tuple[str, str]:
    """Path-style (``/bucket/key``) as boto3 sends to a loopback endpoint; virtual-host style as a fallback."""
    path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
    host = environ.get("HTTP_HOST", "").split(":", 1)[0]
    if host and not host[0].isdigit() and host not in ("localhost",) and "." in host:
        return host.split(".", 1)[0], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


class S3FaultLayer:
    """WSGI middleware in front of moto's application that applies an ``S3Faults`` plan."""

    def __init__(self, app: Callable[..., Iterable[bytes]], faults: S3Faults, s3_factory: Callable[[], Any]) -> None:
        self.app = app
        self.faults = faults
        self.s3_factory = s3_factory

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        bucket, key = _bucket_and_key(environ)
        if key:
            reason = self.faults.denial_for(method, key, environ.get("HTTP_USER_AGENT", ""))
            if reason is not None:
                log.warning("S3 fault: refusing %s s3://%s/%s", method, bucket, key)
                return _access_denied(start_response, bucket, key, reason)
        if not key or method not in _WRITE_METHODS:
            return self.app(environ, start_response)
        status: list[str] = []

        def recording_start_response(code: str, headers: Any, *args: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *args)

        body = list(self.app(environ, recording_start_response))
        if status and status[0].startswith("2"):
            self._after_write(bucket, key)
        return body

    def _after_write(self, bucket: str, key: str) -> None:
        corruption = self.faults.take_corruption(key)
        if corruption is None:
            return
        s3 = self.s3_factory()
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        target = pick_target(s3, bucket, folder + corruption.target)
        if target is None:
            log.error("S3 fault: nothing matches %s to corrupt after %s was written", corruption.target, key)
        else:
            corrupt_object(s3, bucket, target)
            self.faults.corrupted.append((bucket, target))
        corruption.done.set()


def _access_denied(start_response: Callable[..., Any], bucket: str, key: str, reason: str) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>AccessDenied</Code><Message>{reason}</Message>"
        f"<Resource>/{bucket}/{key}</Resource><RequestId>{uuid.uuid4()}</RequestId></Error>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def serve_moto(*, port: int, faults: S3Faults) -> Iterator[str]:
    """moto's ThreadedMotoServer on loopback with the fault layer in front; yields its URL."""
    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    url = f"http://127.0.0.1:{port}"

    class FaultableMotoServer(ThreadedMotoServer):
        # moto's own _server_entry, with the fault layer around its application.
        def _server_entry(self) -> None:
            app = S3FaultLayer(
                DomainDispatcherApplication(create_backend_app),
                faults,
                lambda: boto3.client("s3", endpoint_url=url),
            )
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = FaultableMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield url
    finally:
        server.stop()
