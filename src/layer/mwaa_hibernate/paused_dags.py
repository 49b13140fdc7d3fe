"""Put each DAG's paused state back after a hibernation that failed before the environment was deleted.

The export DAG records every DAG's paused state in dag_paused_state.json before it pauses anything, so a
missing file means nothing was paused. Only DAGs that were unpaused before are touched (docs/design.md,
invariant 2: never leave DAGs paused by accident).
"""

from __future__ import annotations

import logging
from typing import Any

from mwaa_hibernate_snapshot import open_store, read_paused_state
from mwaa_hibernate_snapshot.paused_state import to_unpause

from mwaa_hibernate import layout, restapi
from mwaa_hibernate.aws import client
from mwaa_hibernate.environment.status import ABSENT, AVAILABLE, environment_status
from mwaa_hibernate.exceptions import DagNotFound, MwaaHibernateError, PausedStateRestoreFailed

logger = logging.getLogger(__name__)


def restore_paused_states(
    *, environment: str, snapshot_id: str, bucket: str, s3: Any = None, mwaa: Any = None
) -> dict[str, Any]:
    """Unpause every DAG that was unpaused before the export; report what was done."""
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
    status = environment_status(environment, mwaa=mwaa)
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
    unpaused, missing, failed = [], [], {}
    for dag_id in active:
        try:
            restapi.invoke(
                environment=environment,
                method="PATCH",
                path=f"/dags/{dag_id}",
                body={"is_paused": False},
                dag_id=dag_id,
                mwaa=mwaa,
            )
        except DagNotFound:
            missing.append(dag_id)
        except MwaaHibernateError as exc:
            failed[dag_id] = str(exc)
        else:
            unpaused.append(dag_id)
    if failed:
        raise PausedStateRestoreFailed(
            f"{len(failed)} DAG(s) of {environment} are still paused and should not be: {', '.join(sorted(failed))}. "
            f"Unpause them in the Airflow UI. First error: {next(iter(failed.values()))}"
        )
    kept = sum(1 for paused in before.values() if paused)
    note = f"Unpaused {len(unpaused)} DAG(s); {kept} were paused before and stay paused."
    if missing:
        note += f" Not found any more (deleted from the DAG folder?): {', '.join(missing)}."
    logger.info(note, extra={"environment": environment, "snapshot_id": snapshot_id})
    return {"restored": len(unpaused), "unpaused": unpaused, "kept_paused": kept, "note": note}
