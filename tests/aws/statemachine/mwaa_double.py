"""An in-process test double for the MWAA control plane and the Airflow REST API behind InvokeRestApi.

moto has no MWAA. This double answers botocore's requests for the ``mwaa`` service before they leave
the process (a ``before-send.mwaa`` handler placed ahead of moto's own), so it serves the handlers'
clients and the clients moto's Step Functions interpreter makes for ``aws-sdk:mwaa:*`` tasks alike.

Tests script it: statuses over successive GetEnvironment calls (CREATING then AVAILABLE, CREATE_FAILED
with MWAA's error text, DELETING then gone), errors for a call, and what "running" a DAG does (the
test answers the task token from a thread and writes the snapshot). It records every call so tests
can assert what was done and, as importantly, what was not.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

ACCOUNT_ID = "123456789012"
SERVICE_ROLE = "airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA"
GONE = "<gone>"  # a timeline step: the environment no longer exists (GetEnvironment -> ResourceNotFound)
# MWAA's output-only fields: GetEnvironment returns them, CreateEnvironment refuses them (docs/design.md,
# "What earlier tools taught").
OUTPUT_ONLY_FIELDS = (
    "Arn",
    "Status",
    "CreatedAt",
    "LastUpdate",
    "ServiceRoleArn",
    "WebserverUrl",
    "CeleryExecutorQueue",
    "DatabaseVpcEndpointService",
    "WebserverVpcEndpointService",
)


class _StubResponseBody:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def _response(url: str, status: int, body: Any, error_type: str | None = None) -> AWSResponse:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return AWSResponse(url, status, headers, _StubResponseBody(json.dumps(body, default=str).encode()))


@dataclass(frozen=True)
class Call:
    operation: str
    name: str | None
    body: dict[str, Any]


@dataclass
class DagRun:
    """A run the trigger created through InvokeRestApi; ``runner`` decides what it does."""

    environment: str
    dag_id: str
    dag_run_id: str
    conf: dict[str, Any]
    state: str = "queued"
    # task_id -> state, for runs whose task instances a caller reads back (the probe DAG's)
    task_states: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeEnvironment:
    name: str
    region: str
    config: dict[str, Any]
    timeline: list[Any]  # statuses, or (status, error message), or GONE; one step per GetEnvironment
    dags: dict[str, bool] = field(default_factory=dict)  # dag_id -> is_paused
    runs: list[DagRun] = field(default_factory=list)
    # Rows a (simulated) restore put into the metadata database, by table: the REST API's counts include them.
    restored_rows: dict[str, int] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    step: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:airflow:{self.region}:{ACCOUNT_ID}:environment/{self.name}"

    @property
    def airflow3(self) -> bool:
        return str(self.config.get("AirflowVersion", "")).startswith("3.")

    def current(self) -> tuple[str, str | None]:
        entry = self.timeline[min(self.step, len(self.timeline) - 1)]
        return (entry, None) if isinstance(entry, str) else (entry[0], entry[1])

    def advance(self) -> None:
        self.step += 1

    def describe(self) -> dict[str, Any]:
        status, error = self.current()
        last_update: dict[str, Any] = {"Status": "FAILED" if error else "SUCCESS", "CreatedAt": self.created_at}
        if error:
            last_update["Error"] = {"ErrorCode": "INCORRECT_CONFIGURATION", "ErrorMessage": error}
        return {
            **self.config,
            "Name": self.name,
            "Arn": self.arn,
            "Status": status,
            "CreatedAt": self.created_at.timestamp(),
            "LastUpdate": {**last_update, "CreatedAt": self.created_at.timestamp()},
            "WebserverUrl": f"{self.name}.airflow.example.com",
            "ServiceRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{SERVICE_ROLE}",
        }


DagRunner = Callable[[DagRun, "MwaaDouble"], None]


def _ignore_run(run: DagRun, double: MwaaDouble) -> None:
    """Default: the run is queued and nothing ever happens (a test then sees the callback time out)."""


class MwaaDouble:
    """The MWAA control plane of one fake account. ``install()`` once per process; ``reset()`` per test."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    # --- scripting ---------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.environments: dict[str, FakeEnvironment] = {}
            self.calls: list[Call] = []
            self.create_timeline: list[Any] = ["CREATING", "AVAILABLE"]
            self.delete_timeline: list[Any] = ["DELETING", GONE]
            self.update_timeline: list[Any] = ["UPDATING", "AVAILABLE"]
            self.errors: dict[str, tuple[str, int, str]] = {}  # operation -> (error type, HTTP status, message)
            self.dag_ids_for_new_environments: tuple[str, ...] | None = None
            self.runners: dict[str, DagRunner] = {}
            self.rest_overrides: dict[tuple[str, str], tuple[int, Any]] = {}
            # CreateWebLoginToken's answer (name -> {"WebToken", "WebServerHostname"}); unset: refused.
            self.web_login: Callable[[str], dict[str, Any]] | None = None

    def add_environment(
        self,
        name: str,
        *,
        status: str | list[Any] = "AVAILABLE",
        dags: dict[str, bool] | None = None,
        config: dict[str, Any] | None = None,
        region: str = "eu-west-1",
    ) -> FakeEnvironment:
        timeline = [status] if isinstance(status, str) else list(status)
        env = FakeEnvironment(
            name=name, region=region, config=dict(config or default_config(name, region)), timeline=timeline
        )
        env.dags = dict(dags or {})
        with self._lock:
            self.environments[name] = env
        return env

    def fail(self, operation: str, error_type: str, message: str, *, status: int = 400) -> None:
        """Make every call of ``operation`` (e.g. ``DeleteEnvironment``) fail with this AWS error."""
        self.errors[operation] = (error_type, status, message)

    def on_trigger(self, dag_id: str, runner: DagRunner) -> None:
        """What happens when a run of ``dag_id`` is created on an unpaused DAG."""
        self.runners[dag_id] = runner

    # --- what happened ----------------------------------------------------------------------

    def calls_of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    def rest_calls(self, method: str | None = None, path_pattern: str = ".*") -> list[dict[str, Any]]:
        """InvokeRestApi bodies, optionally filtered by HTTP method and a regex on the path."""
        return [
            call.body
            for call in self.calls_of("InvokeRestApi")
            if (method is None or call.body.get("Method") == method)
            and re.fullmatch(path_pattern, call.body.get("Path", ""))
        ]

    def mutating_calls(self) -> list[Call]:
        """Everything that changes an environment or its DAGs: empty means "touched nothing"."""
        mutating = {"CreateEnvironment", "UpdateEnvironment", "DeleteEnvironment", "TagResource", "UntagResource"}
        return [
            call
            for call in self.calls
            if call.operation in mutating
            or (call.operation == "InvokeRestApi" and call.body.get("Method") in ("POST", "PATCH", "PUT", "DELETE"))
        ]

    # --- botocore hook ----------------------------------------------------------------------

    def _entry(self) -> tuple[str, Callable[..., Any]]:
        return ("before-send.mwaa", self.handle)

    @contextmanager
    def installed(self) -> Iterator[MwaaDouble]:
        """Answer MWAA calls of every botocore session created from now on (also inside moto's threads)."""
        import boto3

        entry = self._entry()
        BUILTIN_HANDLERS.insert(0, entry)
        boto3.DEFAULT_SESSION = None  # BUILTIN_HANDLERS is read when a session is created
        try:
            yield self
        finally:
            BUILTIN_HANDLERS.remove(entry)
            boto3.DEFAULT_SESSION = None

    def handle(self, request: Any = None, **_: Any) -> AWSResponse:
        url = urlparse(request.url)
        match = re.search(r"airflow\.([a-z0-9-]+)\.", url.netloc)
        region = match.group(1) if match else "eu-west-1"
        body = json.loads(request.body) if request.body else {}
        with self._lock:
            return self._route(request.url, request.method, unquote(url.path), body, region)

    def _route(self, url: str, method: str, path: str, body: dict[str, Any], region: str) -> AWSResponse:
        if match := re.fullmatch(r"/environments/([^/]+)", path):
            name = match.group(1)
            operation = {
                "PUT": "CreateEnvironment",
                "GET": "GetEnvironment",
                "PATCH": "UpdateEnvironment",
                "DELETE": "DeleteEnvironment",
            }[method]
            return self._environment_call(url, operation, name, body, region)
        if path == "/environments" and method == "GET":
            self.calls.append(Call("ListEnvironments", None, body))
            return _response(url, 200, {"Environments": sorted(self.environments)})
        if match := re.fullmatch(r"/restapi/([^/]+)", path):
            return self._rest_api(url, match.group(1), body)
        if match := re.fullmatch(r"/tags/(.+)", path):
            operation = {"GET": "ListTagsForResource", "POST": "TagResource", "DELETE": "UntagResource"}[method]
            self.calls.append(Call(operation, match.group(1), body))
            return _response(url, 200, {"Tags": {}} if method == "GET" else {})
        if match := re.fullmatch(r"/webtoken/([^/]+)", path):
            self.calls.append(Call("CreateWebLoginToken", match.group(1), body))
            if self.web_login is None or match.group(1) not in self.environments:
                return _response(url, 400, {"message": "no web login in this test"}, "ValidationException")
            return _response(url, 200, self.web_login(match.group(1)))
        if match := re.fullmatch(r"/clitoken/([^/]+)", path):
            self.calls.append(Call("CreateCliToken", match.group(1), body))
            return _response(url, 400, {"message": "not supported by the test double"}, "ValidationException")
        return _response(url, 400, {"message": f"MWAA double: {method} {path} is not modelled"}, "ValidationException")

    def _not_found(self, url: str, name: str) -> AWSResponse:
        return _response(url, 404, {"Message": f"Environment {name} not found"}, "ResourceNotFoundException")

    def _environment_call(self, url: str, operation: str, name: str, body: dict[str, Any], region: str) -> AWSResponse:
        self.calls.append(Call(operation, name, body))
        if operation in self.errors:
            error_type, status, message = self.errors[operation]
            return _response(url, status, {"Message": message}, error_type)
        env = self.environments.get(name)
        if operation == "CreateEnvironment":
            if env is not None:
                return _response(url, 400, {"Message": f"Environment {name} already exists"}, "ValidationException")
            bad = sorted(set(body) & set(OUTPUT_ONLY_FIELDS)) + sorted(
                key for key in body.get("Tags", {}) if key.startswith("aws:")
            )
            if bad:
                return _response(url, 400, {"Message": f"invalid request fields or tags: {bad}"}, "ValidationException")
            env = self.add_environment(name, status=list(self.create_timeline), config=body, region=region)
            previous = self.dag_ids_for_new_environments or ()
            env.dags = dict.fromkeys(previous, True)  # a new environment parses its DAGs paused
            return _response(url, 200, {"Arn": env.arn})
        if env is None or env.current()[0] == GONE:
            self.environments.pop(name, None)
            return self._not_found(url, name)
        if operation == "GetEnvironment":
            described = env.describe()
            env.advance()
            return _response(url, 200, {"Environment": described})
        if operation == "DeleteEnvironment":
            env.timeline, env.step = list(self.delete_timeline), 0
            return _response(url, 200, {})
        env.config.update(body)  # UpdateEnvironment
        env.timeline, env.step = list(self.update_timeline), 0
        return _response(url, 200, {"Arn": env.arn})

    # --- the Airflow REST API behind InvokeRestApi ------------------------------------------

    def _rest_api(self, url: str, name: str, body: dict[str, Any]) -> AWSResponse:
        self.calls.append(Call("InvokeRestApi", name, body))
        if "InvokeRestApi" in self.errors:
            error_type, status, message = self.errors["InvokeRestApi"]
            return _response(url, status, {"Message": message}, error_type)
        env = self.environments.get(name)
        if env is None or env.current()[0] == GONE:
            return self._not_found(url, name)
        if env.current()[0] != "AVAILABLE":
            return _response(url, 400, {"Message": f"Environment {name} is {env.current()[0]}"}, "ValidationException")
        method, path = body.get("Method"), body.get("Path", "")
        override = self.rest_overrides.get((method, path))
        query = body.get("QueryParameters") or {}
        status, answer = override if override else self._airflow(env, method, path, body.get("Body") or {}, query)
        if status >= 400:  # the botocore model: both exceptions are HTTP 400 and carry Airflow's status
            error_type = "RestApiClientException" if status < 500 else "RestApiServerException"
            return _response(url, 400, {"RestApiStatusCode": status, "RestApiResponse": answer}, error_type)
        return _response(url, 200, {"RestApiStatusCode": status, "RestApiResponse": answer})

    def _airflow(
        self, env: FakeEnvironment, method: str, path: str, body: dict[str, Any], query: dict[str, Any]
    ) -> tuple[int, Any]:
        """Airflow's REST API: v1 on Airflow 2, v2 on Airflow 3 (required fields, stale flag, bulk PATCH)."""

        def dag_json(dag_id: str) -> dict[str, Any]:
            if env.airflow3:
                return {"dag_id": dag_id, "is_paused": env.dags[dag_id], "is_stale": False}
            return {"dag_id": dag_id, "is_paused": env.dags[dag_id], "is_active": True}

        def missing(dag_id: str) -> tuple[int, Any]:
            detail = f"The DAG with dag_id: `{dag_id}` was not found"
            return 404, {"title": "DAG not found", "status": 404, "detail": detail, "type": "about:blank"}

        if path.startswith("/dags/~/"):
            return _counts(env, path)
        if path == "/dags" and method == "GET":
            paused = query.get("paused")
            dags = [dag_json(d) for d in sorted(env.dags) if paused is None or env.dags[d] == _flag(paused)]
            return 200, {"dags": dags, "total_entries": len(dags)}
        if path == "/dags" and method == "PATCH":  # the bulk route (Airflow 2 has no paused filter); one page a call
            return self._bulk_patch(env, body, query, dag_json)
        if match := re.fullmatch(r"/dags/([^/]+)", path):
            dag_id = match.group(1)
            if dag_id not in env.dags:
                return missing(dag_id)
            if method == "PATCH" and "is_paused" in body:
                env.dags[dag_id] = bool(body["is_paused"])
            return 200, dag_json(dag_id)
        if match := re.fullmatch(r"/dags/([^/]+)/dagRuns", path):
            dag_id = match.group(1)
            if dag_id not in env.dags:
                return missing(dag_id)
            if method == "GET":
                runs = [_run_json(run) for run in env.runs if run.dag_id == dag_id]
                return 200, {"dag_runs": runs, "total_entries": len(runs)}
            return self._trigger(env, dag_id, body)
        if match := re.fullmatch(r"/dags/([^/]+)/dagRuns/([^/]+)(/taskInstances)?", path):
            return self._run(env, match.group(1), match.group(2), bool(match.group(3)))
        return 404, {"title": "Not Found", "status": 404, "detail": f"{method} {path} is not modelled by the double"}

    def _bulk_patch(
        self, env: FakeEnvironment, body: dict[str, Any], query: dict[str, Any], dag_json: Callable[[str], Any]
    ) -> tuple[int, Any]:
        pattern, paused = query.get("dag_id_pattern"), query.get("paused")
        matching = [
            d
            for d in sorted(env.dags)
            if pattern and _ilike(pattern, d) and (paused is None or env.dags[d] == _flag(paused))
        ]
        page = matching[: int(query.get("limit", 50))]
        for dag_id in page:
            env.dags[dag_id] = bool(body["is_paused"])
        return 200, {"dags": [dag_json(d) for d in page], "total_entries": len(matching)}

    def _run(self, env: FakeEnvironment, dag_id: str, run_id: str, task_instances: bool) -> tuple[int, Any]:
        for run in env.runs:
            if run.dag_id == dag_id and run.dag_run_id == run_id:
                if task_instances:
                    tis = [{"task_id": t, "state": s} for t, s in run.task_states.items()]
                    return 200, {"task_instances": tis, "total_entries": len(tis)}
                return 200, _run_json(run)
        return 404, {"title": "DAGRun not found", "status": 404, "detail": f"{run_id} not found"}

    def _trigger(self, env: FakeEnvironment, dag_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        if env.airflow3 and "logical_date" not in body:  # required (nullable) in Airflow 3's trigger body
            return 422, {"detail": [{"type": "missing", "loc": ["body", "logical_date"], "msg": "Field required"}]}
        run_id = body.get("dag_run_id") or f"manual__{datetime.now(UTC).isoformat()}"
        if any(run.dag_run_id == run_id and run.dag_id == dag_id for run in env.runs):
            return 409, {"title": "Conflict", "status": 409, "detail": f"DAGRun with run_id {run_id} exists"}
        run = DagRun(environment=env.name, dag_id=dag_id, dag_run_id=run_id, conf=dict(body.get("conf") or {}))
        env.runs.append(run)
        if not env.dags[dag_id]:  # a run of a paused DAG stays queued forever (docs/design.md)
            run.state = "running"
            self.runners.get(dag_id, _ignore_run)(run, self)
        return 200, _run_json(run)


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _ilike(pattern: str, value: str) -> bool:
    """Airflow's dag_id_pattern: ILIKE '%pattern%' (`_` any one character, `%` any run of them)."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.search(regex, value, flags=re.IGNORECASE) is not None


def _counts(env: FakeEnvironment, path: str) -> tuple[int, Any]:
    """Every DAG's runs or task instances (`~`): only the count is modelled."""
    if path == "/dags/~/dagRuns":
        return 200, {"dag_runs": [], "total_entries": len(env.runs) + env.restored_rows.get("dag_run", 0)}
    if path == "/dags/~/dagRuns/~/taskInstances":
        return 200, {"task_instances": [], "total_entries": env.restored_rows.get("task_instance", 0)}
    return 404, {"title": "Not Found", "status": 404, "detail": f"GET {path} is not modelled by the double"}


def _run_json(run: DagRun) -> dict[str, Any]:
    return {"dag_id": run.dag_id, "dag_run_id": run.dag_run_id, "state": run.state, "conf": run.conf}


def default_config(name: str, region: str = "eu-west-1") -> dict[str, Any]:
    """A GetEnvironment-shaped configuration, with the fields CreateEnvironment accepts."""
    return {
        "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-execution",
        "SourceBucketArn": f"arn:aws:s3:::{name}-dags",
        "DagS3Path": "dags",
        "NetworkConfiguration": {"SubnetIds": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-01"]},
        "AirflowVersion": "2.10.3",
        "EnvironmentClass": "mw1.small",
        "MaxWorkers": 2,
        "MinWorkers": 1,
        "Schedulers": 2,
        "WebserverAccessMode": "PUBLIC_ONLY",
        "WeeklyMaintenanceWindowStart": "SUN:03:00",
        "KmsKey": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000",
        "LoggingConfiguration": {
            "TaskLogs": {
                "Enabled": True,
                "LogLevel": "INFO",
                "CloudWatchLogGroupArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:airflow-{name}-Task",
            }
        },
        "AirflowConfigurationOptions": {"core.default_timezone": "utc"},
        "Tags": {"team": "data", "aws:cloudformation:stack-name": "mwaa-stack"},
    }
