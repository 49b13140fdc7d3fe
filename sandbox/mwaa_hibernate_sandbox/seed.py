"""Create an MWAA environment the way a user's would exist, and give it believable history through Airflow.

Everything goes through MWAA's API (CreateEnvironment, then InvokeRestApi on Airflow's REST API), as a
user's tooling would: variables (one secret-looking), connections with passwords and extras, a custom
pool, DAG runs executed by the real scheduler (successes, a failure, a retry, XComs, mapped tasks,
notes), and at the end some DAGs active and some paused. Nothing is written to the database directly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mwaa_hibernate_sandbox.airflow_instance import wait_until

log = logging.getLogger(__name__)

# Creating an environment starts a real Airflow (migrate, admin user, scheduler, web server): ~20-40 s
# here, more on a busy machine.
CREATE_TIMEOUT_SECONDS = 300
# A DAG run of the demo DAGs takes a few seconds of task time; the scheduler and LocalExecutor add more.
RUN_TIMEOUT_SECONDS = 240
# The scheduler lists the DAG folder every 10 s (AirflowInstance.FAST_SCHEDULER) and parses each file after.
PARSE_TIMEOUT_SECONDS = 120

# InvokeRestApi answers that an SDK's default retries try again (the sandbox's clients do not retry by themselves).
TRANSIENT = ("InternalServerException", "ThrottlingException")
RETRIES = 4
DEMO_DAG_IDS = ("demo_sales_etl", "demo_flaky_api", "demo_broken_export", "demo_quarterly_report")

# What a user's environment looks like in CreateEnvironment (fields MWAA requires, plus a few users set).
ENVIRONMENT_REQUEST: dict[str, Any] = {
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/service-role/AmazonMWAA-demo-airflow-exec",
    "SourceBucketArn": "arn:aws:s3:::demo-airflow-dags",
    "DagS3Path": "dags",
    "NetworkConfiguration": {"SubnetIds": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "SecurityGroupIds": ["sg-0c0ffee"]},
    "EnvironmentClass": "mw1.small",
    "MaxWorkers": 2,
    "MinWorkers": 1,
    "WebserverAccessMode": "PUBLIC_ONLY",
    "AirflowConfigurationOptions": {"core.default_timezone": "utc", "webserver.instance_name": "Demo Airflow"},
    "LoggingConfiguration": {"TaskLogs": {"Enabled": True, "LogLevel": "INFO"}},
    "Tags": {"team": "data-platform", "cost-center": "analytics"},
}

VARIABLES: tuple[dict[str, Any], ...] = (
    {"key": "sales_regions", "value": '["EMEA", "AMER", "APAC"]', "description": "Regions the ETL loads"},
    {"key": "db_password", "value": "hunter2-but-longer!", "description": "Warehouse password (a secret)"},
    {"key": "report_recipients", "value": "finance@example.com, ops@example.com"},
    {"key": "empty_setting", "value": ""},
    {"key": "unicode_greeting", "value": "Grüße, 世界 — \"quoted\", 'single', back\\slash"},
)
CONNECTIONS: tuple[dict[str, Any], ...] = (
    {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "description": "Reporting warehouse",
        "host": "warehouse.internal.example.com",
        "schema": "analytics",
        "login": "etl_user",
        "password": "s3cr3t-p@ss, with comma",
        "port": 5432,
        "extra": '{"sslmode": "require", "application_name": "airflow"}',
    },
    {
        "connection_id": "partner_api",
        "conn_type": "http",
        "host": "https://api.partner.example.com",
        "password": "token-7f3c9a",
        "extra": '{"headers": {"X-Team": "data"}, "timeout": 30}',
    },
)
POOL = {
    "name": "demo_reporting",
    "slots": 2,
    "description": "Reporting jobs share two slots",
    "include_deferred": False,
}


@dataclass(frozen=True)
class PlannedRun:
    dag_id: str
    run_id: str
    expect: str  # the state the run must end in
    conf: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None


RUNS: tuple[PlannedRun, ...] = (
    PlannedRun("demo_sales_etl", "seed_sales_1", "success", {"day": "2026-11-20"}, note="First load after go-live"),
    PlannedRun("demo_flaky_api", "seed_flaky_1", "success", note="Retried once: upstream timeout"),
    PlannedRun("demo_broken_export", "seed_broken_1", "failed", note="Permission error: ticket DATA-1234"),
    PlannedRun("demo_sales_etl", "seed_sales_2", "success", {"day": "2026-11-21", "dry_run": False}),
)
# Paused states at the end: the two healthy DAGs active, the broken one paused by its owner after the
# failure, the quarterly report never unpaused.
FINAL_PAUSED = {
    "demo_sales_etl": False,
    "demo_flaky_api": False,
    "demo_broken_export": True,
    "demo_quarterly_report": True,
}


class SeedError(RuntimeError):
    """The environment could not be created or filled as planned (the message says which step)."""


class AirflowApi:
    """Airflow's REST API through MWAA's InvokeRestApi, as a user's scripts call it (v1 or v2 by the version)."""

    def __init__(self, mwaa: Any, environment: str) -> None:
        self.mwaa = mwaa
        self.environment = environment
        self._airflow3: bool | None = None

    @property
    def airflow3(self) -> bool:
        if self._airflow3 is None:
            version = self.mwaa.get_environment(Name=self.environment)["Environment"].get("AirflowVersion", "")
            self._airflow3 = version.startswith("3.")
        return self._airflow3

    def call(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None) -> Any:
        request: dict[str, Any] = {"Name": self.environment, "Path": path, "Method": method}
        if body is not None:
            request["Body"] = body
        if query:
            request["QueryParameters"] = dict(query)
        for attempt in range(1, RETRIES + 1):
            try:
                return self.mwaa.invoke_rest_api(**request)["RestApiResponse"]
            except (self.mwaa.exceptions.RestApiClientException, self.mwaa.exceptions.RestApiServerException) as exc:
                raise SeedError(f"{method} {path} failed: {exc.response.get('RestApiResponse', exc)}") from exc
            except self.mwaa.exceptions.ClientError as exc:
                # MWAA's own answers when Airflow was slow (10 s) or the rate was exceeded: an SDK with its default
                # retries tries again, and so does a user's script.
                if exc.response["Error"]["Code"] not in TRANSIENT or attempt == RETRIES:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def exists(self, path: str) -> bool:
        try:
            self.mwaa.invoke_rest_api(Name=self.environment, Path=path, Method="GET")
        except self.mwaa.exceptions.RestApiClientException:
            return False
        return True

    def import_errors(self) -> str:
        """The files Airflow could not import and the last line of each error (what a person looks at first)."""
        answer = self.call("GET", "/importErrors", query={"limit": 100})
        return "; ".join(
            f"import error in {error['filename']}: {error['stack_trace'].strip().splitlines()[-1]}"
            for error in answer.get("import_errors", [])
        )

    def paused_states(self) -> dict[str, bool]:
        """Every DAG's is_paused, as the REST API shows it."""
        states: dict[str, bool] = {}
        offset = 0
        stale = {"exclude_stale": False} if self.airflow3 else {"only_active": False}
        while True:
            page = self.call("GET", "/dags", query={"limit": 100, "offset": offset, **stale})
            states.update({dag["dag_id"]: dag["is_paused"] for dag in page["dags"]})
            offset += len(page["dags"])
            if not page["dags"] or offset >= page["total_entries"]:
                return states

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused}, query={"update_mask": "is_paused"})

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None) -> Any:
        """A manual run; Airflow 3 wants `logical_date` (null: a run for now)."""
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": dict(conf or {})}
        if self.airflow3:
            body["logical_date"] = None
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        if self.airflow3:
            self.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", {"note": note}, query={"update_mask": "note"})
        else:
            self.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/setNote", {"note": note})


