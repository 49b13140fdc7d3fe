"""Export: every copied and merged table, read in one consistent transaction, streamed through gzip
into the store at constant memory; the manifest is written last."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from mwaa_hibernate_snapshot.cipher import Cipher, SecretBox
from mwaa_hibernate_snapshot.errors import SnapshotError
from mwaa_hibernate_snapshot.manifest import MANIFEST_NAME, PAUSED_STATE_NAME, FileEntry, Manifest, table_path
from mwaa_hibernate_snapshot.progress import Progress
from mwaa_hibernate_snapshot.store import SnapshotStore
from mwaa_hibernate_snapshot.verify import check_file

from mwaa_hibernate_engine.classification import Kind
from mwaa_hibernate_engine.csvcodec import encode_row
from mwaa_hibernate_engine.dialects import transport_for
from mwaa_hibernate_engine.dialects.base import ExportSession, quote
from mwaa_hibernate_engine.errors import ExportFailed
from mwaa_hibernate_engine.fernet import AirflowFernet
from mwaa_hibernate_engine.gzipstream import GzipWriter
from mwaa_hibernate_engine.schema import Schema, TableSchema, reflect_schema
from mwaa_hibernate_engine.secrets import binding, seal_row

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

# A run of an excluded DAG in one of these states is finished history; any other state is in-flight work.
FINISHED_RUN_STATES = ("success", "failed")
SNAPSHOT_ID_FORMAT = "%Y%m%dT%H%M%SZ"
# Tables whose rows belong to one run: a row referencing one of them belongs to that run too.
_RUN_TABLES = ("dag_run", "task_instance", "task_instance_history")


def run_export(
    *,
    engine: Engine,
    store: SnapshotStore,
    cipher: Cipher,
    source_fernet: str | None,
    exclude_dag_ids: tuple[str, ...],
    snapshot_id: str | None,
    progress: Progress,
) -> Manifest:
    started = time.monotonic()
    started_at = _now()
    snapshot_id = snapshot_id or _default_snapshot_id(store)
    schema = reflect_schema(engine)
    box, encryption = cipher.new_box(snapshot_id=snapshot_id)
    fernet = AirflowFernet(source_fernet)
    files: list[FileEntry] = []
    table_seconds: dict[str, float] = {}
    current = "(before the first table)"
    try:
        with transport_for(engine).export_session() as session:
            revision = session.alembic_revision()
            for table in schema.tables.values():
                if table.policy.kind is Kind.OWNED:
                    continue
                current = table.name
                t0 = time.monotonic()
                entry = _export_table(session, store, table, schema, exclude_dag_ids, fernet, box)
                table_seconds[table.name] = round(time.monotonic() - t0, 3)
                files.append(entry)
                logger.info("exported %s: %d rows, %d bytes", table.name, entry.rows, entry.bytes)
                progress("export", table.name, entry.rows or 0)
        current = PAUSED_STATE_NAME
        paused = _paused_state_entry(store)
        manifest = Manifest(
            snapshot_id=snapshot_id,
            created_at=started_at,
            dialect=session.dialect,
            alembic_revision=revision,
            airflow_version=_airflow_version(),
            encryption=encryption,
            files=tuple(files),
            excluded_dag_ids=exclude_dag_ids,
            paused_state=paused,
            timings={
                "started_at": started_at,
                "seconds": round(time.monotonic() - started, 3),
                "tables": table_seconds,
            },
        )
        current = MANIFEST_NAME
        store.put_bytes(MANIFEST_NAME, manifest.dumps())
    except SnapshotError:
        raise
    except Exception as exc:
        raise ExportFailed(
            f"export of snapshot {snapshot_id} to {store.uri} failed at {current}: {exc}. No manifest was written, "
            "so this snapshot will be refused; fix the cause and export again into a new folder"
        ) from exc
    logger.info("snapshot %s: %d tables, %d rows, %d bytes", snapshot_id, len(files), manifest.rows, manifest.bytes)
    return manifest


def _export_table(
    session: ExportSession,
    store: SnapshotStore,
    table: TableSchema,
    schema: Schema,
    exclude_dag_ids: tuple[str, ...],
    fernet: AirflowFernet,
    box: SecretBox,
) -> FileEntry:
    where, params = _exclusion(table, schema, exclude_dag_ids)
    if table.policy.referenced_only:
        where = _referenced_only(table, schema, where)
    path = table_path(table.name)
    with store.writer(path) as out, GzipWriter(out) as sink:
        if table.policy.sealed_columns:
            rows = _write_sealed(session, sink, table, where, params, fernet, box)
        else:
            rows = session.copy_out(table.name, table.columns, where, params, sink)
    return FileEntry(
        path=path,
        bytes=out.bytes_written,
        sha256=out.sha256,
        table=table.name,
        kind=table.policy.kind.value,
        rows=rows,
        columns=table.columns,
    )


def _write_sealed(
    session: ExportSession,
    sink: GzipWriter,
    table: TableSchema,
    where: str,
    params: dict[str, Any],
    fernet: AirflowFernet,
    box: SecretBox,
) -> int:
    """Small tables with secrets go through Python: decrypt with the source's key, seal, write CSV."""
    ident = [c for c in (table.surrogate_key, *table.policy.natural_key) if c]
    sink.write(encode_row(table.columns))
    rows = 0
    for values in session.text_rows(table.name, table.columns, where, params):
        row = list(values)
        what = f"{table.name} " + ", ".join(f"{c}={row[table.columns.index(c)]}" for c in ident)
        seal_row(row, table.columns, table.policy, fernet, box, what, binding(table.name, table.columns, row, ident))
        sink.write(encode_row(row))
        rows += 1
    return rows


