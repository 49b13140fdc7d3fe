"""Put each DAG's paused state back after a hibernation that failed before the environment was deleted.

The export DAG records every DAG's paused state in dag_paused_state.json before it pauses anything, so a
missing file means nothing was paused. Only DAGs that were unpaused before are touched (docs/design.md,
invariant 2: never leave DAGs paused by accident), in the environment's REST dialect, in bulk where that
cannot touch another DAG (`bulk_pause`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mwaa_hibernate_snapshot import open_store, read_paused_state
from mwaa_hibernate_snapshot.paused_state import to_unpause

from mwaa_hibernate import layout
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.aws import client
from mwaa_hibernate.bulk_pause import unpause_exactly
from mwaa_hibernate.environment.status import ABSENT, AVAILABLE, describe_environment
from mwaa_hibernate.exceptions import PausedStateRestoreFailed

logger = logging.getLogger(__name__)


def restore_paused_states(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    s3: Any = None,
    mwaa: Any = None,
    time_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Unpause every DAG that was unpaused before the export; report what was done, and raise
    PausedStateRestoreFailed naming every DAG still paused that should not be (`time_left`: seconds the
    function has left; it stops with a report in time rather than being killed midway)."""
    store = open_store(layout.snapshot_uri(bucket, environment, snapshot_id), s3_client=client("s3", s3))
    before = read_paused_state(store)
    if before is None:
        return {
            "restored": 0,
            "unpaused": [],
            "kept_paused": 0,
            "note": "The export had not recorded any paused state, so it had paused nothing.",
        }
    mwaa = client("mwaa", mwaa)
    active = to_unpause(before)
    described = describe_environment(environment, mwaa=mwaa)
    status = ABSENT if described is None else described["Status"]
    if status == ABSENT:
        return {
            "restored": 0,
            "unpaused": [],
            "kept_paused": sum(1 for paused in before.values() if paused),
            "note": "The environment no longer exists, so no DAG is left paused in it; the snapshot records each "
            "DAG's paused state and the wake restores it.",
        }
    if status != AVAILABLE:
        raise PausedStateRestoreFailed(
            f"Environment {environment} is {status}, so its DAGs cannot be unpaused now. Once it is AVAILABLE, "
            f"unpause these DAGs in the Airflow UI: {', '.join(active) or '(none)'}."
        )
    api = AirflowApi(environment, str((described or {}).get("AirflowVersion", "")), mwaa=mwaa)
    report = unpause_exactly(api, active, time_left=time_left)
    unpaused, missing, failed = report.unpaused, report.missing, report.failed
    if failed:
        raise PausedStateRestoreFailed(
            f"{len(failed)} DAG(s) of {environment} are still paused and should not be: {', '.join(sorted(failed))}. "
            f"Unpause them in the Airflow UI. First error: {next(iter(failed.values()))}"
        )
    kept = sum(1 for paused in before.values() if paused)
    note = f"Unpaused {len(unpaused)} DAG(s); {kept} were paused before and stay paused."
    if missing:
        note += f" Not found any more (deleted from the DAG folder?): {', '.join(missing)}."
    if report.repaused:
        note += f" Paused again after a bulk call caught them: {', '.join(report.repaused)}."
    logger.info(note, extra={"environment": environment, "snapshot_id": snapshot_id})
    return {"restored": len(unpaused), "unpaused": unpaused, "kept_paused": kept, "note": note}
