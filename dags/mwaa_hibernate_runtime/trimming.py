"""Trim history older than the retention window with Airflow's own cleanup (`airflow db clean`).

Snapshots stop growing cycle after cycle. Airflow's cleanup keeps each DAG's latest scheduled run (the
scheduler continues from it) and cascades deletes along foreign keys. Archiving is skipped: archive
tables (`_airflow_deleted__*`) would land in the schema unclassified and make the export refuse.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# The history tables the snapshot copies, and only those. Left out on purpose:
# - dag: holds every DAG's paused state and user-set fields; an old `last_parsed_time` does not make it history;
# - trigger: a deferred task can wait on a trigger older than the window, deleting it would orphan the task;
# - job, import_error, callback_request, session, celery_*: state the new environment owns and regenerates,
#   not in the snapshot, so trimming them would not make it smaller.
# The hibernation DAGs' in-flight rows are never older than the window (retention is at least one day and
# the run started minutes ago), so Airflow's recency filter alone keeps them.
TRIM_TABLES = (
    "dag_run",
    "task_instance",
    "task_instance_history",
    "task_fail",
    "task_reschedule",
    "xcom",
    "log",
    "sla_miss",
    "dataset_event",
)


@dataclass(frozen=True)
class TrimReport:
    """What the trim did: the cutoff (None when retention is 0 = keep everything) and the tables it cleaned."""

    cutoff: dt.datetime | None
    tables: tuple[str, ...] = ()
    deleted: dict[str, int] = field(default_factory=dict)


def trim_history(*, session: Session, retention_days: int, now: dt.datetime | None = None) -> TrimReport:
    """Delete history older than `retention_days` (0 keeps everything) with `airflow.utils.db_cleanup`.

    Runs in `session`; the caller commits.
    """
    if retention_days <= 0:
        log.info("history retention is 0 days: nothing is trimmed")
        return TrimReport(cutoff=None)
    from airflow.utils import db_cleanup

    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)
    # A table this Airflow version does not know (task_fail is gone in 3, sla_miss may be) is simply not cleaned.
    tables = tuple(t for t in TRIM_TABLES if t in db_cleanup.config_dict)
    return _trim(session, db_cleanup, cutoff, tables)


def _trim(session: Session, db_cleanup: Any, cutoff: dt.datetime, tables: tuple[str, ...]) -> TrimReport:
    before = _counts(session, tables)
    db_cleanup.run_cleanup(
        clean_before_timestamp=cutoff,
        table_names=list(tables),
        dry_run=False,
        verbose=False,
        confirm=False,
        skip_archive=True,
        session=session,
    )
    after = _counts(session, tables)
    deleted = {t: before[t] - after[t] for t in tables if before[t] != after[t]}
    log.info("trimmed history before %s: %s", cutoff.isoformat(timespec="seconds"), deleted or "nothing was older")
    return TrimReport(cutoff=cutoff, tables=tables, deleted=deleted)


def _counts(session: Session, tables: tuple[str, ...]) -> dict[str, int]:
    import sqlalchemy as sa

    existing = set(sa.inspect(session.get_bind()).get_table_names())
    return {
        t: int(session.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() or 0) if t in existing else 0
        for t in tables
    }
