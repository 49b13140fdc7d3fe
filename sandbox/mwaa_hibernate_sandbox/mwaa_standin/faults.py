"""Fault injection: make the stand-in fail the way MWAA can, on demand, for the demo and the tests.

Faults are posted as JSON to the admin endpoint `POST /_standin/faults` (or passed to
`MwaaService.faults.add(...)` in-process); `GET` lists them and `DELETE` clears them all. Each fault
fires `count` times (default 1; `null` for "until cleared") and may be limited to one environment:

    {"kind": "create_failed", "message": "Subnets have no route to S3", "environment": "demo"}
        the next CreateEnvironment is accepted, then ends in CREATE_FAILED with this message in
        LastUpdate.Error (before any Airflow work, so it is fast).
    {"kind": "update_failed", "message": "..."}
        the next UpdateEnvironment ends in UPDATE_FAILED; the environment's Airflow keeps running.
    {"kind": "delete_rejected", "message": "...", "error_code": "ValidationException"}
        the next DeleteEnvironment call is answered with that error and the environment is untouched.
        The default, ValidationException, is not retried by SDKs; InternalServerException is, so a
        caller's retry may hide it unless `count` covers every attempt.
    {"kind": "rest_api", "path": "/dags/x/dagRuns", "method": "POST", "status": 503, "response": {...}}
        the next InvokeRestApi call on that path (and method, if given) is answered with `status`
        (4xx: RestApiClientException, 5xx: RestApiServerException) without reaching Airflow.
    {"kind": "strip_worker_credentials", "environment": "demo", "count": null}
        Airflow 3: the next environment created (here: every one until cleared) runs its workers without the
        database credentials, as if AWS stopped shipping them to worker containers (the task carrier fails).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import FaultSpecError

KINDS = ("create_failed", "update_failed", "delete_rejected", "rest_api", "strip_worker_credentials")
# Error codes a delete can be refused with: the ones the botocore model lists for DeleteEnvironment.
DELETE_ERROR_CODES = ("InternalServerException", "ValidationException", "ResourceNotFoundException")


@dataclass
class Fault:
    kind: str
    message: str = "Injected failure (MWAA stand-in fault injection)"
    environment: str | None = None
    count: int | None = 1
    path: str | None = None
    method: str | None = None
    status: int = 500
    response: Any = None
    error_code: str = "ValidationException"

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> Fault:
        if not isinstance(spec, dict):
            raise FaultSpecError("a fault is a JSON object with at least a 'kind'")
        unknown = sorted(set(spec) - set(cls.__dataclass_fields__))
        if unknown:
            raise FaultSpecError(f"unknown fault field(s) {', '.join(unknown)}; see mwaa_standin.faults")
        fault = cls(**spec)
        if fault.kind not in KINDS:
            raise FaultSpecError(f"fault kind must be one of {', '.join(KINDS)}, not {fault.kind!r}")
        if fault.kind == "rest_api":
            if not fault.path:
                raise FaultSpecError("a rest_api fault needs the 'path' it applies to, for example '/dags'")
            if not 400 <= fault.status <= 599:
                raise FaultSpecError(f"a rest_api fault's status must be 4xx or 5xx, not {fault.status}")
        if fault.kind == "delete_rejected" and fault.error_code not in DELETE_ERROR_CODES:
            raise FaultSpecError(f"error_code must be one of {', '.join(DELETE_ERROR_CODES)}")
        if fault.count is not None and fault.count < 1:
            raise FaultSpecError("count must be at least 1, or null for 'until cleared'")
        return fault

    def rest_api_response(self) -> Any:
        """The body an injected REST API error answers with: the given one, or Airflow's problem shape."""
        if self.response is not None:
            return self.response
        return {"title": self.message, "status": self.status, "type": "about:blank", "detail": None}

    def matches(self, kind: str, environment: str, path: str | None, method: str | None) -> bool:
        if self.kind != kind or self.environment not in (None, environment):
            return False
        if kind != "rest_api":
            return True
        return _normal_path(self.path) == _normal_path(path) and self.method in (None, (method or "").upper())


def _normal_path(path: str | None) -> str:
    return "/" + (path or "").strip("/")


class FaultPlan:
    """The faults waiting to fire; thread-safe, since requests and environment workers consume them."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> Fault:
        fault = Fault.parse(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def take(self, kind: str, environment: str, *, path: str | None = None, method: str | None = None) -> Fault | None:
        """The first matching fault, used up by one firing; None when nothing is planned."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(kind, environment, path, method):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
