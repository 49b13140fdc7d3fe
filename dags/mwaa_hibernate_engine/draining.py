"""Wait until no other DAG has work running or queued, so the snapshot holds no half-done task.

Once every DAG is paused the scheduler neither starts new runs nor queues their next tasks, but task
instances already handed to the executor carry on. We wait for those, up to the user's limit, then fail
safe: the export stops and every DAG's paused state is restored, rather than snapshotting work that
would be cut off by the environment's deletion.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from mwaa_hibernate_engine.dagconf import HIBERNATION_DAG_IDS
from mwaa_hibernate_engine.task_errors import DrainTimeout

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Task instance states that hold (or are about to hold) a worker slot. `scheduled`, `up_for_retry`,
# `up_for_reschedule` and `deferred` are waiting, not working: a paused DAG does not move them on, and
# they resume after the wake exactly where they stopped.
DRAIN_STATES = ("running", "queued", "restarting")
# How often to look again while draining: task instances finish on the scale of seconds to minutes,
# and each look is one indexed query.
DRAIN_POLL_SECONDS = 5.0
# How many unfinished task instances an error message names (the count is always given).
_NAMED_IN_ERROR = 5

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


@dataclass(frozen=True)
class DrainReport:
    """How the drain went: how long it waited and how many task instances it saw finish."""

    seconds: float
    initially_busy: int


def busy_task_instances(*, engine: Engine, exclude_dag_ids: Iterable[str] = HIBERNATION_DAG_IDS) -> list[BusyTask]:
    """Task instances of other DAGs that are running, queued or restarting."""
    query = (
        sa.select(_TI.c.dag_id, _TI.c.task_id, _TI.c.run_id, _TI.c.map_index, _TI.c.state)
        .where(_TI.c.state.in_(DRAIN_STATES), _TI.c.dag_id.notin_(list(exclude_dag_ids)))
        .order_by(_TI.c.dag_id, _TI.c.run_id, _TI.c.task_id, _TI.c.map_index)
    )
    with engine.connect() as conn:
        return [BusyTask(*row) for row in conn.execute(query).all()]


def wait_for_drain(
    *,
    engine: Engine,
    timeout_seconds: float,
    poll_seconds: float = DRAIN_POLL_SECONDS,
    exclude_dag_ids: Iterable[str] = HIBERNATION_DAG_IDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Return once no other DAG's task instance is busy; raise DrainTimeout after `timeout_seconds`.

    A timeout of 0 does not wait: it only checks that nothing is busy.
    """
    exclude = list(exclude_dag_ids)
    started = clock()
    busy = busy_task_instances(engine=engine, exclude_dag_ids=exclude)
    initially = len(busy)
    while busy:
        waited = clock() - started
        if waited >= timeout_seconds:
            named = ", ".join(str(b) for b in busy[:_NAMED_IN_ERROR])
            more = f" and {len(busy) - _NAMED_IN_ERROR} more" if len(busy) > _NAMED_IN_ERROR else ""
            raise DrainTimeout(
                f"{len(busy)} task instance(s) of other DAGs were still running or queued after "
                f"{timeout_seconds / 60:.1f} minutes of draining: {named}{more}. Hibernate when they are done, "
                "or raise the drain timeout"
            )
        log.info("waiting for %d busy task instance(s) of other DAGs, e.g. %s", len(busy), busy[0])
        sleep(min(poll_seconds, max(timeout_seconds - waited, 0.0)))
        busy = busy_task_instances(engine=engine, exclude_dag_ids=exclude)
    seconds = clock() - started
    log.info("no other DAG has work running or queued (waited %.1fs for %d task instance(s))", seconds, initially)
    return DrainReport(seconds=seconds, initially_busy=initially)
