"""The snapshot's self-description: `manifest.json`, written last, and the names of every file beside it.

A snapshot folder holds `tables/<table>.csv.gz` (one per copied or merged table, PostgreSQL CSV with a
header, gzip), the optional `dag_paused_state.json` written by the export DAG, and `manifest.json`.
The manifest's presence means "complete": it is written only after every other file is stored.
"""

from __future__ import annotations

import builtins
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mwaa_hibernate_snapshot.errors import ManifestCorrupt

MANIFEST_NAME = "manifest.json"
PAUSED_STATE_NAME = "dag_paused_state.json"
TABLES_PREFIX = "tables/"
TABLE_SUFFIX = ".csv.gz"
FORMAT_NAME = "mwaa-hibernate-snapshot"
# Bump when a reader of the previous version would misread a new snapshot.
FORMAT_VERSION = 1


# A table's name as Airflow's schema spells them; a file path is exactly tables/<table>.csv.gz.
TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Tables every verified snapshot of an Airflow major version holds: the ones the engine's classification
# (mwaa_hibernate_engine.classification) copies or merges that exist on every Airflow version the DAGs support
# (2.7 to 2.11; 3.0.6, 3.2.1, 3.3.1). Verification outside the environment has no schema to compare with, so it
# checks this core; the restore checks the full set against the live schema. tests/airflow checks the list against
# both, on every version.
REQUIRED_TABLES: dict[int, frozenset[str]] = {
    2: frozenset(
        {
            "ab_role",
            "ab_user",
            "ab_user_role",
            "connection",
            "dag",
            "dag_run",
            "dag_run_note",
            "dataset",
            "dataset_event",
            "job",
            "log",
            "log_template",
            "rendered_task_instance_fields",
            "slot_pool",
            "task_instance",
            "task_instance_note",
            "trigger",
            "variable",
            "xcom",
        }
    ),
    # Airflow 3.0.6, 3.2.1 and 3.3.1 with the FAB auth manager (as MWAA runs them): DAG versions, serialized DAGs
    # and their code are history there, so they are required too.
    3: frozenset(
        {
            "ab_role",
            "ab_user",
            "ab_user_role",
            "asset",
            "asset_event",
            "backfill",
            "connection",
            "dag",
            "dag_bundle",
            "dag_code",
            "dag_run",
            "dag_run_note",
            "dag_version",
            "job",
            "log",
            "log_template",
            "rendered_task_instance_fields",
            "serialized_dag",
            "slot_pool",
            "task_instance",
            "task_instance_history",
            "task_instance_note",
            "trigger",
            "variable",
            "xcom",
        }
    ),
}


def table_path(table: str) -> str:
    return f"{TABLES_PREFIX}{table}{TABLE_SUFFIX}"


def airflow_major(version: str | None) -> int | None:
    match = re.match(r"^(\d+)\.", version or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class FileEntry:
    """One stored object: `bytes` and `sha256` are of the object as stored (gzip), `rows` of the CSV inside."""

    path: str
    bytes: int
    sha256: str
    table: str | None = None
    kind: str | None = None
    rows: int | None = None
    columns: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = list(self.columns)
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and where it came from. Built by export, read by verify and restore."""

    snapshot_id: str
    created_at: str
    dialect: str
    alembic_revision: str | None
    airflow_version: str | None
    encryption: dict[str, Any]
    files: tuple[FileEntry, ...]
    excluded_dag_ids: tuple[str, ...] = ()
    paused_state: FileEntry | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def rows(self) -> int:
        return sum(f.rows or 0 for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def file_for(self, table: str) -> FileEntry | None:
        return next((f for f in self.files if f.table == table), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "snapshot_id": self.snapshot_id,
            "created_at": self.created_at,
            "dialect": self.dialect,
            "alembic_revision": self.alembic_revision,
            "airflow_version": self.airflow_version,
            "encryption": self.encryption,
            "excluded_dag_ids": list(self.excluded_dag_ids),
            "paused_state": self.paused_state.to_json() if self.paused_state else None,
            "files": [f.to_json() for f in self.files],
            "timings": self.timings,
        }

    def dumps(self) -> builtins.bytes:
        return json.dumps(self.to_json(), indent=2, sort_keys=False).encode()

    @classmethod
    def loads(cls, data: builtins.bytes, *, where: str = "manifest.json") -> Manifest:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT_NAME:
                found = doc.get("format")
                raise ManifestCorrupt(f"{where} is not an mwaa-hibernate snapshot manifest (format={found!r})")
            if doc.get("format_version") != FORMAT_VERSION:
                raise ManifestCorrupt(
                    f"{where} has format version {doc.get('format_version')}; this engine reads version "
                    f"{FORMAT_VERSION}: use the mwaa-hibernate release that wrote the snapshot"
                )
            paused = doc.get("paused_state")
            return cls(
                snapshot_id=doc["snapshot_id"],
                created_at=doc["created_at"],
                dialect=doc["dialect"],
                alembic_revision=doc.get("alembic_revision"),
                airflow_version=doc.get("airflow_version"),
                encryption=dict(doc["encryption"]),
                files=tuple(_entry(f) for f in doc["files"]),
                excluded_dag_ids=tuple(doc.get("excluded_dag_ids", ())),
                paused_state=_entry(paused) if paused else None,
                timings=dict(doc.get("timings", {})),
                format_version=doc["format_version"],
            )
        except ManifestCorrupt:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestCorrupt(f"{where} is unreadable ({exc!r}): the snapshot cannot be used") from exc


def _entry(doc: dict[str, Any]) -> FileEntry:
    return FileEntry(
        path=doc["path"],
        bytes=int(doc["bytes"]),
        sha256=doc["sha256"],
        table=doc.get("table"),
        kind=doc.get("kind"),
        rows=doc.get("rows"),
        columns=tuple(doc.get("columns", ())),
    )