def provision_environment_resources(request: Mapping[str, Any] = ENVIRONMENT_REQUEST) -> dict[str, Any]:
    """What the environment's request names, made to exist in moto (the execution role, a VPC with two subnets
    in two Availability Zones and a security group, the source bucket), so the hibernation's check that a wake
    could recreate it (docs/design.md, invariant 8) asks real IAM, EC2 and S3 APIs. Returns the request with the
    network ids moto assigned. The clients are the default ones: inside the sandbox they point at moto."""
    import boto3

    request = json.loads(json.dumps(dict(request)))
    iam = boto3.client("iam")
    path, _, role = request["ExecutionRoleArn"].split(":role", 1)[1].rpartition("/")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=role, Path=f"{path}/", AssumeRolePolicyDocument=json.dumps(_MWAA_TRUST))
    ec2 = boto3.client("ec2")
    region = ec2.meta.region_name
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{zone}")["Subnet"]
        for i, zone in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName=f"airflow-{vpc}", Description="MWAA", VpcId=vpc)["GroupId"]
    request["NetworkConfiguration"] = {"SubnetIds": [s["SubnetId"] for s in subnets], "SecurityGroupIds": [group]}
    s3 = boto3.client("s3")
    source = request["SourceBucketArn"].rsplit(":", 1)[-1]
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=source, **location)
    return request


