"""Record, pause and restore every DAG's paused state, exactly.

The start-stop sample lost one active DAG per cycle because its record was written one way and read
another. Here the record (`paused_state`, `{dag_id: is_paused}` for every DAG) is written before
anything is paused, and the same code reads it back to restore. Only the `dag` table is touched, through
SQLAlchemy Core on an engine the caller provides (Airflow 2's metadata engine today; another
transport later), so this module needs no Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mwaa_hibernate_engine.dagconf import HIBERNATION_DAG_IDS
from mwaa_hibernate_engine.manifest import PAUSED_STATE_NAME
from mwaa_hibernate_engine.paused_state import read_paused_state, write_paused_state

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from mwaa_hibernate_engine.store import SnapshotStore

log = logging.getLogger(__name__)

# Rows per UPDATE ... IN (...): well under SQLite's bound-parameter limit, few round trips on PostgreSQL.
UPDATE_BATCH = 500

_DAG = sa.table("dag", sa.column("dag_id", sa.String), sa.column("is_paused", sa.Boolean))


@dataclass(frozen=True)
class PauseChanges:
    """What applying a record did: DAGs set to paused / unpaused, and recorded DAGs with no `dag` row."""

    paused: list[str] = field(default_factory=list)
    unpaused: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def read_paused_states(*, engine: Engine) -> dict[str, bool]:
    """Every DAG's paused state, straight from the `dag` table."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_DAG.c.dag_id, _DAG.c.is_paused).order_by(_DAG.c.dag_id)).all()
    return {dag_id: bool(paused) for dag_id, paused in rows}


def record_paused_states(*, engine: Engine, store: SnapshotStore) -> dict[str, bool]:
    """Write every DAG's paused state into the snapshot folder, unless a record is already there.

    An existing record wins: it was written before this snapshot's cycle paused anything, whereas the
    database may by now hold the paused states of an earlier attempt of the same cycle.
    """
    existing = read_paused_state(store)
    if existing is not None:
        log.info("keeping the paused-state record already in %s (%d DAGs)", store.uri, len(existing))
        return existing
    states = read_paused_states(engine=engine)
    write_paused_state(store, states)
    active = sum(not paused for paused in states.values())
    log.info(
        "recorded the paused state of %d DAGs (%d active) in %s%s", len(states), active, store.uri, PAUSED_STATE_NAME
    )
    return states


def pause_all_dags(*, engine: Engine, keep: Iterable[str] = HIBERNATION_DAG_IDS) -> list[str]:
    """Pause every active DAG except `keep` (the hibernation DAGs); return the ids paused now."""
    keep = list(keep)
    with engine.begin() as conn:
        active = conn.execute(
            sa.select(_DAG.c.dag_id).where(_DAG.c.is_paused == sa.false(), _DAG.c.dag_id.notin_(keep))
        ).scalars()
        to_pause = sorted(active)
        for batch in _batches(to_pause):
            conn.execute(_DAG.update().where(_DAG.c.dag_id.in_(batch)).values(is_paused=True))
    log.info("paused %d DAGs: %s", len(to_pause), ", ".join(to_pause) or "(none were active)")
    return to_pause


def apply_paused_states(
    *, engine: Engine, record: Mapping[str, bool], skip: Iterable[str] = HIBERNATION_DAG_IDS
) -> PauseChanges:
    """Set each recorded DAG's paused state exactly as recorded, in one transaction.

    DAGs in `skip` are left alone: pausing the hibernation DAG that is running would stop its own run.
    DAGs without a record (new since the record was taken) keep their current state.
    """
    skip = set(skip)
    wanted = {d: bool(p) for d, p in record.items() if d not in skip}
    with engine.begin() as conn:
        current = dict(conn.execute(sa.select(_DAG.c.dag_id, _DAG.c.is_paused)).all())
        changes = PauseChanges(
            paused=sorted(d for d, p in wanted.items() if p and d in current and not current[d]),
            unpaused=sorted(d for d, p in wanted.items() if not p and d in current and current[d]),
            missing=sorted(d for d in wanted if d not in current),
        )
        for ids, paused in ((changes.paused, True), (changes.unpaused, False)):
            for batch in _batches(ids):
                conn.execute(_DAG.update().where(_DAG.c.dag_id.in_(batch)).values(is_paused=paused))
    if changes.missing:
        log.warning(
            "%d recorded DAGs have no row in this database and keep no paused state: %s",
            len(changes.missing),
            ", ".join(changes.missing),
        )
    log.info("paused-state record applied: %d paused, %d unpaused", len(changes.paused), len(changes.unpaused))
    return changes


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), UPDATE_BATCH):
        yield items[start : start + UPDATE_BATCH]
