"""One adaptive cycle in the sandbox, on the real clock: the stack wakes before the scheduled runs, lets a run that
outlasts the idle check finish, and hibernates after the last one; an event-triggered DAG never drives a wake.

Takes about twelve minutes: the stand-in's Airflow scheduler runs the DAGs at their real times (see
mwaa_hibernate_sandbox.adaptive_cycle).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from mwaa_hibernate_sandbox import adaptive_cycle, seed
from mwaa_hibernate_sandbox.sandbox import Sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cycle(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[adaptive_cycle.AdaptiveCycle]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state = tmp_path_factory.mktemp("adaptive")
    with Sandbox(airflow_bin=airflow_bin, state_dir=state, parameter_overrides=adaptive_cycle.PARAMETERS) as sandbox:
        seed.create_environment(sandbox.client("mwaa"), sandbox.environment_name)
        dags = adaptive_cycle.upload_dags(sandbox)
        result = adaptive_cycle.run_cycle(sandbox, dags)
        result.history["environment_at_the_end"] = sandbox.environment_status()
        yield result


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_schedule_wakes_the_environment_before_the_first_run(cycle: adaptive_cycle.AdaptiveCycle) -> None:
    assert cycle.manual_hibernation is not None and cycle.manual_hibernation.succeeded
    planned = next(d for d in cycle.decisions if d["source"] == "plan")
    assert planned["kind"] == "WAKE_AT" and planned["dag_id"] == adaptive_cycle.EXTRACT
    assert when(planned["due_at"]) == cycle.dags.first_run
    wake = next(f for f in cycle.fired if f.name == "adaptive-wake")
    assert wake.fired_at >= wake.due  # strictly when due
    assert cycle.wake is not None and cycle.wake["status"] == "SUCCEEDED", (
        cycle.wake.get("error"),
        cycle.wake.get("cause"),
    )
    measured = cycle.history["wakes"][-1]  # recorded when the restore was done, before the wake's last steps
    assert measured["trigger"] == "adaptive" and when(measured["due_at"]) == cycle.dags.first_run
    assert when(measured["awake_at"]) <= cycle.dags.first_run, f"the wake ended after the run it was for: {measured}"
    assert measured["late_seconds"] == 0


def test_the_runs_happen_on_time_and_a_long_run_is_not_interrupted(cycle: adaptive_cycle.AdaptiveCycle) -> None:
    for dag_id, due in cycle.dags.due.items():
        run = cycle.runs[dag_id]
        assert run["state"] == "success", run
        assert when(run["start_date"]) >= due
    busy = [a for a in cycle.idle_answers() if a.get("decision") == "STAY_AWAKE" and "running" in a["reason"]]
    assert busy, f"no idle check saw {adaptive_cycle.EXTRACT} running: {cycle.idle_answers()}"


def test_it_hibernates_after_the_last_run_and_plans_the_next_day(cycle: adaptive_cycle.AdaptiveCycle) -> None:
    assert cycle.idle_hibernation is not None and cycle.idle_hibernation["status"] == "SUCCEEDED"
    assert cycle.idle_hibernation["startDate"] >= when(cycle.runs[adaptive_cycle.REPORT]["end_date"])
    slept = [d for d in cycle.decisions if d["source"] == "idle check" and d["kind"] == "HIBERNATE"]
    assert slept and "beyond the break-even" in slept[-1]["reason"]
    assert cycle.history["environment_at_the_end"] is None
    tomorrow = cycle.decisions[-1]
    assert tomorrow["source"] == "plan" and tomorrow["kind"] == "WAKE_AT"
    assert (when(tomorrow["due_at"]) - cycle.dags.first_run).days == 1  # the same cron, a day later
    assert adaptive_cycle.ON_UPLOAD in tomorrow["details"]["unpredictable"]
