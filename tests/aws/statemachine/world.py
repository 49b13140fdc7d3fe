"""One test's AWS world: the stack deployed into moto, the MWAA double, and helpers to run and inspect executions."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from dag_simulation import DagSimulation
from mwaa_double import MwaaDouble
from mwaa_hibernate_sandbox.moto_patches import LambdaRouter
from mwaa_hibernate_sandbox.moto_stack import DeployedStack

# Poll describe_execution this often: executions take tens of milliseconds per state in moto.
POLL_SECONDS = 0.02
# An execution that has not finished by then is stuck (the whole flow takes well under a second here).
EXECUTION_TIMEOUT_SECONDS = 30.0
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

ENVIRONMENT = "analytics"
EXECUTION_ROLE = f"{ENVIRONMENT}-execution"
EXPORT_DAG = "mwaa_hibernate_export"
IMPORT_DAG = "mwaa_hibernate_import"
# The users' DAGs: two running, one the team paused on purpose (it must stay paused through a cycle).
USER_DAGS = {"sales_etl": False, "marketing_sync": False, "legacy_backfill": True}
# A freshly deployed environment parses the hibernation DAGs paused (dags_are_paused_at_creation).
HIBERNATION_DAGS = {EXPORT_DAG: True, IMPORT_DAG: True}


@dataclass(frozen=True)
class Outcome:
    """How an execution ended, and the states it went through (in order)."""

    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    states: list[str]

    def visited(self, state: str) -> bool:
        return state in self.states


@dataclass
class World:
    stack: DeployedStack
    mwaa: MwaaDouble
    router: LambdaRouter
    dags: DagSimulation
    environment: str
    region: str
    events_dir: Path
    alert_queue_url: str = ""
    _alerts: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    # --- executions -------------------------------------------------------------------------

    def event(self, name: str) -> dict[str, Any]:
        """A payload from events/ (the same files `sam local invoke -e` and the handler tests use)."""
        return json.loads((self.events_dir / name).read_text())

    def start(self, machine: str, payload: dict[str, Any] | None = None) -> str:
        arn = self.stack.state_machine_arn(machine)
        if payload is None:  # what the schedule sends (events/statemachine.<machine>.json)
            payload = self.event(f"statemachine.{machine}.json")
        body = json.dumps(payload)
        return self.client("stepfunctions").start_execution(stateMachineArn=arn, input=body)["executionArn"]

    def wait(self, execution_arn: str, *, timeout: float = EXECUTION_TIMEOUT_SECONDS) -> Outcome:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while (described := sfn.describe_execution(executionArn=execution_arn))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, (
                f"{execution_arn} still RUNNING after {timeout}s: {self.states(execution_arn)}"
            )
            time.sleep(POLL_SECONDS)
        output = described.get("output")
        return Outcome(
            arn=execution_arn,
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            states=self.states(execution_arn),
        )

    def run(self, machine: str, payload: dict[str, Any] | None = None) -> Outcome:
        outcome = self.wait(self.start(machine, payload))
        self.dags.join()
        return outcome

    def states(self, execution_arn: str) -> list[str]:
        events = self.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
        return [e["stateEnteredEventDetails"]["name"] for e in events["events"] if "stateEnteredEventDetails" in e]

    def wait_for_state(self, execution_arn: str, state: str, *, timeout: float = EXECUTION_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while state not in self.states(execution_arn):
            assert time.monotonic() < deadline, f"{execution_arn} never entered {state!r}"
            time.sleep(POLL_SECONDS)

    def wait_until(self, condition: Any, what: str, *, timeout: float = EXECUTION_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(POLL_SECONDS)

    def stop_running(self) -> None:
        sfn = self.client("stepfunctions")
        for arn in self.stack.state_machines.values():
            for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], error="TestTeardown")

    # --- what users see ----------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """Every message published to the alert topic so far: {"subject", "message"}."""
        sqs = self.client("sqs")
        while messages := sqs.receive_message(QueueUrl=self.alert_queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                envelope = json.loads(message["Body"])
                self._alerts.append({"subject": envelope.get("Subject", ""), "message": envelope["Message"]})
                sqs.delete_message(QueueUrl=self.alert_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._alerts)

    def keys(self, prefix: str = "") -> list[str]:
        s3 = self.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read_json(self, key: str) -> Any:
        body = self.client("s3").get_object(Bucket=self.stack.bucket, Key=key)["Body"].read()
        return json.loads(body)

    def latest(self) -> dict[str, Any] | None:
        key = f"{self.environment}/latest.json"
        return self.read_json(key) if key in self.keys(key) else None

    def snapshot_ids(self) -> list[str]:
        prefix = f"{self.environment}/snapshots/"
        return sorted({key[len(prefix) :].split("/", 1)[0] for key in self.keys(prefix)})

    def state_file(self) -> dict[str, Any] | None:
        key = f"{self.environment}/state.json"
        return self.read_json(key) if key in self.keys(key) else None

    def dag_states(self) -> dict[str, bool]:
        return dict(self.mwaa.environments[self.environment].dags)
