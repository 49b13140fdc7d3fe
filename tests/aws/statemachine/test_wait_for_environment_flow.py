"""The wait-for-environment state machine on its own: reach the target, fail fast, or time out clearly."""

from __future__ import annotations

import pytest
from mwaa_double import GONE
from world import ENVIRONMENT, World


def wait_input(world: World, **changes: object) -> dict[str, object]:
    return {**world.event("statemachine.wait-for-environment.json"), "environment_name": ENVIRONMENT, **changes}


def test_polls_until_available(world: World) -> None:
    world.mwaa.environments[ENVIRONMENT].timeline = ["CREATING", "CREATING", "AVAILABLE"]

    outcome = world.run("wait-for-environment", wait_input(world))

    assert outcome.status == "SUCCEEDED"
    assert outcome.output == {"environment_name": ENVIRONMENT, "status": "AVAILABLE"}
    assert outcome.states.count("Read the environment's status") == 3


def test_a_deleted_environment_counts_as_gone(world: World) -> None:
    world.mwaa.environments[ENVIRONMENT].timeline = ["DELETING", GONE]

    outcome = world.run("wait-for-environment", wait_input(world, target="DELETED"))

    assert outcome.status == "SUCCEEDED" and outcome.output["status"] == "DELETED"


@pytest.mark.parametrize("status", ["CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE"])
def test_a_failed_environment_fails_at_once_with_mwaas_error_text(world: World, status: str) -> None:
    message = f"Simulated {status}: the execution role cannot read the DAG bucket."
    world.mwaa.environments[ENVIRONMENT].timeline = ["UPDATING", (status, message)]

    outcome = world.run("wait-for-environment", wait_input(world))

    assert outcome.status == "FAILED"
    assert outcome.states.count("Read the environment's status") == 2
    assert message in outcome.cause and status in outcome.cause


def test_an_environment_that_disappears_while_being_created_fails(world: World) -> None:
    world.mwaa.environments[ENVIRONMENT].timeline = ["CREATING", GONE]

    outcome = world.run("wait-for-environment", wait_input(world))

    assert outcome.status == "FAILED" and outcome.error == "EnvironmentMissing"


def test_waiting_too_long_fails_with_the_status_it_was_stuck_in(world: World) -> None:
    world.mwaa.environments[ENVIRONMENT].timeline = ["CREATING"]

    outcome = world.run("wait-for-environment", wait_input(world, poll_seconds=60, timeout_seconds=240))

    assert outcome.status == "FAILED" and outcome.error == "EnvironmentWaitTimedOut"
    assert "still CREATING" in outcome.cause and "AVAILABLE" in outcome.cause
    # ceil(240 / 60) = 4 polls, no more.
    assert outcome.states.count("Read the environment's status") == 4
