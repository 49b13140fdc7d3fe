"""The one interface between the hibernation steps and the metadata database they work on.

The steps (record, pause, drain, trim, export, restore, apply paused states) are written once, in
`steps`-style modules (`pausing`, `draining`) and in `tasks`, against `Backend`. Where the database
is reached is a carrier's business: on Airflow 2 a task reaches it in-process (`airflow.settings.engine`);
on Airflow 3, where task code has no ORM access, a carrier builds its own engine or runs the same
steps where database access is allowed. `SqlBackend` is the implementation every carrier uses once
it holds a SQLAlchemy engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from mwaa_hibernate_snapshot.paused_state import batches
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

if TYPE_CHECKING:
    from mwaa_hibernate_engine import RestoreResult
    from mwaa_hibernate_snapshot import Cipher, Manifest, SnapshotStore
    from sqlalchemy.engine import Engine

    from mwaa_hibernate_runtime.trimming import TrimReport

# Task instance states that hold (or are about to hold) a worker slot. `scheduled`, `up_for_retry`,
# `up_for_reschedule` and `deferred` are waiting, not working: a paused DAG does not move them on, and
# they resume after the wake exactly where they stopped.
DRAIN_STATES = ("running", "queued", "restarting")

_DAG = sa.table("dag", sa.column("dag_id", sa.String), sa.column("is_paused", sa.Boolean))
_TI = sa.table(
    "task_instance",
    sa.column("dag_id", sa.String),
    sa.column("task_id", sa.String),
    sa.column("run_id", sa.String),
    sa.column("map_index", sa.Integer),
    sa.column("state", sa.String),
)


@dataclass(frozen=True)
class BusyTask:
    """One task instance still holding a worker slot."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    state: str

    def __str__(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped} ({self.state}, run {self.run_id})"


class Backend(Protocol):
    """What the hibernation steps need from the metadata database, in coarse operations."""

    def dag_paused_states(self) -> dict[str, bool]:
        """Every DAG's `is_paused`."""
        ...

    def set_paused(self, dag_ids: Sequence[str], paused: bool) -> None:
        """Set `is_paused` of these DAGs, in one transaction."""
        ...

    def busy_task_instances(self, exclude_dag_ids: Iterable[str] = HIBERNATION_DAG_IDS) -> list[BusyTask]:
        """Task instances of other DAGs that are running, queued or restarting."""
        ...

    def trim_history(self, retention_days: int, now: dt.datetime | None = None) -> TrimReport:
        """Delete history older than `retention_days` (0 keeps everything) with Airflow's own cleanup."""
        ...

    def export(self, *, store: SnapshotStore, cipher: Cipher, snapshot_id: str | None) -> Manifest:
        """Export the database into `store` (the hibernation DAGs' unfinished runs left out)."""
        ...

    def restore(
        self, *, store: SnapshotStore, cipher: Cipher, lock_budget_seconds: float | None = None
    ) -> RestoreResult:
        """Restore `store` into the database in one transaction."""
        ...

    def restored(self, snapshot_id: str) -> bool:
        """Whether a restore of `snapshot_id` already committed here."""
        ...


class SqlBackend:
    """The steps' database operations on a SQLAlchemy engine, and the engine's export and restore.

    `fernet_key` is the environment's `[core] fernet_key` (None if it has none): secrets are decrypted
    with it on export and encrypted with it on restore.
    """

    def __init__(self, engine: Engine, fernet_key: str | None) -> None:
        self.engine = engine
        self.fernet_key = fernet_key

    def dag_paused_states(self) -> dict[str, bool]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_DAG.c.dag_id, _DAG.c.is_paused).order_by(_DAG.c.dag_id)).all()
        return {dag_id: bool(paused) for dag_id, paused in rows}

    def set_paused(self, dag_ids: Sequence[str], paused: bool) -> None:
        with self.engine.begin() as conn:
            for batch in batches(list(dag_ids)):
                conn.execute(_DAG.update().where(_DAG.c.dag_id.in_(batch)).values(is_paused=paused))

    def busy_task_instances(self, exclude_dag_ids: Iterable[str] = HIBERNATION_DAG_IDS) -> list[BusyTask]:
        query = (
            sa.select(_TI.c.dag_id, _TI.c.task_id, _TI.c.run_id, _TI.c.map_index, _TI.c.state)
            .where(_TI.c.state.in_(DRAIN_STATES), _TI.c.dag_id.notin_(list(exclude_dag_ids)))
            .order_by(_TI.c.dag_id, _TI.c.run_id, _TI.c.task_id, _TI.c.map_index)
        )
        with self.engine.connect() as conn:
            return [BusyTask(*row) for row in conn.execute(query).all()]

    def trim_history(self, retention_days: int, now: dt.datetime | None = None) -> TrimReport:
        from sqlalchemy.orm import Session

        from mwaa_hibernate_runtime import trimming

        with Session(bind=self.engine) as session:  # Airflow's cleanup commits as it goes
            report = trimming.trim_history(session=session, retention_days=retention_days, now=now)
            session.commit()
            return report

    def export(self, *, store: SnapshotStore, cipher: Cipher, snapshot_id: str | None) -> Manifest:
        from mwaa_hibernate_engine import export_snapshot

        return export_snapshot(
            engine=self.engine,
            store=store,
            cipher=cipher,
            source_fernet=self.fernet_key,
            exclude_dag_ids=HIBERNATION_DAG_IDS,
            snapshot_id=snapshot_id,
        )

    def restore(
        self, *, store: SnapshotStore, cipher: Cipher, lock_budget_seconds: float | None = None
    ) -> RestoreResult:
        from mwaa_hibernate_engine import restore_snapshot

        return restore_snapshot(
            engine=self.engine,
            store=store,
            cipher=cipher,
            target_fernet=self.fernet_key,
            lock_budget_seconds=lock_budget_seconds,
        )

    def restored(self, snapshot_id: str) -> bool:
        from mwaa_hibernate_engine import snapshot_restored

        return snapshot_restored(engine=self.engine, snapshot_id=snapshot_id)
