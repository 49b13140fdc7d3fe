"""Every payload in events/ is what a state machine really sends, and its handler accepts it.

The ASL files are read to find, for each Lambda task, the function it calls, the payload keys it sends
and the result keys its ResultSelector picks; each event must match one such task exactly, and its
handler (run in-process against moto and the MWAA fake) must return at least the picked keys.
"""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends
from mwaa_hibernate.exceptions import EnvironmentCannotBeRecreated, EnvironmentFailed

from .conftest import ENVIRONMENT, EVENTS, REGION, REPO, commit, load_event, saved_environment, write_snapshot

TEMPLATE = cfn_yaml.load(str(REPO / "template.yaml"))
FUNCTION_EVENTS = sorted(
    p.name[: -len(".json")] for p in EVENTS.glob("*.json") if not p.name.startswith("statemachine.")
)


def handler_module(logical_id: str) -> str:
    return TEMPLATE["Resources"][logical_id]["Properties"]["Handler"].split(".")[0]


def lambda_tasks() -> dict[str, list[dict[str, Any]]]:
    """handler module -> [{state, payload keys, selected result keys}] over the three ASL files."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for asl in (REPO / "statemachine").glob("*.asl.json"):
        for name, state in json.loads(asl.read_text())["States"].items():
            function = state.get("Parameters", {}).get("FunctionName", "")
            match = re.fullmatch(r"\$\{(\w+)Arn\}", function)
            if not match:
                continue
            payload = {k.removesuffix(".$") for k in state["Parameters"]["Payload"]}
            selected = {k.removesuffix(".$") for k in state.get("ResultSelector", {})}
            tasks.setdefault(handler_module(match.group(1)), []).append(
                {"state": f"{asl.name}: {name}", "payload": payload, "selected": selected}
            )
    return tasks


TASKS = lambda_tasks()


def load_handler(module: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"mwaa_hibernate_functions.{module}", REPO / "src/functions" / f"{module}.py"
    )
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    return handler


def prepare(aws, name: str) -> None:
    """The world in which the state machine would send this event."""
    if name in ("preflight.hibernate", "save_configuration", "restore_paused_dags", "check_restore") or name.startswith(
        "choose_carrier"
    ):
        aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    if name in (
        "preflight.wake",
        "create_environment",
        "verify_snapshot",
        "commit_snapshot",
        "prune_snapshots",
        "check_recreatable",
        "check_restore",
        "choose_carrier.wake",
    ):
        write_snapshot(aws)
    if name in ("preflight.wake", "prune_snapshots", "create_environment"):
        commit(aws)
    if name == "check_restore":  # the environment shows the snapshot's two runs
        aws.mwaa.rest_answers[("GET", "/dags/~/dagRuns")] = (200, {"dag_runs": [], "total_entries": 2})
        aws.mwaa.rest_answers[("GET", "/dags/~/dagRuns/~/taskInstances")] = (200, {"total_entries": 0})
    if name == "restore_paused_dags":
        write_snapshot(aws, paused={"etl": False, "old": True}, complete=False)
    if name == "explain_environment_failure":
        aws.mwaa.environments[ENVIRONMENT] = saved_environment(
            Status="CREATE_FAILED",
            LastUpdate={
                "Status": "FAILED",
                "Error": {"ErrorCode": "INCORRECT_CONFIGURATION", "ErrorMessage": "Subnets lack NAT."},
            },
        )


def published(aws) -> list[tuple]:
    return sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[aws.topic_arn].sent_notifications


def test_every_function_the_state_machines_call_has_an_event() -> None:
    assert set(TASKS) <= {name.split(".")[0] for name in FUNCTION_EVENTS}


@pytest.mark.parametrize("name", FUNCTION_EVENTS)
def test_the_event_is_accepted_by_its_handler(aws, lambda_context, capsys, name: str) -> None:
    module = name.split(".")[0]
    event = load_event(name)
    # EventBridge events, and what a schedule sends a function no state machine calls (the idle check).
    is_eventbridge = "detail-type" in event or module not in TASKS
    calls = TASKS.get(module, [])
    if not is_eventbridge:
        matching = [t for t in calls if t["payload"] == set(event)]
        assert matching, f"events/{name}.json keys {sorted(event)} match no task calling {module}: {calls}"
    prepare(aws, name)
    handler = load_handler(module)

    if module == "check_recreatable":
        # The conftest's configuration names subnets moto does not have: the handler took the event and refused.
        with pytest.raises(EnvironmentCannotBeRecreated, match="does not exist"):
            handler.lambda_handler(event, lambda_context)
        return
    if module == "explain_environment_failure":
        with pytest.raises(EnvironmentFailed, match=r"MWAA says: INCORRECT_CONFIGURATION: Subnets lack NAT\."):
            handler.lambda_handler(event, lambda_context)
        return
    result = handler.lambda_handler(event, lambda_context)

    assert isinstance(result, dict)
    if not is_eventbridge:
        needed = set().union(*(t["selected"] for t in matching))
        assert needed <= set(result), f"{module} returns {sorted(result)}, the ASL selects {sorted(needed)}"
    if module == "notify":
        assert result["published"] == (name != "notify.execution-failed-alerted")
        assert len(published(aws)) == int(result["published"])
    logs = capsys.readouterr().out
    if "task_token" in event:
        assert event["task_token"] not in logs


def test_the_state_machine_inputs_are_what_the_schedules_and_parents_send() -> None:
    resources = TEMPLATE["Resources"]
    for name, event in (("HibernateStateMachine", "Nightly"), ("WakeStateMachine", "Morning")):
        schedule = resources[name]["Properties"]["Events"][event]["Properties"]
        flow = "hibernate" if name.startswith("Hibernate") else "wake"
        assert json.loads(schedule["Input"]) == load_event(f"statemachine.{flow}")

    waiter_input = set(load_event("statemachine.wait-for-environment"))
    for asl in ("hibernate", "wake"):
        states = json.loads((REPO / "statemachine" / f"{asl}.asl.json").read_text())["States"]
        for state in states.values():
            if state.get("Resource", "").startswith("arn:aws:states:::states:startExecution"):
                sent = {k.removesuffix(".$") for k in state["Parameters"]["Input"]}
                assert sent - {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"} == waiter_input
