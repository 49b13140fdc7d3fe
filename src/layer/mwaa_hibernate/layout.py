"""Where everything lives in the snapshot bucket: the one place for S3 keys (docs/contracts.md).

<environment>/snapshots/<snapshot_id>/environment.json       GetEnvironment output, saved first
<environment>/snapshots/<snapshot_id>/dag_paused_state.json  each DAG's paused state before the export
<environment>/snapshots/<snapshot_id>/tables/<table>.csv.gz  written by the export DAG
<environment>/snapshots/<snapshot_id>/manifest.json          written last: its presence means complete
<environment>/latest.json                                    pointer to the latest VERIFIED snapshot
<environment>/state.json                                     {"phase": "HIBERNATED" | "AWAKE", ...}
<environment>/lock.json                                      the running cycle's lock (mwaa_hibernate.lock)
<environment>/schedule/overrides.json                        a person's override (mwaa-hibernate wake --for ...)
<environment>/schedule/history.json                          measured wakes and hibernations (the stack writes it)
<environment>/schedule/decisions.json                        the adaptive schedule's last decisions, newest last
<environment>/carrier.json                                   which carrier the last probe chose, and why

The schedule/ folder and carrier.json are written by the stack's functions and the CLI only: the environment's
execution role may write under snapshots/ alone, so nothing running in Airflow decides when the environment wakes
or how the next cycle reaches it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mwaa_hibernate_snapshot.manifest import MANIFEST_NAME as MANIFEST_FILE
from mwaa_hibernate_snapshot.manifest import PAUSED_STATE_NAME as DAG_PAUSED_STATE_FILE
from mwaa_hibernate_snapshot.runconf import SNAPSHOT_ID_PATTERN

# UTC start time of the hibernate execution: unique per cycle (one cycle at a time), sortable, readable.
SNAPSHOT_ID_FORMAT = "%Y%m%dT%H%M%SZ"

# The file names inside a snapshot folder come from the engine, which writes them; this one is ours.
ENVIRONMENT_FILE = "environment.json"
LATEST_FILE = "latest.json"
STATE_FILE = "state.json"
LOCK_FILE = "lock.json"
SCHEDULE_FOLDER = "schedule"
OVERRIDES_FILE = "overrides.json"
HISTORY_FILE = "history.json"
DECISIONS_FILE = "decisions.json"
CARRIER_FILE = "carrier.json"


def snapshot_id_for(started_at: str | datetime) -> str:
    """The snapshot id of an execution, from its start time (ISO 8601 as Step Functions gives it)."""
    if isinstance(started_at, str):
        started_at = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    return started_at.astimezone(UTC).strftime(SNAPSHOT_ID_FORMAT)


def check_snapshot_id(snapshot_id: str) -> str:
    if not isinstance(snapshot_id, str) or not SNAPSHOT_ID_PATTERN.match(snapshot_id):
        raise ValueError(f"{snapshot_id!r} is not a snapshot id (expected YYYYMMDDTHHMMSSZ)")
    return snapshot_id


def snapshots_prefix(environment: str) -> str:
    return f"{environment}/snapshots/"


def snapshot_prefix(environment: str, snapshot_id: str) -> str:
    return f"{snapshots_prefix(environment)}{check_snapshot_id(snapshot_id)}/"


def snapshot_uri(bucket: str, environment: str, snapshot_id: str) -> str:
    """The URI the engine and the DAGs get: they only ever see one snapshot prefix."""
    return f"s3://{bucket}/{snapshot_prefix(environment, snapshot_id)}"


def environment_key(environment: str, snapshot_id: str) -> str:
    return snapshot_prefix(environment, snapshot_id) + ENVIRONMENT_FILE


def dag_paused_state_key(environment: str, snapshot_id: str) -> str:
    return snapshot_prefix(environment, snapshot_id) + DAG_PAUSED_STATE_FILE


def manifest_key(environment: str, snapshot_id: str) -> str:
    return snapshot_prefix(environment, snapshot_id) + MANIFEST_FILE


def latest_key(environment: str) -> str:
    return f"{environment}/{LATEST_FILE}"


def state_key(environment: str) -> str:
    return f"{environment}/{STATE_FILE}"


def lock_key(environment: str) -> str:
    return f"{environment}/{LOCK_FILE}"


def schedule_prefix(environment: str) -> str:
    return f"{environment}/{SCHEDULE_FOLDER}/"


def overrides_key(environment: str) -> str:
    return schedule_prefix(environment) + OVERRIDES_FILE


def history_key(environment: str) -> str:
    return schedule_prefix(environment) + HISTORY_FILE


def decisions_key(environment: str) -> str:
    return schedule_prefix(environment) + DECISIONS_FILE


def carrier_key(environment: str) -> str:
    return f"{environment}/{CARRIER_FILE}"


def snapshot_id_from_key(environment: str, key: str) -> str | None:
    """The snapshot id a key belongs to, or None for keys outside the snapshots folder."""
    prefix = snapshots_prefix(environment)
    if not key.startswith(prefix):
        return None
    candidate = key[len(prefix) :].split("/", 1)[0]
    return candidate if SNAPSHOT_ID_PATTERN.match(candidate) else None