# Who may assume an MWAA execution role (MWAA user guide, "Amazon MWAA execution role").
_MWAA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}
# The stack's ExecutionRoleName for the demo environment: the one role the stack may pass to MWAA.
EXECUTION_ROLE_NAME = ENVIRONMENT_REQUEST["ExecutionRoleArn"].rsplit("/", 1)[-1]


def create_environment(
    mwaa: Any,
    name: str,
    *,
    request: Mapping[str, Any] | None = None,
    timeout: float = CREATE_TIMEOUT_SECONDS,
    s3: Any = None,
) -> dict[str, Any]:
    """CreateEnvironment (by default with the demo's request, its role, network and bucket made to exist in moto)
    and wait until AVAILABLE; return GetEnvironment's answer.

    With `s3`, the environment's source bucket is made first as MWAA requires it (versioned), so tools that
    upload to the DAG folder or plugins.zip (`mwaa-hibernate install-dags`) find it.
    """
    request = dict(request or provision_environment_resources())
    if s3 is not None:
        bucket = str(request["SourceBucketArn"]).rsplit(":", 1)[-1]
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    mwaa.create_environment(Name=name, **request)

    def settled() -> dict[str, Any] | None:
        environment = mwaa.get_environment(Name=name)["Environment"]
        return None if environment["Status"] == "CREATING" else environment

    environment = wait_until(settled, timeout=timeout, interval=1, what=f"environment {name} to be created")
    if environment["Status"] != "AVAILABLE":
        raise SeedError(f"environment {name} ended {environment['Status']}: {environment.get('LastUpdate')}")
    return environment


@dataclass
class SeedReport:
    """What was put into the environment, for the demo's output and the tests' expectations."""

    variables: int = 0
    connections: int = 0
    pools: int = 0
    runs: dict[str, str] = field(default_factory=dict)  # run_id -> final state
    paused: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0


def seed_history(
    mwaa: Any,
    environment: str,
    *,
    progress: Callable[[str], None] | None = None,
    run_timeout: float = RUN_TIMEOUT_SECONDS,
) -> SeedReport:
    """Fill a fresh environment with the planned history; every DAG run really executes on its scheduler."""
    started = time.monotonic()
    say = progress or (lambda message: log.info("%s", message))
    api = AirflowApi(mwaa, environment)
    report = SeedReport()

    for variable in VARIABLES:
        api.call("POST", "/variables", variable)
    report.variables = len(VARIABLES)
    for connection in CONNECTIONS:
        api.call("POST", "/connections", connection)
    report.connections = len(CONNECTIONS)
    api.call("POST", "/pools", POOL)
    report.pools = 1
    say(f"{report.variables} variables, {report.connections} connections, pool {POOL['name']}")

    try:
        wait_until(
            lambda: all(api.exists(f"/dags/{dag_id}") for dag_id in DEMO_DAG_IDS),
            timeout=PARSE_TIMEOUT_SECONDS,
            interval=1,
            what=f"the scheduler to parse {', '.join(DEMO_DAG_IDS)}",
        )
    except TimeoutError as exc:
        missing = [dag_id for dag_id in DEMO_DAG_IDS if not api.exists(f"/dags/{dag_id}")]
        errors = api.import_errors() or "no import errors"
        raise SeedError(f"{exc}; not listed: {', '.join(missing)}; {errors}") from exc
    for dag_id in {run.dag_id for run in RUNS}:
        api.set_paused(dag_id, False)
    for run in RUNS:
        api.trigger(run.dag_id, run.run_id, run.conf)
        state = _wait_for_run(api, run, timeout=run_timeout)
        if state != run.expect:
            raise SeedError(f"DAG run {run.dag_id}/{run.run_id} ended {state}, expected {run.expect}")
        if run.note:
            api.set_note(run.dag_id, run.run_id, run.note)
        report.runs[run.run_id] = state
        say(f"{run.dag_id} run {run.run_id}: {state}")

    for dag_id, paused in FINAL_PAUSED.items():
        api.set_paused(dag_id, paused)
    report.paused = {dag_id: paused for dag_id, paused in api.paused_states().items() if dag_id in FINAL_PAUSED}
    if report.paused != FINAL_PAUSED:
        raise SeedError(f"paused states are {report.paused}, expected {FINAL_PAUSED}")
    report.seconds = time.monotonic() - started
    return report


def _wait_for_run(api: AirflowApi, run: PlannedRun, *, timeout: float) -> str:
    def finished() -> str | None:
        state = api.call("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")["state"]
        return state if state in ("success", "failed") else None

    return wait_until(finished, timeout=timeout, interval=1, what=f"DAG run {run.dag_id}/{run.run_id} to finish")
