"""Shared fixtures for the layer's unit tests: moto for S3/KMS/SNS/Step Functions, a small MWAA fake.

moto has no MWAA, so `FakeMwaa` stands in for the boto3 client: it validates every request against
botocore's own MWAA service model (so a CreateEnvironment request the real API would refuse fails
here too), keeps environments in memory, and answers InvokeRestApi from a scripted table.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import ParamValidator
from moto import mock_aws
from mwaa_hibernate import layout, settings, snapshots
from mwaa_hibernate.aws import json_bytes
from mwaa_hibernate_snapshot.manifest import REQUIRED_TABLES, FileEntry, Manifest, table_path

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "events"
ENVIRONMENT = "my-mwaa-environment"
SNAPSHOT_ID = "20261124T190000Z"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK = "mwaa-hibernate"
HIBERNATE_SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-hibernate"
WAKE_SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-wake"

SERVICE_ROLE = "AWSServiceRoleForAmazonMWAA"
# How many table files `write_snapshot` writes: two with rows, and every other table Airflow 2 always has, empty.
TABLE_FILES = len(REQUIRED_TABLES[2] | {"variable", "dag_run"})
_MWAA_MODEL = botocore.session.get_session().get_service_model("mwaa")


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def client_error(code: str, message: str = "", status: int = 400, **fields: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, **fields}, "FakeOperation")


def saved_environment(name: str = ENVIRONMENT, **changes: Any) -> dict[str, Any]:
    """A GetEnvironment Environment object as MWAA returns it: output-only fields, aws: tags and all."""
    environment = {
        "Name": name,
        "Arn": f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{name}",
        "Status": "AVAILABLE",
        "CreatedAt": "2026-01-05T09:12:44+00:00",
        "WebserverUrl": "abc123.c4.eu-west-1.airflow.amazonaws.com",
        "ServiceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/airflow.amazonaws.com/{SERVICE_ROLE}",
        "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonMWAA-{name}-x1y2z3",
        "SourceBucketArn": "arn:aws:s3:::my-airflow-bucket",
        "DagS3Path": "dags",
        "RequirementsS3Path": "requirements.txt",
        "RequirementsS3ObjectVersion": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "AirflowVersion": "2.10.3",
        "EnvironmentClass": "mw1.medium",
        "MaxWorkers": 10,
        "MinWorkers": 1,
        "Schedulers": 2,
        "MinWebservers": 2,
        "MaxWebservers": 2,
        "WebserverAccessMode": "PUBLIC_ONLY",
        "EndpointManagement": "SERVICE",
        "WeeklyMaintenanceWindowStart": "SUN:03:30",
        "AirflowConfigurationOptions": {"core.default_timezone": "utc", "secrets.backend_kwargs": '{"x": "secret"}'},
        "NetworkConfiguration": {"SubnetIds": ["subnet-0a1", "subnet-0b2"], "SecurityGroupIds": ["sg-0c3"]},
        "LoggingConfiguration": {
            module: {
                "Enabled": True,
                "LogLevel": "INFO",
                "CloudWatchLogGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-{name}-{module}",
            }
            for module in ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")
        },
        "LastUpdate": {"Status": "SUCCESS", "CreatedAt": "2026-01-05T09:40:02+00:00", "Source": "Console"},
        "CeleryExecutorQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:airflow-celery-abc",
        "DatabaseVpcEndpointService": "com.amazonaws.vpce.eu-west-1.vpce-svc-0db",
        "WebserverVpcEndpointService": "com.amazonaws.vpce.eu-west-1.vpce-svc-0ws",
        "Tags": {"team": "data", "aws:cloudformation:stack-name": "airflow", "aws:cloudformation:logical-id": "Env"},
    }
    environment.update(changes)
    return environment


class FakeMwaa:
    """The MWAA client calls the layer makes, checked against botocore's MWAA model."""

    def __init__(self) -> None:
        self.environments: dict[str, dict[str, Any]] = {}
        self.rest_answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: dict[str, ClientError] = {}
        # The environment's DAGs ({dag_id: is_paused}) when a test models Airflow's /dags endpoints.
        self.dags: dict[str, bool] | None = None
        # When set, answers every InvokeRestApi call: (method, path, query, body) -> (status, answer).
        self.rest_handler: Any = None
        self.web_login_tokens: list[dict[str, Any]] = []

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        shape = _MWAA_MODEL.operation_model(operation).input_shape
        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
        self.calls.append((operation, params))
        if operation in self.errors:
            raise self.errors[operation]

    def get_environment(self, **params: Any) -> dict[str, Any]:
        self._call("GetEnvironment", params)
        if params["Name"] not in self.environments:
            raise client_error("ResourceNotFoundException", f"Environment {params['Name']} not found")
        return {"Environment": json.loads(json.dumps(self.environments[params["Name"]]))}

    def create_environment(self, **params: Any) -> dict[str, Any]:
        self._call("CreateEnvironment", params)
        arn = f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{params['Name']}"
        self.environments[params["Name"]] = {**params, "Arn": arn, "Status": "CREATING"}
        return {"Arn": arn}

    def invoke_rest_api(self, **params: Any) -> dict[str, Any]:
        self._call("InvokeRestApi", params)
        method, path, query = params["Method"], params["Path"], params.get("QueryParameters") or {}
        if self.rest_handler is not None:
            status, body = self.rest_handler(method, path, query, params.get("Body"))
        else:
            status, body = self.rest_answers.get((method, path)) or self._dags_api(method, path, query, params)
        if status >= 400:
            code = "RestApiClientException" if status < 500 else "RestApiServerException"
            raise client_error(code, "Airflow said no", RestApiStatusCode=status, RestApiResponse=body)
        return {"RestApiStatusCode": status, "RestApiResponse": body}

    def _dags_api(self, method: str, path: str, query: dict[str, str], params: dict[str, Any]) -> tuple[int, Any]:
        """Airflow 2's /dags endpoints over `self.dags` ({dag_id: is_paused}) when a test sets it."""
        from mwaa_hibernate.bulk_pause import matches

        if self.dags is None:
            return 200, {}
        if path == "/dags" and method == "GET":
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
            page = sorted(self.dags)[offset : offset + limit]
            return 200, {
                "dags": [{"dag_id": d, "is_paused": self.dags[d]} for d in page],
                "total_entries": len(self.dags),
            }
        if path == "/dags" and method == "PATCH":
            chosen = sorted(d for d in self.dags if matches(query["dag_id_pattern"], d))
            for dag_id in chosen:
                self.dags[dag_id] = params["Body"]["is_paused"]
            return 200, {"dags": [{"dag_id": d, "is_paused": self.dags[d]} for d in chosen]}
        if path.startswith("/dags/") and method == "PATCH":
            dag_id = path[len("/dags/") :]
            if dag_id not in self.dags:
                return 404, {"title": "DAG not found"}
            self.dags[dag_id] = params["Body"]["is_paused"]
            return 200, {"dag_id": dag_id, "is_paused": self.dags[dag_id]}
        return 200, {}

    def create_web_login_token(self, **params: Any) -> dict[str, Any]:
        self._call("CreateWebLoginToken", params)
        if not self.web_login_tokens:
            raise client_error("ValidationException", "no web login scripted")
        return self.web_login_tokens.pop(0)

    def update_environment(self, **params: Any) -> dict[str, Any]:
        self._call("UpdateEnvironment", params)
        name = params["Name"]
        changes = {key: value for key, value in params.items() if key != "Name"}
        self.environments[name] = {**self.environments[name], **changes, "Status": "UPDATING"}
        return {"Arn": self.environments[name]["Arn"]}

    def rest_calls(self) -> list[tuple[str, str, Any]]:
        return [(p["Method"], p["Path"], p.get("Body")) for op, p in self.calls if op == "InvokeRestApi"]


