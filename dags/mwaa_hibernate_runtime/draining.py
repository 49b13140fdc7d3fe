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

from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

from mwaa_hibernate_runtime.errors import DrainTimeout

if TYPE_CHECKING:
    from mwaa_hibernate_runtime.backend import Backend

log = logging.getLogger(__name__)

# How often to look again while draining: task instances finish on the scale of seconds to minutes,
# and each look is one indexed query.
DRAIN_POLL_SECONDS = 5.0
# How many unfinished task instances an error message names (the count is always given).
_NAMED_IN_ERROR = 5


@dataclass(frozen=True)
class DrainReport:
    """How the drain went: how long it waited and how many task instances it saw finish."""

    seconds: float
    initially_busy: int


def wait_for_drain(
    *,
    backend: Backend,
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
    busy = backend.busy_task_instances(exclude)
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
        busy = backend.busy_task_instances(exclude)
    seconds = clock() - started
    log.info("no other DAG has work running or queued (waited %.1fs for %d task instance(s))", seconds, initially)
    return DrainReport(seconds=seconds, initially_busy=initially)
