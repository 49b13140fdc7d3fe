"""The metrics behind the dashboard and the alarms, as the real handlers log them (embedded metric format) while
the real state machines run in moto: names, units, dimensions and values of a good cycle and of failed ones."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from dag_simulation import EXPORT_SECONDS, write_snapshot
from mwaa_hibernate import metrics
from mwaa_hibernate_sandbox.template import SamTemplate
from mwaa_hibernate_snapshot import Manifest, open_store, write_paused_state
from world import ENVIRONMENT, EXPORT_DAG, USER_DAGS, World

PREVIOUS_ID = "20261101T190000Z"


def published(world: World, template: SamTemplate) -> dict[str, list[float]]:
    """Metric name -> the values logged, in order; every record in the stack's namespace with the one dimension set."""
    namespace = template.parameters["MetricsNamespace"].default
    values: dict[str, list[float]] = defaultdict(list)
    for function, record in world.router.metric_records():
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == namespace, function
        wanted = metrics.dimensions(ENVIRONMENT)
        assert [sorted(d) for d in directive["Dimensions"]] == [sorted(wanted)], function
        assert {name: record[name] for name in wanted} == wanted, function
        for definition in directive["Metrics"]:
            metric = metrics.BY_NAME[definition["Name"]]
            assert definition["Unit"] == metric.unit, f"{function}: {metric.name} in {definition['Unit']}"
            logged = record[metric.name]  # Powertools logs a list of the values added in one invocation
            values[metric.name].extend(logged if isinstance(logged, list) else [logged])
    return dict(values)


def manifest(world: World, snapshot_id: str) -> Manifest:
    return Manifest.loads(json.dumps(world.read_json(f"{ENVIRONMENT}/snapshots/{snapshot_id}/manifest.json")).encode())


def commit_a_smaller_previous_snapshot(world: World) -> None:
    """A verified earlier snapshot, the latest pointer on it, half the size the simulated export will write."""
    store = open_store(
        f"s3://{world.stack.bucket}/{ENVIRONMENT}/snapshots/{PREVIOUS_ID}/", s3_client=world.client("s3")
    )
    write_paused_state(store, USER_DAGS)
    full = write_snapshot(store, snapshot_id=PREVIOUS_ID)
    half = dataclasses.replace(full, files=tuple(dataclasses.replace(f, bytes=f.bytes // 2) for f in full.files))
    key = f"{ENVIRONMENT}/snapshots/{PREVIOUS_ID}/manifest.json"  # rewritten: a plain PutObject, not the store
    world.client("s3").put_object(Bucket=world.stack.bucket, Key=key, Body=half.dumps())
    latest = json.dumps({"snapshot_id": PREVIOUS_ID}).encode()
    world.client("s3").put_object(Bucket=world.stack.bucket, Key=f"{ENVIRONMENT}/latest.json", Body=latest)


def test_a_good_cycle_publishes_snapshot_figures_growth_state_and_hours_hibernated(
    world: World, template: SamTemplate
) -> None:
    commit_a_smaller_previous_snapshot(world)

    hibernated = world.run("hibernate")

    assert hibernated.status == "SUCCEEDED", hibernated
    snapshot_id = hibernated.output["preflight"]["snapshot_id"]
    new, old = manifest(world, snapshot_id), manifest(world, PREVIOUS_ID)
    growth = round(100 * (new.bytes - old.bytes) / old.bytes, 2)
    assert growth > float(template.parameters["SnapshotGrowthAlarmPercent"].default), "the alarm would stay quiet"
    assert published(world, template) == {
        "ConfigurationsSaved": [1],
        "DagRunsTriggered": [1],
        "SnapshotTables": [len(new.files)],
        "SnapshotRows": [new.rows],
        "SnapshotBytes": [new.bytes],
        "SnapshotExportSeconds": [EXPORT_SECONDS],
        "SnapshotGrowthPercent": [growth],
        "EnvironmentAwake": [0],
        "SnapshotsPruned": [0],
        "HibernationsSucceeded": [1],
    }

    # The environment slept ten hours (state.json says when the hibernation was recorded), then wakes.
    slept_from = datetime.now(UTC) - timedelta(hours=10)
    state = {**world.state_file(), "updated_at": slept_from.strftime("%Y-%m-%dT%H:%M:%SZ")}
    world.client("s3").put_object(Bucket=world.stack.bucket, Key=f"{ENVIRONMENT}/state.json", Body=json.dumps(state))
    world.router.logs.clear()

    woke = world.run("wake")

    assert woke.status == "SUCCEEDED", woke
    started = world.client("stepfunctions").describe_execution(executionArn=woke.arn)["startDate"]
    expected_hours = (started - slept_from.replace(microsecond=0)).total_seconds() / 3600
    values = published(world, template)
    (hours,) = values.pop("HoursHibernated")
    assert abs(hours - expected_hours) < 0.01 and 9.9 < hours < 10.1
    assert values == {
        "EnvironmentsCreated": [1],
        "DagRunsTriggered": [1],
        "EnvironmentAwake": [1],
        "WakesSucceeded": [1],
    }


def test_a_failed_hibernation_counts_one_failure_and_publishes_no_snapshot(world: World, template: SamTemplate) -> None:
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("fail"))

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED"
    assert published(world, template) == {
        "ConfigurationsSaved": [1],
        "DagRunsTriggered": [1],
        "DagsUnpausedAfterFailure": [2],
        "HibernationsFailed": [1],
        "AlertsPublished": [1],
    }


def test_a_failed_wake_counts_one_failure_and_the_environment_failure(world: World, template: SamTemplate) -> None:
    assert world.run("hibernate").status == "SUCCEEDED"
    world.mwaa.create_timeline = ["CREATING", ("CREATE_FAILED", "The subnets are not in the same VPC.")]
    world.router.logs.clear()

    outcome = world.run("wake")

    assert outcome.status == "FAILED"
    assert published(world, template) == {
        "EnvironmentsCreated": [1],
        "EnvironmentFailures": [1],
        "WakesFailed": [1],
        "AlertsPublished": [1],
    }


def test_an_execution_stopped_by_hand_is_counted_from_the_eventbridge_rule(world: World, template: SamTemplate) -> None:
    """Stopped executions never reach their own catch paths: the rule's event is the only report of them."""
    event = world.event("notify.execution-aborted.json")
    response = world.client("lambda").invoke(
        FunctionName=world.stack.function_name("NotifyFunction"), Payload=json.dumps(event).encode()
    )
    assert "FunctionError" not in response, response["Payload"].read()

    flow = "wake" if event["detail"]["stateMachineArn"].endswith("-wake") else "hibernate"
    assert published(world, template) == {metrics.outcome(flow, succeeded=False).name: [1], "AlertsPublished": [1]}


def test_the_rules_copy_of_a_failure_already_reported_is_not_counted_again(world: World, template: SamTemplate) -> None:
    response = world.client("lambda").invoke(
        FunctionName=world.stack.function_name("NotifyFunction"),
        Payload=json.dumps(world.event("notify.execution-failed-alerted.json")).encode(),
    )
    assert "FunctionError" not in response, response["Payload"].read()

    assert published(world, template) == {}