@pytest.fixture(scope="module")
def _moto() -> Iterator[Any]:
    """One moto per test module (starting it is the slow part); each test resets its backends.

    Module scope, not session: other suites start their own moto and must not find this one running.
    """
    mock = mock_aws()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture
def aws(_moto: Any, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """moto for everything but MWAA, a bucket and key the way the template makes them, and the fake MWAA."""
    _moto.reset()
    s3 = boto3.client("s3", region_name=REGION)
    bucket = "mwaa-hibernate-snapshots-test"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kms = boto3.client("kms", region_name=REGION)
    key_arn = kms.create_key(Description="snapshots")["KeyMetadata"]["Arn"]
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
    mwaa = FakeMwaa()
    real_client = boto3.client
    monkeypatch.setattr(
        "mwaa_hibernate.aws.boto3.client",
        lambda service, *a, **kw: mwaa if service == "mwaa" else real_client(service, *a, **kw),
    )
    for name, value in {
        settings.SNAPSHOT_BUCKET: bucket,
        settings.KMS_KEY_ARN: key_arn,
        settings.ENVIRONMENT_NAME: ENVIRONMENT,
        settings.HIBERNATE_STATE_MACHINE_ARN: HIBERNATE_SM,
        settings.WAKE_STATE_MACHINE_ARN: WAKE_SM,
        settings.ALERT_TOPIC_ARN: topic_arn,
        settings.NOTIFY_ON_SUCCESS: "true",
        settings.ENVIRONMENT_OVERRIDES: "{}",
        settings.EXECUTION_ROLE_NAME: saved_environment()["ExecutionRoleArn"].rsplit("/", 1)[-1],
    }.items():
        monkeypatch.setenv(name, value)
    return SimpleNamespace(s3=s3, kms=kms, sns=sns, bucket=bucket, key_arn=key_arn, topic_arn=topic_arn, mwaa=mwaa)


def write_snapshot(
    aws: SimpleNamespace,
    snapshot_id: str = SNAPSHOT_ID,
    *,
    environment: str = ENVIRONMENT,
    paused: dict[str, bool] | None = None,
    complete: bool = True,
) -> dict[str, bytes]:
    """A snapshot folder in the engine's own format: environment.json, two tables, paused state, manifest."""
    prefix = layout.snapshot_prefix(environment, snapshot_id)
    # Plain PutObject (no If-None-Match): tests write a folder again to change it, which the store refuses.
    store = SimpleNamespace(
        put_bytes=lambda name, data: aws.s3.put_object(Bucket=aws.bucket, Key=prefix + name, Body=data)
    )
    store.put_bytes(layout.ENVIRONMENT_FILE, json_bytes(saved_environment(environment)))
    files = {}
    entries = []
    for table, csv in {"variable": b"id,key,val\n1,a,x\n", "dag_run": b"id,dag_id\n1,etl\n2,etl\n"}.items():
        data = gzip.compress(csv)
        files[table_path(table)] = data
        store.put_bytes(table_path(table), data)
        entries.append(
            FileEntry(
                path=table_path(table),
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                table=table,
                kind="copy",
                rows=csv.count(b"\n") - 1,
            )
        )
    for table in sorted(REQUIRED_TABLES[2] - {"variable", "dag_run"}):  # every table Airflow 2 always has, empty
        data = gzip.compress(b"id\n")
        store.put_bytes(table_path(table), data)
        files[table_path(table)] = data
        digest = hashlib.sha256(data).hexdigest()
        entries.append(FileEntry(path=table_path(table), bytes=len(data), sha256=digest, table=table, rows=0))
    paused_entry = None
    if paused is not None:
        body = json.dumps({"dags": paused}).encode()
        store.put_bytes(layout.DAG_PAUSED_STATE_FILE, body)
        paused_entry = FileEntry(
            path=layout.DAG_PAUSED_STATE_FILE, bytes=len(body), sha256=hashlib.sha256(body).hexdigest()
        )
    if complete:
        manifest = Manifest(
            snapshot_id=snapshot_id,
            created_at="2026-11-24T19:03:31Z",
            dialect="postgresql",
            alembic_revision="5f2621c13b39",
            airflow_version="2.10.3",
            encryption={"kind": "none"},
            files=tuple(entries),
            paused_state=paused_entry,
        )
        store.put_bytes(layout.MANIFEST_FILE, manifest.dumps())
    return files


def configuration_sha256(environment: str = ENVIRONMENT) -> str:
    """The digest the save step records for the configuration `write_snapshot` saves."""
    return hashlib.sha256(json_bytes(saved_environment(environment))).hexdigest()


def commit(aws: SimpleNamespace, snapshot_id: str = SNAPSHOT_ID, *, environment: str = ENVIRONMENT) -> dict[str, Any]:
    """Move the latest pointer as the hibernate state machine does, with the saved configuration's digest."""
    return snapshots.commit_latest(
        environment=environment,
        snapshot_id=snapshot_id,
        bucket=aws.bucket,
        configuration_sha256=configuration_sha256(environment),
    )


@pytest.fixture
def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="test-function",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function",
        memory_limit_in_mb=256,
        aws_request_id="00000000-0000-0000-0000-000000000000",
        log_group_name="/aws/lambda/test-function",
        log_stream_name="test",
        get_remaining_time_in_millis=lambda: 60_000,
    )
