"""Wake checks the restore from outside the environment before recording it AWAKE (issue 11).

The import DAG's callback is the environment's own word. This check asks the environment's Airflow REST API
(InvokeRestApi, with the Viewer role: it reads no secret) and compares with the snapshot's manifest and
paused-state record, which verification checked outside the environment:

- run history: `total_entries` of GET /dags/~/dagRuns and GET /dags/~/dagRuns/~/taskInstances are at least the
  manifest's rows of `dag_run` and `task_instance` (at least, not equal: the new environment adds its own, such
  as the import's run);
- schedules: every DAG of the record that the environment has is paused exactly as recorded (GET /dags), unless
  the import reports the snapshot was already restored earlier (people may have changed them since).

Variables, connections and pools are not counted: reading them needs the Op role and returns their values.
"""

from __future__ import annotations

import logging
from typing import Any

from mwaa_hibernate_snapshot import load_manifest, open_store, read_paused_state
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

from mwaa_hibernate import layout
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.aws import client
from mwaa_hibernate.exceptions import RestoreNotConfirmed

logger = logging.getLogger(__name__)

# manifest table -> the REST path whose total_entries counts its rows (every DAG: `~`).
COUNTED = {"dag_run": "/dags/~/dagRuns", "task_instance": "/dags/~/dagRuns/~/taskInstances"}


def check_restore(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    already_restored: bool = False,
    s3: Any = None,
    mwaa: Any = None,
) -> dict[str, Any]:
    """Return {"counts": {table: [manifest rows, environment's]}, "paused_checked": n}; raise RestoreNotConfirmed."""
    store = open_store(layout.snapshot_uri(bucket, environment, snapshot_id), s3_client=client("s3", s3))
    manifest = load_manifest(store)
    api = AirflowApi.for_environment(environment, mwaa=mwaa)
    problems = []
    counts: dict[str, list[int]] = {}
    for table, path in COUNTED.items():
        entry = manifest.file_for(table)
        expected = (entry.rows or 0) if entry else 0
        answer = api.call("GET", path, query={"limit": 1})
        found = int((answer or {}).get("total_entries") or 0)
        counts[table] = [expected, found]
        if found < expected:
            problems.append(f"{table}: the snapshot has {expected} rows, the environment {found}")
    checked = 0
    if not already_restored:
        record = read_paused_state(store) or {}
        current = {dag.dag_id: dag.is_paused for dag in api.dags()}
        wrong = sorted(
            dag_id
            for dag_id, paused in record.items()
            if dag_id in current and dag_id not in HIBERNATION_DAG_IDS and current[dag_id] != bool(paused)
        )
        checked = sum(1 for dag_id in record if dag_id in current)
        if wrong:
            problems.append(f"DAGs not paused as recorded: {', '.join(wrong)}")
    if problems:
        raise RestoreNotConfirmed(
            f"The import DAG of {environment} reported success, but the environment does not show snapshot "
            f"{snapshot_id} restored: {'; '.join(problems)}. It is not recorded as awake (state.json still says "
            "HIBERNATED), so the next wake restores into it again. Read the latest mwaa_hibernate_import run's log."
        )
    logger.info("Restore confirmed from outside", extra={"counts": counts, "paused_checked": checked})
    return {"counts": counts, "paused_checked": checked}
