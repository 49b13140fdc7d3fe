"""The estimator's orchestration usage, measured: state transitions and Lambda invocations of real executions.

`mwaa-hibernate estimate` prices Step Functions by state transitions and Lambda by invocations. Its per-execution
counts (mwaa_hibernate.estimate: HIBERNATE_USAGE, WAKE_USAGE, NO_OP_USAGE, TRANSITIONS_PER_POLL) must be what
the state machines really do; these tests run them in moto and fail when a state machine changes and the counts
no longer match. A transition is a state entered (Step Functions bills each step, the child waiter's included).
"""

from __future__ import annotations

import json
from typing import Any

from mwaa_hibernate import estimate
from world import ENVIRONMENT, Outcome, World

WAITER = "wait-for-environment"
POLL_WAIT = "Wait before polling again"


def history(world: World, execution_arn: str) -> list[dict[str, Any]]:
    sfn = world.client("stepfunctions")
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def children(world: World, outcome: Outcome) -> list[str]:
    """The waiter executions a run started (startExecution.sync), newest last."""
    sfn = world.client("stepfunctions")
    arn = world.stack.state_machine_arn(WAITER)
    started = sfn.list_executions(stateMachineArn=arn)["executions"]
    mine = [e for e in started if e["startDate"] >= sfn.describe_execution(executionArn=outcome.arn)["startDate"]]
    return [e["executionArn"] for e in sorted(mine, key=lambda e: e["startDate"])]


def measure(world: World, machine: str) -> tuple[Outcome, estimate.ExecutionUsage, int]:
    """Run one execution; return it, its usage without the waiter's polls, and the number of polls waited."""
    calls_before = len(world.router.invocations)
    outcome = world.run(machine)
    transitions, waits = len(outcome.states), 0
    for child in children(world, outcome):
        states = world.states(child)
        transitions += len(states)
        waits += states.count(POLL_WAIT)
    usage = estimate.ExecutionUsage(
        transitions=transitions - waits * estimate.TRANSITIONS_PER_POLL,
        lambda_invocations=len(world.router.invocations) - calls_before,
    )
    return outcome, usage, waits


def test_each_poll_of_the_waiter_is_a_fixed_number_of_transitions(world: World) -> None:
    event = {**world.event("statemachine.wait-for-environment.json"), "environment_name": ENVIRONMENT}
    counted = {}
    for polls in (1, 4):
        environment = world.mwaa.environments[ENVIRONMENT]
        environment.timeline, environment.step = ["CREATING"] * polls + ["AVAILABLE"], 0
        outcome = world.run(WAITER, event)
        assert outcome.status == "SUCCEEDED" and outcome.states.count(POLL_WAIT) == polls
        counted[polls] = len(outcome.states)
    assert (counted[4] - counted[1]) / 3 == estimate.TRANSITIONS_PER_POLL, counted


def test_a_hibernation_uses_what_the_estimator_counts(world: World) -> None:
    outcome, usage, waits = measure(world, "hibernate")

    assert outcome.status == "SUCCEEDED" and waits >= 1, outcome
    assert usage == estimate.HIBERNATE_USAGE, f"measured {usage}: update estimate.HIBERNATE_USAGE"


def test_a_wake_uses_what_the_estimator_counts(world: World) -> None:
    assert world.run("hibernate").status == "SUCCEEDED"

    outcome, usage, waits = measure(world, "wake")

    assert outcome.status == "SUCCEEDED" and waits >= 1, outcome
    assert usage == estimate.WAKE_USAGE, f"measured {usage}: update estimate.WAKE_USAGE"


def test_an_execution_with_nothing_to_do_uses_what_the_estimator_counts(world: World) -> None:
    awake, usage_awake, _ = measure(world, "wake")
    assert awake.visited("Already awake")
    del world.mwaa.environments[ENVIRONMENT]  # as after an earlier hibernation, whose pointer is in S3
    pointer = json.dumps({"snapshot_id": "20261101T190000Z"})
    world.client("s3").put_object(Bucket=world.stack.bucket, Key=f"{ENVIRONMENT}/latest.json", Body=pointer)
    asleep, usage_asleep, _ = measure(world, "hibernate")
    assert asleep.visited("Already hibernated")

    assert usage_awake == usage_asleep == estimate.NO_OP_USAGE, f"measured {usage_awake}, {usage_asleep}"