def _exclusion(table: TableSchema, schema: Schema, exclude: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """WHERE clause leaving out unfinished runs of the excluded DAGs and every row hanging off them."""
    if not exclude or "dag_run" not in schema.tables:
        return "", {}
    match = _run_of(table, schema, "t", depth=3)
    if match is None:
        return "", {}
    where = (
        f" WHERE NOT EXISTS (SELECT 1 FROM dag_run d WHERE {match} AND d.dag_id IN %(excluded)s"
        f" AND COALESCE(d.state, '') NOT IN %(finished)s)"
    )
    return where, {"excluded": tuple(exclude), "finished": FINISHED_RUN_STATES}


def _run_of(table: TableSchema, schema: Schema, alias: str, depth: int) -> str | None:
    """A condition true when run `d` is the one the row `alias` of `table` belongs to; None if it belongs to none.

    Directly (dag_run itself, a reference to dag_run, dag_id and run_id columns), or through the row it
    references in a table that does (Airflow 3's notes, reschedules and human-in-the-loop details reference
    a task instance by its UUID only).
    """
    if table.name == "dag_run":
        return f"d.id = {alias}.id"
    runs = [r for r in table.references if r.ref_table in _RUN_TABLES and not r.text and r.ref_table != table.name]
    if not runs:
        return None
    for ref in runs:
        if ref.ref_table == "dag_run" and ref.ref_columns == ("id",):
            return f"d.id = {alias}.{quote(ref.columns[0])}"
    if {"dag_id", "run_id"} <= set(table.columns):
        return f"d.dag_id = {alias}.dag_id AND d.run_id = {alias}.run_id"
    for ref in runs if depth else ():
        parent = schema.tables[ref.ref_table]
        inner = _run_of(parent, schema, f"p{depth}", depth - 1)
        if inner is not None:
            joined = " AND ".join(
                f"p{depth}.{quote(r)} = {alias}.{quote(c)}" for c, r in zip(ref.columns, ref.ref_columns, strict=True)
            )
            return f"EXISTS (SELECT 1 FROM {quote(parent.name)} p{depth} WHERE {joined} AND {inner})"
    return None


def _referenced_only(table: TableSchema, schema: Schema, where: str) -> str:
    """Add to `where` (alias `t`): some row of a copied table references this one."""
    holders = [
        f"EXISTS (SELECT 1 FROM {quote(other.name)} r WHERE r.{quote(ref.columns[0])} = t.{quote(ref.ref_columns[0])})"
        for other in schema.tables.values()
        if other.policy.kind is Kind.COPIED
        for ref in other.references
        if ref.ref_table == table.name and len(ref.columns) == 1 and not ref.text and other.name != table.name
    ]
    condition = f"({' OR '.join(holders)})" if holders else "false"
    return f"{where} AND {condition}" if where else f" WHERE {condition}"


def _paused_state_entry(store: SnapshotStore) -> FileEntry | None:
    """The export DAG's paused-state record, if it wrote one, so verify covers it too."""
    if not store.exists(PAUSED_STATE_NAME):
        return None
    data = store.get_bytes(PAUSED_STATE_NAME)
    entry = FileEntry(path=PAUSED_STATE_NAME, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    check_file(store, entry)
    return entry


def _default_snapshot_id(store: SnapshotStore) -> str:
    last = store.uri.rstrip("/").rsplit("/", 1)[-1]
    return last or datetime.now(UTC).strftime(SNAPSHOT_ID_FORMAT)


def _airflow_version() -> str | None:
    try:
        return metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
