"""Where a secret could leak in a sandbox, and a search of all of it (docs/design.md, invariant 6).

The places a person or another program can read after a cycle: every Airflow log of every environment (task
logs, scheduler, DAG processor, triggerer and API server output, including environments since deleted when
the stand-in keeps their homes), every S3 object in moto (snapshots, pointers, the DAG bucket), the live
metadata database's XComs, every Step Functions execution history, and every Lambda function's log.

The secrets: the Step Functions task tokens (read from the histories, where Step Functions itself keeps
them; they may appear nowhere else), the database roles' passwords, every environment's Fernet key and JWT
secret, and the stand-in's web login secret.
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mwaa_hibernate_sandbox.postgres import MWAA_ROLE_PASSWORDS

# Files of an Airflow home that are logs a person reads (configuration files are not logs: on MWAA the
# environment's configuration is not visible to users either).
LOG_SUFFIXES = (".log", ".out")


@dataclass(frozen=True)
class Leak:
    secret: str  # what kind, never the value
    place: str

    def __str__(self) -> str:
        return f"{self.secret} in {self.place}"


def variants(value: str) -> set[bytes]:
    """A secret as it could be written: plain, URL-quoted, JSON-escaped."""
    forms = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
    return {form.encode() for form in forms if len(form) >= 8}


def database_passwords() -> dict[str, str]:
    return {f"the {role} database password": password for role, password in MWAA_ROLE_PASSWORDS.items()}


def task_tokens(histories: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    """The task tokens Step Functions handed to the trigger function, by execution."""
    tokens = {}
    for arn, events in histories.items():
        for event in events:
            details = event.get("taskScheduledEventDetails")
            if details and "task_token" in details.get("parameters", ""):
                token = json.loads(details["parameters"])["Payload"]["task_token"]
                tokens[f"a task token of {arn.rsplit(':', 1)[-1]}"] = token
    return tokens


def execution_histories(sfn: Any, state_machine_arns: list[str]) -> dict[str, list[dict[str, Any]]]:
    histories = {}
    for machine in state_machine_arns:
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            arn = execution["executionArn"]
            histories[arn] = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return histories


def log_files(state_dir: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(state_dir.rglob("*")):
        if path.is_file() and path.suffix in LOG_SUFFIXES:
            yield f"log {path.relative_to(state_dir)}", path.read_bytes()


def s3_objects(s3: Any) -> Iterator[tuple[str, bytes]]:
    for bucket in s3.list_buckets().get("Buckets", []):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()
                if item["Key"].endswith(".gz"):
                    body = gzip.decompress(body)
                yield f"s3://{bucket['Name']}/{item['Key']}", body


def xcoms(database_url: str) -> Iterator[tuple[str, bytes]]:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for dag_id, run_id, task_id, key, value in conn.execute(
                sa.text("SELECT dag_id, run_id, task_id, key, value FROM xcom")
            ):
                yield f"XCom {dag_id}/{run_id}/{task_id}/{key}", str(value).encode()
    finally:
        engine.dispose()


def search(places: Iterator[tuple[str, bytes]], secrets: Mapping[str, str]) -> list[Leak]:
    """Every (secret, place) where a form of the secret's value is found."""
    needles = {name: variants(value) for name, value in secrets.items() if value}
    found = []
    for place, body in places:
        for name, forms in needles.items():
            if any(form in body for form in forms):
                found.append(Leak(name, place))
    return found
