"""Failures injected at each step of the cycle, and the invariant each one must keep.

One seeded environment lives through the whole module, in file order, as a real one would: three
failed hibernations (export, verify, delete), a good one, a wake whose environment fails to create, a
wake whose import is refused, and finally a wake that completes once the snapshot is repaired. Each
failure is made where AWS would make it: MWAA through the stand-in's faults, S3 through the
sandbox's fault layer. The invariants are checked on the live system afterwards (cycle.check_invariants).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from mwaa_hibernate import layout
from mwaa_hibernate_sandbox import cycle, seed
from mwaa_hibernate_sandbox.compare import DatabaseImage, compare_databases
from mwaa_hibernate_sandbox.executions import ExecutionResult
from mwaa_hibernate_sandbox.s3_faults import corrupt_object, pick_target
from mwaa_hibernate_sandbox.sandbox import Sandbox

pytestmark = pytest.mark.e2e

# The state whose failure each injected fault must cause (names from statemachine/*.asl.json).
FAILING_STATE = {
    "export": "Run the export DAG and wait for its callback",
    "verify": "Verify the snapshot",
    "delete": "Delete the environment",
    "create": "Wait until the environment is available",
    "import": "Run the import DAG and wait for its callback",
}
COMPENSATION_STATE = "Restore the DAGs' paused states"


def _fail(sandbox: Sandbox, step: str) -> tuple[ExecutionResult, list[cycle.Invariant]]:
    context = cycle.before_failure(sandbox, environment_exists=step in cycle.HIBERNATE_FAILURES)
    cycle.inject_failure(sandbox, step)
    try:
        run = cycle.run_hibernate if step in cycle.HIBERNATE_FAILURES else cycle.run_wake
        execution = run(sandbox)
    finally:
        cycle.clear_injected_failures(sandbox)
    return execution, cycle.check_invariants(sandbox, step, execution, context)


def _assert_held(execution: ExecutionResult, invariants: list[cycle.Invariant], step: str) -> None:
    broken = [f"{item.name} ({item.detail})" for item in invariants if not item.held]
    assert not broken, f"after a failure at {step}: {broken}; path {execution.path}"
    failed = [s.name for s in execution.steps if s.failed]
    assert FAILING_STATE[step] in failed, f"expected {FAILING_STATE[step]!r} to fail; failed: {failed}"


@pytest.mark.parametrize("step", cycle.HIBERNATE_FAILURES)
def test_a_failed_hibernation_keeps_the_environment_and_its_paused_states(
    sandbox: Sandbox, seeded: seed.SeedReport, step: str
) -> None:
    execution, invariants = _fail(sandbox, step)
    _assert_held(execution, invariants, step)
    assert COMPENSATION_STATE in execution.path, "the paused states were not restored by the state machine"
    assert cycle.user_paused_states(sandbox) == seed.FINAL_PAUSED


@dataclass(frozen=True)
class Baseline:
    image: DatabaseImage
    taken_at: dt.datetime


@pytest.fixture(scope="module")
def before_good_hibernation(sandbox: Sandbox, seeded: seed.SeedReport) -> Baseline:
    """The database right before the one hibernation that succeeds: what the final wake must reproduce.

    Every row written after it (the failed wake's environment, the import runs) belongs to the cycle.
    """
    return Baseline(image=cycle.capture(sandbox), taken_at=cycle.now())


def test_a_good_hibernation_after_the_failed_ones(sandbox: Sandbox, before_good_hibernation: Baseline) -> None:
    execution = cycle.run_hibernate(sandbox)
    assert execution.succeeded, f"{execution.error}: {execution.cause}; {execution.path}"
    assert sandbox.environment_status() is None


def test_an_environment_that_fails_to_create_leaves_the_snapshot_as_it_was(sandbox: Sandbox) -> None:
    execution, invariants = _fail(sandbox, "create")
    _assert_held(execution, invariants, "create")
    assert sandbox.environment_status() == "CREATE_FAILED"
    cycle.delete_failed_environment(sandbox)


def test_a_corrupted_snapshot_is_refused_before_anything_is_created(sandbox: Sandbox) -> None:
    s3 = sandbox.client("s3")
    snapshot_id = cycle.latest_snapshot_id(sandbox)
    assert snapshot_id is not None
    target = pick_target(
        s3, sandbox.stack.bucket, layout.snapshot_prefix(sandbox.environment_name, snapshot_id) + "tables/*"
    )
    assert target is not None
    alerts_before = len(sandbox.alerts())
    corrupt_object(s3, sandbox.stack.bucket, target)
    try:
        execution = cycle.run_wake(sandbox)
    finally:
        corrupt_object(s3, sandbox.stack.bucket, target)  # flipping the same byte back repairs the object
    assert execution.status == "FAILED"
    assert execution.path[-2:] == ["Alert that waking was refused", "Wake failed"], execution.path
    assert sandbox.environment_status() is None, "an environment was created from a corrupted snapshot"
    assert len(sandbox.alerts()) > alerts_before


def test_a_refused_import_keeps_the_environment_with_every_dag_paused(sandbox: Sandbox) -> None:
    execution, invariants = _fail(sandbox, "import")
    _assert_held(execution, invariants, "import")


def test_waking_again_after_repair_restores_everything(sandbox: Sandbox, before_good_hibernation: Baseline) -> None:
    execution = cycle.run_wake(sandbox)  # the refused reads were a fault of the moment: it is cleared
    assert execution.succeeded, f"{execution.error}: {execution.cause}; {execution.path}"
    assert "Create the environment" not in execution.path, "the kept environment should be restored, not recreated"
    baseline = before_good_hibernation
    comparison = compare_databases(baseline.image, cycle.capture(sandbox), cycle_started=baseline.taken_at)
    assert comparison.identical, "\n".join(comparison.differences())
    assert cycle.user_paused_states(sandbox) == seed.FINAL_PAUSED
