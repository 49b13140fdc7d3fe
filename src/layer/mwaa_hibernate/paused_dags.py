"""Put each DAG's paused state back after a hibernation that failed before the environment was deleted.

The export DAG records every DAG's paused state in dag_paused_state.json before it pauses anything, so a
missing file means nothing was paused. Only DAGs that were unpaused before are touched (docs/design.md,
invariant 2: never leave DAGs paused by accident).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from mwaa_hibernate_snapshot import open_store, read_paused_state
from mwaa_hibernate_snapshot.paused_state import to_unpause

from mwaa_hibernate import layout, restapi
from mwaa_hibernate.aws import client
from mwaa_hibernate.environment.status import ABSENT, AVAILABLE, environment_status
from mwaa_hibernate.exceptions import MwaaHibernateError, PausedStateRestoreFailed

logger = logging.getLogger(__name__)

# Airflow's default [api] maximum_page_limit: the most DAGs one GET or PATCH /dags answers with.
PAGE = 100
# Seconds kept back to report the DAGs still paused before the function's time is up.
RESERVE_SECONDS = 20.0


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
    current = list_dags(environment=environment, mwaa=mwaa)
    missing = [d for d in active if d not in current]
    wanted = {d for d in active if d in current}
    todo = sorted(d for d in wanted if current[d])
    unpaused = sorted(wanted - set(todo))  # already running again (the export DAG's own handler, a person)
    failed: dict[str, str] = {}
    while todo:
        if time_left is not None and time_left() < RESERVE_SECONDS:
            failed.update(dict.fromkeys(todo, "the function ran out of time"))
            break
        dag_id = todo.pop(0)
        try:
            done = _unpause(environment, dag_id, current, wanted, mwaa)
        except MwaaHibernateError as exc:
            failed[dag_id] = str(exc)
            continue
        unpaused += sorted(done)
        todo = [d for d in todo if d not in done]
    unpaused.sort()
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


def list_dags(*, environment: str, mwaa: Any) -> dict[str, bool]:
    """Every DAG of the environment and whether it is paused (GET /dags, a page at a time)."""
    dags: dict[str, bool] = {}
    offset = 0
    while True:
        page = (
            restapi.invoke(
                environment=environment,
                method="GET",
                path="/dags",
                query={"limit": str(PAGE), "offset": str(offset), "only_active": "false"},
                mwaa=mwaa,
            )
            or {}
        )
        batch = page.get("dags") or []
        dags.update((d["dag_id"], bool(d["is_paused"])) for d in batch)
        offset += len(batch)
        if not batch or offset >= int(page.get("total_entries") or 0):
            return dags


def pattern_matches(pattern: str, dag_id: str) -> bool:
    """Whether Airflow 2's `dag_id_pattern` selects `dag_id`: dag_id ILIKE '%<pattern>%', where `_` and `%` in
    the pattern are wildcards too (airflow/api_connexion/endpoints/dag_endpoint.py, patch_dags)."""
    regex = "".join("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.search(regex, dag_id, re.IGNORECASE | re.DOTALL) is not None


def _unpause(environment: str, dag_id: str, current: dict[str, bool], wanted: set[str], mwaa: Any) -> set[str]:
    """Unpause `dag_id`; return every DAG the call unpaused. The bulk call (PATCH /dags, the id in the query, so
    no 64-character path limit) is used when its pattern selects only DAGs that should run; otherwise one DAG at a
    time, which InvokeRestApi allows only for paths of 64 characters or less."""
    selected = {d for d in current if pattern_matches(dag_id, d)}
    if selected <= wanted:
        answer = (
            restapi.invoke(
                environment=environment,
                method="PATCH",
                path="/dags",
                query={"dag_id_pattern": dag_id, "update_mask": "is_paused", "limit": str(PAGE)},
                body={"is_paused": False},
                mwaa=mwaa,
            )
            or {}
        )
        changed = {d["dag_id"] for d in answer.get("dags") or [] if not d.get("is_paused")}
        stray = changed - wanted  # a DAG created since the listing that the pattern also matched
        if stray:
            logger.warning("The bulk unpause also matched new DAGs", extra={"dags": sorted(stray)})
        return (changed & wanted) | {dag_id}
    path = f"/dags/{dag_id}"
    if len(path) > restapi.MAX_PATH_LENGTH:
        raise PausedStateRestoreFailed(
            f"DAG {dag_id} cannot be unpaused through InvokeRestApi: its id is too long for a path of "
            f"{restapi.MAX_PATH_LENGTH} characters, and the bulk call's pattern would also unpause "
            f"{', '.join(sorted(selected - wanted))}, which were paused before"
        )
    restapi.invoke(
        environment=environment, method="PATCH", path=path, body={"is_paused": False}, dag_id=dag_id, mwaa=mwaa
    )
    return {dag_id}
