"""Calls to the Airflow REST API through MWAA's InvokeRestApi, with errors a person can act on.

InvokeRestApi maps a version-less path to /api/v1 (Airflow 2) or /api/v2 (Airflow 3), answers within
10 s, accepts a path of at most 64 characters
(https://docs.aws.amazon.com/mwaa/latest/API/API_InvokeRestApi.html) and about 10 calls a second by
default (https://docs.aws.amazon.com/mwaa/latest/userguide/access-mwaa-apache-airflow-rest-api.html):
calls from one function are paced below that (`Pacer`). `airflow_api` speaks each major's dialect on top.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate.aws import client, error_code, raise_if_transient
from mwaa_hibernate.exceptions import DagNotFound, EnvironmentNeedsUpdate, RestApiCallFailed

MAX_PATH_LENGTH = 64
# InvokeRestApi's default rate (calls a second), and the burst a function may make before it is paced.
MAX_CALLS_PER_SECOND = 10.0
BURST = 5
# MWAA's answer when an environment created before InvokeRestApi existed has not been updated since.
NEEDS_UPDATE_MESSAGE = "update your environment to use invokerestapi"


def invoke(
    *,
    environment: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    dag_id: str | None = None,
    mwaa: Any = None,
) -> Any:
    """Call the Airflow REST API and return its JSON answer; raise a narrow error otherwise."""
    if len(path) > MAX_PATH_LENGTH:
        raise RestApiCallFailed(
            f"The REST path {path!r} is {len(path)} characters; InvokeRestApi accepts at most {MAX_PATH_LENGTH}. "
            "Use a shorter DAG id."
        )
    PACER.wait()
    request: dict[str, Any] = {"Name": environment, "Method": method, "Path": path}
    if body is not None:
        request["Body"] = body
    if query:
        request["QueryParameters"] = query
    try:
        answer = client("mwaa", mwaa).invoke_rest_api(**request)
    except ClientError as exc:
        _raise_for(exc, environment=environment, method=method, path=path, dag_id=dag_id)
        raise
    return answer.get("RestApiResponse")


class Pacer:
    """A token bucket: at most `rate` calls a second on average, `burst` at once (one per function process)."""

    def __init__(
        self,
        rate: float = MAX_CALLS_PER_SECOND,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.burst, self.clock, self.sleep = rate, float(burst), clock, sleep
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                delay = (1 - self._tokens) / self.rate
                self.sleep(delay)
                self._at = self.clock()
                self._tokens = 0.0
            else:
                self._tokens -= 1


PACER = Pacer()


def _raise_for(exc: ClientError, *, environment: str, method: str, path: str, dag_id: str | None) -> None:
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    if NEEDS_UPDATE_MESSAGE in message.lower():
        raise EnvironmentNeedsUpdate(
            f"MWAA says environment {environment} must be updated before InvokeRestApi works ({message}). "
            "Update it once (for example re-apply its current settings in the console), then run again."
        ) from exc
    status: int | None = exc.response.get("RestApiStatusCode")  # type: ignore[assignment]  # MWAA's own field
    detail = exc.response.get("RestApiResponse")
    if code in {"RestApiClientException", "RestApiServerException"}:
        if status == 404 and dag_id:
            raise DagNotFound(
                f"DAG {dag_id} is not in environment {environment} (Airflow answered 404 to {method} {path}). "
                "Copy the mwaa-hibernate DAGs and their engine into the environment's DAG folder and wait until "
                "the scheduler has parsed them."
            ) from exc
        raise RestApiCallFailed(
            f"Airflow in {environment} answered {status} to {method} {path}: {_short(detail)}. "
            + (
                "Check the web server's health; retrying later may help."
                if (status or 0) >= 500
                else "Check the request and the Airflow role the stack's functions are allowed to use."
            )
        ) from exc
    raise_if_transient(exc, f"InvokeRestApi {method} {path} on {environment}")
    if code == "ResourceNotFoundException":
        raise RestApiCallFailed(f"Environment {environment} does not exist, so {method} {path} cannot run.") from exc
    if code == "AccessDeniedException":
        raise RestApiCallFailed(
            f"Not allowed to call {method} {path} on {environment} ({message}). The function's role needs "
            "airflow:InvokeRestApi on the Airflow role the stack grants it (User or Viewer); for a private web "
            "server the function must run "
            "in the environment's VPC (FunctionSubnetIds)."
        ) from exc


def _short(detail: Any, limit: int = 300) -> str:
    text = detail if isinstance(detail, str) else repr(detail)
    return text if len(text) <= limit else text[: limit - 1] + "…"
