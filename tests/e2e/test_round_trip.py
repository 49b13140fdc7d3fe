"""A full hibernate and wake cycle on real Airflow: the restored database is the one before, table by table.

The module runs one cycle (fixture `cycle_record`); each test checks one thing a user relies on.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from dataclasses import dataclass
from typing import Any

import pytest
from mwaa_hibernate import layout
from mwaa_hibernate_sandbox import cycle, leaks, seed
from mwaa_hibernate_sandbox.airflow_instance import API_USER, wait_until
from mwaa_hibernate_sandbox.api_view import ApiView, compare_views
from mwaa_hibernate_sandbox.compare import Comparison, DatabaseImage, compare_databases
from mwaa_hibernate_sandbox.executions import ExecutionResult
from mwaa_hibernate_sandbox.moto_patches import ROUTER
from mwaa_hibernate_sandbox.mwaa_standin import environment_details
from mwaa_hibernate_sandbox.sandbox import Sandbox
from mwaa_hibernate_snapshot.carrier import IN_PROCESS
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

pytestmark = pytest.mark.e2e

# The states a successful hibernation passes through, in order (names from statemachine/hibernate.asl.json).
HIBERNATE_PATH = (
    "Check the environment can hibernate",
    "Save the environment configuration",
    "Run the export DAG and wait for its callback",
    "Verify the snapshot",
    "Mark the snapshot as the latest",
    "Delete the environment",
    "Wait until the environment is gone",
    "Record the environment as hibernated",
)
WAKE_PATH = (
    "Check the environment can wake",
    "Create the environment",
    "Wait until the environment is available",
    "Run the import DAG and wait for its callback",
    "Record the environment as awake",
)
# Secrets the seed put in; none may appear in the snapshot in plain text (docs/design.md, invariant 6).
SECRETS = (
    next(v["value"] for v in seed.VARIABLES if v["key"] == "db_password"),
    *(c["password"] for c in seed.CONNECTIONS),
)


@dataclass
class CycleRecord:
    before: DatabaseImage
    started: dt.datetime
    hibernate: ExecutionResult
    status_after_hibernate: str | None
    phase_after_hibernate: str | None
    snapshot: cycle.SnapshotListing
    snapshot_bodies: dict[str, bytes]
    wake: ExecutionResult
    comparison: Comparison
    api_before: ApiView
    api_after: ApiView
    # (Fernet key, JWT secret, web login secret) of the environment before the hibernation and after the wake.
    keys_before: tuple[str, str, str]
    keys_after: tuple[str, str, str]


def _keys(sandbox: Sandbox) -> tuple[str, str, str]:
    instance = sandbox.airflow()
    environment = sandbox.standin.service._get(sandbox.environment_name)  # what MWAA never shows
    return instance.fernet_key, instance.jwt_secret, environment.login_secret


@pytest.fixture(scope="module")
def cycle_record(sandbox: Sandbox, seeded: seed.SeedReport) -> CycleRecord:
    before = cycle.capture(sandbox)
    api_before = cycle.api_view(sandbox)
    keys_before = _keys(sandbox)
    started = cycle.now()
    hibernate = cycle.run_hibernate(sandbox)
    assert hibernate.succeeded, f"hibernation {hibernate.status}: {hibernate.error} {hibernate.cause}; {hibernate.path}"
    status, phase = sandbox.environment_status(), cycle.recorded_phase(sandbox)
    snapshot_id = cycle.latest_snapshot_id(sandbox)
    assert snapshot_id, "no latest.json after a successful hibernation"
    listing = cycle.snapshot_listing(sandbox, snapshot_id)
    s3 = sandbox.client("s3")
    prefix = layout.snapshot_prefix(sandbox.environment_name, snapshot_id)
    bodies = {
        item.key: s3.get_object(Bucket=sandbox.stack.bucket, Key=prefix + item.key)["Body"].read()
        for item in listing.objects
    }
    wake = cycle.run_wake(sandbox)
    assert wake.succeeded, f"wake {wake.status}: {wake.error} {wake.cause}; {wake.path}"
    comparison = compare_databases(before, cycle.capture(sandbox), cycle_started=started)
    api_after = cycle.api_view(sandbox)
    return CycleRecord(
        before,
        started,
        hibernate,
        status,
        phase,
        listing,
        bodies,
        wake,
        comparison,
        api_before,
        api_after,
        keys_before,
        _keys(sandbox),
    )


def _in_order(path: list[str], expected: tuple[str, ...]) -> bool:
    remaining = iter(path)
    return all(state in remaining for state in expected)


def test_hibernation_passes_every_step_and_deletes_the_environment(cycle_record: CycleRecord) -> None:
    assert _in_order(cycle_record.hibernate.path, HIBERNATE_PATH), cycle_record.hibernate.path
    assert not [step.name for step in cycle_record.hibernate.steps if step.failed]
    assert cycle_record.status_after_hibernate is None, "the environment still exists after hibernation"
    assert cycle_record.phase_after_hibernate == "HIBERNATED"


def test_the_snapshot_is_complete_and_matches_its_manifest(cycle_record: CycleRecord) -> None:
    manifest = cycle_record.snapshot.manifest
    assert manifest is not None
    sizes = {item.key: item.size for item in cycle_record.snapshot.objects}
    for entry in manifest.files:
        assert sizes.get(entry.path) == entry.bytes, entry.path
    assert {layout.ENVIRONMENT_FILE, layout.DAG_PAUSED_STATE_FILE, layout.MANIFEST_FILE} <= set(sizes)
    rows = cycle_record.snapshot.rows_by_table()
    for table in ("dag_run", "task_instance", "xcom", "variable", "connection", "slot_pool"):
        assert rows.get(table, 0) > 0, f"{table} is empty in the snapshot"


def test_no_secret_is_in_the_snapshot_in_plain_text(cycle_record: CycleRecord) -> None:
    for key, body in cycle_record.snapshot_bodies.items():
        text = gzip.decompress(body) if key.endswith(".gz") else body
        for secret in SECRETS:
            assert secret.encode() not in text, f"a seeded secret is readable in {key}"


def test_wake_recreates_the_environment_and_restores_it(cycle_record: CycleRecord, sandbox: Sandbox) -> None:
    assert _in_order(cycle_record.wake.path, WAKE_PATH), cycle_record.wake.path
    assert sandbox.environment_status() == "AVAILABLE"
    assert cycle.recorded_phase(sandbox) == "AWAKE"


def test_every_restored_table_is_identical(cycle_record: CycleRecord) -> None:
    comparison = cycle_record.comparison
    assert comparison.identical, "\n".join(comparison.differences())
    compared = {table.table: table for table in comparison.tables}
    # The comparison saw the seeded history, not empty tables that are trivially equal.
    users_runs = [r for r in cycle_record.before.tables["dag_run"].rows if r["dag_id"] not in HIBERNATION_DAG_IDS]
    assert len(users_runs) == len(seed.RUNS)  # install-dags ran the probe DAG on Airflow 3: that run is there too
    assert compared["variable"].before == len(seed.VARIABLES)
    assert compared["connection"].before == len(seed.CONNECTIONS)
    assert compared["task_instance"].before > 0 and compared["xcom"].before > 0
    assert compared["task_instance_history"].before > 0, "the retried try is part of the history"
    assert compared["dag_run_note"].before == sum(1 for run in seed.RUNS if run.note)


def test_the_rest_api_answers_as_before(cycle_record: CycleRecord) -> None:
    """What users see, not only the rows: every GET endpoint, for every DAG, run, task instance, try, XCom..."""
    before, after = cycle_record.api_before, cycle_record.api_after
    # The API user is the one the stand-in (like MWAA at sign-in) creates in each new environment.
    differences = compare_views(before, after, cycle_started=cycle_record.started, own_users=[API_USER])
    assert not differences, "\n".join(map(str, differences))
    # Not vacuous: the walk reached the leaves of the seeded history.
    reached = set(before.templates.values())
    for template in (
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries/{task_try_number}",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
        "/variables/{variable_key}",
        "/connections/{connection_id}",
        "/eventLogs/{event_log_id}",
    ):
        assert template in reached, template
    assert len(before.responses) > 200


def test_paused_states_are_exactly_as_before(cycle_record: CycleRecord, sandbox: Sandbox) -> None:
    assert dict(cycle_record.comparison.paused_after) == dict(cycle_record.comparison.paused_before)
    assert cycle.user_paused_states(sandbox) == seed.FINAL_PAUSED


def test_the_comparison_sees_a_changed_secret_and_a_changed_paused_state(
    cycle_record: CycleRecord, sandbox: Sandbox
) -> None:
    """The comparison is not vacuous: change one secret and one paused state, and it names exactly those."""
    api = cycle.airflow_api(sandbox)
    api.call("PATCH", "/variables/db_password", {"key": "db_password", "value": "rotated-after-the-wake"})
    api.set_paused("demo_flaky_api", True)  # unscheduled: pausing changes nothing else
    comparison = compare_databases(cycle_record.before, cycle.capture(sandbox), cycle_started=cycle_record.started)
    differing = {table.table for table in comparison.tables if not table.identical}
    assert differing == {"variable", "dag"}
    assert comparison.paused_after["demo_flaky_api"] is True
    assert not comparison.identical
    assert not any(secret in "\n".join(comparison.differences()) for secret in SECRETS)
    original = next(v for v in seed.VARIABLES if v["key"] == "db_password")
    api.call("PATCH", "/variables/db_password", original)
    api.set_paused("demo_flaky_api", False)


def test_the_restored_environment_runs_dags_on_top_of_its_history(cycle_record: CycleRecord, sandbox: Sandbox) -> None:
    api = cycle.airflow_api(sandbox)
    api.trigger("demo_sales_etl", "after_wake_1")

    def finished() -> Any:
        state = api.call("GET", "/dags/demo_sales_etl/dagRuns/after_wake_1")["state"]
        return state if state in ("success", "failed") else None

    assert wait_until(finished, timeout=seed.RUN_TIMEOUT_SECONDS, what="a DAG run after the wake") == "success"
    runs = api.call("GET", "/dags/demo_sales_etl/dagRuns")["dag_runs"]
    assert {run["dag_run_id"] for run in runs} == {"seed_sales_1", "seed_sales_2", "after_wake_1"}
    # New work is the new environment's own: the restored history is still exactly the one from before.
    comparison = compare_databases(cycle_record.before, cycle.capture(sandbox), cycle_started=cycle_record.started)
    assert comparison.identical, "\n".join(comparison.differences())


def test_both_flows_chose_the_carrier_this_run_proves(
    cycle_record: CycleRecord, sandbox: Sandbox, carrier: str
) -> None:
    record = cycle.read_json(sandbox, layout.carrier_key(sandbox.environment_name))
    assert record["carrier"] == carrier and record["purpose"] == "wake"
    assert record["airflow_version"] == sandbox.airflow_version
    for execution in (cycle_record.hibernate, cycle_record.wake):
        assert "Choose how to reach the metadata database" in execution.path
    if carrier != IN_PROCESS:  # Airflow 3: the probe DAG ran in each environment, and its answer is recorded
        assert record["probes"]["task"]["usable"] is (carrier == "task")


def test_the_recreated_environment_has_its_own_fernet_key_and_jwt_secret(cycle_record: CycleRecord) -> None:
    fernet_before, jwt_before, login_before = cycle_record.keys_before
    fernet_after, jwt_after, login_after = cycle_record.keys_after
    assert fernet_before != fernet_after and jwt_before != jwt_after and login_before != login_after
    # ...and yet every secret restored reads the same (the comparison decrypts each side with its own key).
    assert cycle_record.comparison.identical


def test_no_token_credential_or_key_reaches_a_log_xcom_s3_or_execution_history(
    cycle_record: CycleRecord, sandbox: Sandbox
) -> None:
    """Invariant 6, beyond the snapshot: the task tokens, the database passwords, both environments' Fernet keys
    and JWT secrets are in no log (Airflow's, both environments', every Lambda's), no XCom, no S3 object; the
    passwords and keys not in any execution history either (the tokens are there: Step Functions keeps them)."""
    sfn = sandbox.client("stepfunctions")
    histories = leaks.execution_histories(sfn, list(sandbox.stack.state_machines.values()))
    tokens = leaks.task_tokens(histories)
    assert len(tokens) >= 2, "expected the export's and the import's task tokens"
    keys = {
        "the source environment's Fernet key": cycle_record.keys_before[0],
        "the source environment's JWT secret": cycle_record.keys_before[1],
        "the recreated environment's Fernet key": cycle_record.keys_after[0],
        "the recreated environment's JWT secret": cycle_record.keys_after[1],
        **leaks.database_passwords(),
    }
    details = environment_details(sandbox.mwaa_url, sandbox.environment_name)
    places = [
        *leaks.log_files(sandbox.state_dir),
        *((f"the log of Lambda function {name}", text.encode()) for name, text in ROUTER.logs),
        *leaks.s3_objects(sandbox.client("s3")),
        *leaks.xcoms(details["DatabaseUrl"]),
    ]
    assert len(places) > 50, "the search found too little to search"
    found = leaks.search(iter(places), {**tokens, **keys})
    found += leaks.search(
        ((f"execution history {a}", json.dumps(e, default=str).encode()) for a, e in histories.items()), keys
    )
    assert not found, "\n".join(map(str, found))
