"""The MWAA control-plane operations, independent of HTTP: what each call does to the environments.

Statuses from which each operation is allowed follow MWAA: update needs AVAILABLE (or a failed
update), delete is refused while an operation is in progress, InvokeRestApi needs a running Airflow.
InvokeRestApi keeps MWAA's limits: the version prefix (/api/v1 or /api/v2) is added to every path, so
nothing outside Airflow's REST API (a plugin's routes, the UI, FAB's /auth) is reachable; paths with dot
segments or encoded separators are refused; about 10 calls a second per environment, then
ThrottlingException; 10 s; 6 MB (`rest_forward`).
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import threading
import time
from typing import Any

from . import airflow3, rest_forward, validation
from .databases import Databases
from .environment import Environment, StandInSettings, utc_now
from .errors import ApiError, InternalServerError, ResourceNotFound, Throttled, ValidationFailed
from .faults import FaultPlan

logger = logging.getLogger(__name__)

UPDATABLE_FROM = ("AVAILABLE", "UPDATE_FAILED")
DELETABLE_FROM = ("AVAILABLE", "CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE")
# InvokeRestApi reaches Airflow only while its web server runs.
REST_API_FROM = ("AVAILABLE",)
# InvokeRestApi's default rate per environment (the MWAA user guide: 10 transactions a second).
REST_CALLS_PER_SECOND = 10.0
# What a REST path may not hold: dot segments or encoded separators would step out of the version prefix.
_ESCAPING_PATH = re.compile(r"(^|/)\.{1,2}(/|$)|%2e|%2f|%5c|\\", re.IGNORECASE)
# ListEnvironments page sizes: the model allows MaxResults from 1 to 25; without it, a full page.
MAX_PAGE_SIZE = 25
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE


class MwaaService:
    """Every emulated environment of one stand-in, behind one lock; slow work runs in each environment's worker."""

    def __init__(self, settings: StandInSettings, databases: Databases) -> None:
        self.settings = settings
        self.databases = databases
        self.faults = FaultPlan()
        self._environments: dict[str, Environment] = {}
        self._lock = threading.RLock()
        self._rest_budget: dict[str, tuple[float, float]] = {}  # environment -> (tokens, at)

    def _get(self, name: str) -> Environment:
        validation.validate_uri_name(name)
        environment = self._environments.get(name)
        if environment is None:
            raise ResourceNotFound(f"Environment {name} not found")
        return environment

    def _check_version(self, version: str | None) -> None:
        if version not in (None, self.settings.airflow_version):
            raise ValidationFailed(
                f"AirflowVersion {version} is not available here: this MWAA stand-in runs Airflow "
                f"{self.settings.airflow_version}; leave AirflowVersion out or start a stand-in for {version}"
            )

    # ----- operations -----

    def create_environment(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        validation.validate_uri_name(name)
        validation.validate_body("CreateEnvironment", body)
        validation.validate_create_tags(body.get("Tags"))
        self._check_version(body.get("AirflowVersion"))
        with self._lock:
            if name in self._environments:
                raise ValidationFailed(f"An environment named {name} already exists")
            strip = self.faults.take("strip_worker_credentials", name) is not None
            environment = Environment(name, body, self.settings, self.databases, strip_worker_credentials=strip)
            self._environments[name] = environment
        fault = self.faults.take("create_failed", name)
        environment.run_in_background(lambda: environment.provision(fault.message if fault else None))
        logger.info("CreateEnvironment %s accepted", name)
        return {"Arn": environment.arn}

    def get_environment(self, name: str) -> dict[str, Any]:
        with self._lock:
            return {"Environment": self._get(name).describe()}

    def list_environments(self, *, max_results: int | None = None, next_token: str | None = None) -> dict[str, Any]:
        with self._lock:
            names = sorted(self._environments)
        try:
            start = int(next_token or 0)
        except ValueError:
            raise ValidationFailed(f"NextToken {next_token!r} was not issued by this service") from None
        size = max_results or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValidationFailed(f"MaxResults must be from 1 to {MAX_PAGE_SIZE}, not {size}")
        page: dict[str, Any] = {"Environments": names[start : start + size]}
        if start + size < len(names):
            page["NextToken"] = str(start + size)
        return page

    def update_environment(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        validation.validate_body("UpdateEnvironment", body)
        version = body.get("AirflowVersion")
        if version not in (None, self.settings.airflow_version):
            raise ValidationFailed(
                f"AirflowVersion {version} is not available: this stand-in runs Airflow {self.settings.airflow_version}"
            )
        with self._lock:
            environment = self._get(name)
            if environment.status not in UPDATABLE_FROM:
                raise ValidationFailed(f"Environment {name} is {environment.status}; it can be updated when AVAILABLE")
            environment.status = "UPDATING"
            environment.last_update = {"Status": "PENDING", "CreatedAt": utc_now(), "Source": "UpdateEnvironment"}
        fault = self.faults.take("update_failed", name)
        environment.run_in_background(lambda: environment.restart(body, fault.message if fault else None))
        return {"Arn": environment.arn}

    def delete_environment(self, name: str) -> dict[str, Any]:
        with self._lock:
            environment = self._get(name)
            fault = self.faults.take("delete_rejected", name)
            if fault is not None:
                raise _error_for_code(fault.error_code, fault.message)
            if environment.status not in DELETABLE_FROM:
                raise ValidationFailed(f"Environment {name} is {environment.status}; wait until the operation ends")
            environment.status = "DELETING"

        def work() -> None:
            try:
                environment.teardown()
            finally:
                with self._lock:
                    self._environments.pop(name, None)
                logger.info("environment %s deleted", name)

        environment.run_in_background(work)
        return {}

    def invoke_rest_api(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        validation.validate_body("InvokeRestApi", body)
        with self._lock:
            environment = self._get(name)
            if environment.status not in REST_API_FROM or environment.instance is None:
                raise ValidationFailed(f"Environment {name} is {environment.status}; InvokeRestApi needs AVAILABLE")
            self._take_rest_call(name)
        path, method = body["Path"], body["Method"]
        if _ESCAPING_PATH.search(path):
            raise ValidationFailed(f"Path {path!r} is not a path of the Airflow REST API")
        fault = self.faults.take("rest_api", name, path=path, method=method)
        if fault is not None:
            raise rest_forward.RestApiError.for_status(fault.status, fault.rest_api_response())
        status, response = rest_forward.invoke(
            environment.api_url,
            path=path,
            method=method,
            query=body.get("QueryParameters"),
            body=body.get("Body"),
            headers=environment.rest_headers(),
        )
        return {"RestApiStatusCode": status, "RestApiResponse": response}

    def _take_rest_call(self, name: str) -> None:
        """A token bucket of REST_CALLS_PER_SECOND per environment, a second's worth deep; ThrottlingException
        when it is empty (SDKs retry that with backoff, as they do on AWS)."""
        now = time.monotonic()
        tokens, at = self._rest_budget.get(name, (REST_CALLS_PER_SECOND, now))
        tokens = min(REST_CALLS_PER_SECOND, tokens + (now - at) * REST_CALLS_PER_SECOND)
        if tokens < 1:
            self._rest_budget[name] = (tokens, now)
            raise Throttled(f"Rate exceeded: InvokeRestApi allows {REST_CALLS_PER_SECOND:.0f} calls a second")
        self._rest_budget[name] = (tokens - 1, now)

    def create_cli_token(self, name: str) -> dict[str, Any]:
        with self._lock:
            environment = self._get(name)
        return {"CliToken": _token(), "WebServerHostname": f"127.0.0.1:{environment.webserver_port}"}

    def create_web_login_token(self, name: str) -> dict[str, Any]:
        """Airflow 3: a one-time token the environment's /pluginsv2/aws_mwaa/login accepts for 60 s (as Op)."""
        with self._lock:
            environment = self._get(name)
        token = airflow3.web_login_token(environment.login_secret, name) if environment.airflow3 else _token()
        return {
            "WebToken": token,
            "WebServerHostname": f"127.0.0.1:{environment.webserver_port}",
            "IamIdentity": f"arn:aws:iam::{self.settings.account}:user/sandbox",
            "AirflowIdentity": f"mwaa-iam-{airflow3.WEB_LOGIN_ROLE.lower()}" if environment.airflow3 else "admin",
        }

    # ----- for the demo and tests (not MWAA operations) -----

    def details(self, name: str) -> dict[str, Any]:
        """Where an environment's pieces live: the admin endpoint's answer, for looking inside."""
        with self._lock:
            environment = self._get(name)
            return {
                "Name": name,
                "Status": environment.status,
                "DatabaseKind": self.databases.kind,
                "DatabaseName": environment.database_name,
                "DatabaseUrl": environment.database_url,
                "AirflowHome": str(environment.home),
                "AirflowApiUrl": environment.api_url,
                "AirflowVersion": self.settings.airflow_version,
            }

    def close(self) -> None:
        """Stop every environment's Airflow and drop every database (the stand-in is shutting down)."""
        with self._lock:
            environments = list(self._environments.values())
            self._environments.clear()
        for environment in environments:
            try:
                environment.teardown()
            except Exception:  # keep tearing the others down
                logger.exception("could not tear down environment %s", environment.name)


def _token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()


def _error_for_code(code: str, message: str) -> ApiError:
    for kind in (InternalServerError, ValidationFailed, ResourceNotFound):
        if kind.code == code:
            return kind(message)
    return InternalServerError(message)
