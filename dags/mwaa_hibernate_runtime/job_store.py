"""The API-server carrier's jobs, kept in the metadata database so that any API server can answer for them.

MWAA runs two or more API servers behind one address, and any of them may receive the next request, so a
job's state cannot live in one process's memory. It lives in a table of its own schema, `mwaa_hibernate`
(the engine reads and writes only Airflow's schema, so the table is never exported or restored), and one
PostgreSQL advisory lock, held by the connection of the API server that runs the job, says the job is
alive: when that process dies the lock goes with it, and the next look marks the job failed.

Only one job runs at a time in an environment: claiming one takes the lock first.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mwaa_hibernate_snapshot.carrier import JOB_FAILED, JOB_RUNNING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

SCHEMA = "mwaa_hibernate"
# Session-level advisory lock held while a job runs ("mwhj" in ASCII); the restore's own lock is another key.
JOB_LOCK_KEY = 0x6D77686A
_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.job (
        id text PRIMARY KEY,
        kind text NOT NULL,
        snapshot_id text NOT NULL,
        state text NOT NULL,
        detail text NOT NULL DEFAULT '',
        result text,
        runner text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
)
LOST = (
    "the API server that ran this job stopped before it finished (restarted, replaced or scaled in); the state "
    "machine's heartbeat timeout reports it, and the next hibernation or wake starts a new job"
)


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    snapshot_id: str
    state: str
    detail: str
    runner: str
    result: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "snapshot_id": self.snapshot_id,
            "state": self.state,
            "detail": self.detail,
            "runner": self.runner,
        }


def runner_name() -> str:
    """Which API server process runs a job (host and pid), for a person reading the job's state."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobStore:
    """The job table on one engine (the API server's own)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ensure(self) -> None:
        """Create the schema and table if needed (two API servers may race: a lost race is retried once)."""
        import sqlalchemy as sa

        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    for statement in _DDL:
                        conn.execute(sa.text(statement))
                return
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise

    def get(self, job_id: str) -> Job | None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    f"SELECT id, kind, snapshot_id, state, detail, runner, result FROM {SCHEMA}.job WHERE id = :id"
                ),
                {"id": job_id},
            ).first()
        return Job(*row) if row else None

    def running(self) -> Job | None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    f"SELECT id, kind, snapshot_id, state, detail, runner, result FROM {SCHEMA}.job "
                    "WHERE state = :state ORDER BY created_at DESC LIMIT 1"
                ),
                {"state": JOB_RUNNING},
            ).first()
        return Job(*row) if row else None

    def claim(self, job_id: str, kind: str, snapshot_id: str) -> tuple[Connection | None, Job]:
        """Take the job lock and record the job as running; (the connection holding the lock, the job).

        The connection is None when the job was not claimed: it already exists (this is a repeated request,
        the existing job is returned), or another job holds the lock (the running job is returned).
        """
        import sqlalchemy as sa

        conn = self.engine.connect()
        try:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            existing = self.get(job_id)
            if existing is not None:
                conn.close()
                return None, self.check_alive(existing)
            if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": JOB_LOCK_KEY}).scalar():
                conn.close()
                running = self.running()
                return None, running or Job(job_id, kind, snapshot_id, JOB_FAILED, "another job holds the lock", "")
            conn.execute(
                sa.text(
                    f"INSERT INTO {SCHEMA}.job (id, kind, snapshot_id, state, runner) "
                    "VALUES (:id, :kind, :snapshot_id, :state, :runner) ON CONFLICT (id) DO NOTHING"
                ),
                {"id": job_id, "kind": kind, "snapshot_id": snapshot_id, "state": JOB_RUNNING, "runner": runner_name()},
            )
            job = self.get(job_id)
            assert job is not None
            if job.runner != runner_name() or job.state != JOB_RUNNING:  # another server inserted it first
                self.release(conn)
                return None, job
            return conn, job
        except BaseException:
            conn.close()
            raise

    def finish(self, job_id: str, state: str, detail: str, result: str | None = None) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"UPDATE {SCHEMA}.job SET state = :state, detail = :detail, result = :result, updated_at = now() "
                    "WHERE id = :id"
                ),
                {"id": job_id, "state": state, "detail": detail[:4000], "result": result},
            )

    def note(self, job_id: str, detail: str) -> None:
        """Record which step a running job is at (a person polling the job sees progress)."""
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(
                sa.text(f"UPDATE {SCHEMA}.job SET detail = :detail, updated_at = now() WHERE id = :id"),
                {"id": job_id, "detail": detail[:4000]},
            )

    def release(self, conn: Connection) -> None:
        import sqlalchemy as sa

        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": JOB_LOCK_KEY})
        finally:
            conn.close()

    def check_alive(self, job: Job) -> Job:
        """A job recorded as running whose lock nobody holds died with its API server: record it as failed."""
        import sqlalchemy as sa

        if job.state != JOB_RUNNING:
            return job
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            free = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": JOB_LOCK_KEY}).scalar()
            if free:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": JOB_LOCK_KEY})
        if not free:
            return job
        log.warning("job %s was running on %s, which no longer holds its lock: recorded as failed", job.id, job.runner)
        self.finish(job.id, JOB_FAILED, LOST)
        return Job(job.id, job.kind, job.snapshot_id, JOB_FAILED, LOST, job.runner, job.result)
