"""Restore: load every file of a snapshot into staging tables, then insert into the live tables with
surrogate keys shifted past the target's own rows and every reference rewritten, all in one transaction.

The order of work inside the transaction:

1. take the restore lock (two restores never interleave), check the alembic revision and whether this
   snapshot was already restored (a marker row in the audit log: running restore twice is safe);
2. table by table, parents before children: load the file into a temporary staging table (`COPY FROM
   STDIN`; SQLite: parsed in Python), checking sha256 and row count as it streams, and re-encrypt secret
   columns with the target's Fernet key there; then insert: merged tables are matched on their natural
   key (matched rows keep the target's id, unmatched ones are inserted), copied tables are inserted with
   `id + offset`; references are rewritten with the same offsets and matches. The offset is reserved
   from the key's sequence (`reserve_keys`), not read from the table's largest id: the target is a live
   environment, and what it inserts meanwhile takes ids above the reserved range instead of colliding
   at commit. A table the target never wrote keeps the snapshot's ids. A copied table with nothing to
   rewrite (no secrets, no key of its own or of a parent shifted) skips the staging table: its file is
   loaded straight into the live table, which writes every row once instead of twice. A table with
   shifted keys keeps its staging table, even on the bulk path: shifting them during the COPY with a
   BEFORE INSERT row trigger was measured slower (8.4-8.7 s against 7.6-8.0 s for staging plus INSERT
   at 1M task instances), because a row trigger makes COPY insert row by row instead of in batches and
   adds a PL/pgSQL call per row; a larger `temp_buffers` for the staging tables changed nothing;
3. the short last step, which touches rows the live environment writes too: the snapshot's values of
   matched `dag` rows and the paused-state record; on Airflow 3 the DAG versions (below); sequences
   moved past every restored id (never lowered); the marker; commit.

DAG versions (Airflow 3): old runs and task instances point at the `dag_version` they ran with, and the
new environment's DAG processor has written versions of its own (1, 2, ...) before the restore. The
snapshot's versions are inserted verbatim (same UUIDs, same serialized DAGs and code) but with their
numbers negated, so they cannot collide with what the processor writes while the restore runs. In the
last step, under `lock_table("dag_version")` (inserts and updates wait, reads go on), the target's own
versions of those DAGs move above the snapshot's largest number, in two statements because the unique
(dag_id, version_number) is checked row by row and is not deferrable, and the snapshot's get their
numbers back. The target's versions stay the latest by number, by creation time and by id, which is
how every Airflow 3 version finds "the latest"; its processor sees an unchanged file's hash and writes
nothing, and a changed file becomes the next version.

A damaged file fails its table's step; the transaction rolls back whatever earlier tables wrote.
The algorithm is the same on PostgreSQL and SQLite: its SQL is what both understand, and the few
statements that differ (locks, temporary tables, sequences, row ids) are the session's methods.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from mwaa_hibernate_snapshot.cipher import Cipher, SecretBox
from mwaa_hibernate_snapshot.errors import ChecksumMismatch, FileMissing, SnapshotError, SnapshotInvalid
from mwaa_hibernate_snapshot.manifest import FileEntry, Manifest
from mwaa_hibernate_snapshot.paused_state import batches, changes, parse_paused_state
from mwaa_hibernate_snapshot.progress import Progress
from mwaa_hibernate_snapshot.store import READ_CHUNK, SnapshotStore
from mwaa_hibernate_snapshot.verify import check_complete, check_file, load_manifest

from mwaa_hibernate_engine.classification import Kind
from mwaa_hibernate_engine.dialects import transport_for
from mwaa_hibernate_engine.dialects.base import RestoreSession, quote
from mwaa_hibernate_engine.errors import RestoreConflict, RestoreFailed, RevisionMismatch, SchemaError
from mwaa_hibernate_engine.fernet import AirflowFernet
from mwaa_hibernate_engine.results import RestoreResult
from mwaa_hibernate_engine.schema import Schema, TableSchema, reflect_schema
from mwaa_hibernate_engine.secrets import binding, reseal_row

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

# The audit-log event that marks a restored snapshot (visible in the UI under Browse > Audit Logs).
MARKER_EVENT = "mwaa-hibernate restore"
MARKER_OWNER = "mwaa-hibernate"
# A copied table with at least this many rows is inserted with its secondary indexes and foreign keys
# dropped, then rebuilt in one pass each: maintaining 8 indexes and an FK trigger row by row is what
# limits plain COPY FROM to ~38k rows/s on task_instance (docs/performance.md, "Baseline measurements").
BULK_ROWS = 10_000
# The bulk path holds ACCESS EXCLUSIVE locks on those tables until commit. In a live environment the
# scheduler and the restoring task's own heartbeat read task_instance, so they wait for the commit; a
# heartbeat that waits longer than the scheduler's zombie threshold gets the import task killed as a
# zombie after it restored everything. With a lock budget, the bulk path is used only when the whole
# restore is predicted to fit in it at this rate (well under the 90-108k rows/s the benchmark measures).
PREDICTED_ROWS_PER_SECOND = 20_000
# Memory PostgreSQL may use per index build, and per sort or hash of the join that checks a re-created
# foreign key, inside our transaction (server side, one backend, released at commit). The defaults
# (64MB and 4MB) send a million-row rebuild's sorts and joins to temporary files.
INDEX_BUILD_MEMORY = "256MB"
KEY_CHECK_MEMORY = "256MB"
STAGE_PREFIX = "_mwh_stage_"
MAP_PREFIX = "_mwh_map_"
# Airflow 3's DAG versions: numbered per DAG, renumbered in the last step (module docstring).
VERSIONS_TABLE, VERSION_NUMBER = "dag_version", "version_number"
# Where the target's own version numbers wait for one statement while they move up: far above any real one.
PARKED_VERSIONS = 1_000_000_000


@dataclass(frozen=True)
class _Load:
    """One table's file and what loading it needs: where it is, how its secrets are re-sealed."""

    store: SnapshotStore
    entry: FileEntry
    box: SecretBox
    fernet: AirflowFernet
    progress: Progress


@dataclass(frozen=True)
class _Remap:
    """How old values of a table's surrogate key become new ones: matched rows via `map_table`, others + offset."""

    offset: int
    map_table: str | None = None


def run_restore(
    *,
    engine: Engine,
    store: SnapshotStore,
    cipher: Cipher,
    target_fernet: str | None,
    progress: Progress,
    lock_budget_seconds: float | None = None,
) -> RestoreResult:
    started = time.monotonic()
    manifest = load_manifest(store)
    bulk_allowed = bulk_fits(manifest.rows, lock_budget_seconds)
    if not bulk_allowed:
        logger.info(
            "%d rows may take over %.0f s: restoring with indexes in place (no exclusive locks held to commit)",
            manifest.rows,
            lock_budget_seconds,
        )
    check_complete(manifest, where=f"{store.uri}manifest.json")
    _check_presence(store, manifest)
    paused = None
    if manifest.paused_state:
        check_file(store, manifest.paused_state)
        paused = parse_paused_state(store.get_bytes(manifest.paused_state.path))
    schema = reflect_schema(engine)
    _check_columns(manifest, schema)
    _check_every_table_is_there(manifest, schema, engine)
    box = cipher.open_box(manifest.encryption, snapshot_id=manifest.snapshot_id)
    fernet = AirflowFernet(target_fernet)
    current = "(before the first table)"
    transport = transport_for(engine)
    try:
        with transport.restore_session() as session:
            session.lock()
            _check_revision(session, manifest)
            if _already_restored(session, manifest.snapshot_id):
                logger.info("snapshot %s was already restored here: nothing to do", manifest.snapshot_id)
                return RestoreResult(manifest.snapshot_id, len(manifest.files), 0, _since(started), True)
            remaps: dict[str, _Remap] = {}
            for table in schema.tables.values():
                entry = manifest.file_for(table.name)
                if entry is None:
                    continue
                current = f"restoring {table.name} from {entry.path}"
                if table.policy.kind is Kind.MERGED:
                    _stage(session, store, entry, table, box, fernet)
                    progress("load", table.name, entry.rows or 0)
                    _merge(session, table, schema, remaps)
                else:
                    _copy(session, _Load(store, entry, box, fernet, progress), table, schema, remaps, bulk_allowed)
                progress("insert", table.name, entry.rows or 0)
            current = "updating the DAGs the new environment has"
            _update_matched_dags(session, schema, manifest.excluded_dag_ids)
            current = "applying paused states"
            unpaused = _apply_paused_state(session, paused, manifest.excluded_dag_ids)
            if schema.versions_dags and manifest.file_for(VERSIONS_TABLE):
                current = "renumbering DAG versions"
                _renumber_versions(session)
            current = "resetting sequences"
            _reset_sequences(session, [t for t in schema.tables.values() if t.name in remaps])
            _mark(session, manifest)
    except SnapshotError:
        raise
    except Exception as exc:
        raise _translate(exc, manifest, current, transport.unique_violation(exc)) from exc
    seconds = _since(started)
    logger.info("restored snapshot %s: %d rows in %.1fs", manifest.snapshot_id, manifest.rows, seconds)
    return RestoreResult(manifest.snapshot_id, len(manifest.files), manifest.rows, seconds, False, unpaused)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _translate(exc: Exception, manifest: Manifest, current: str, collision: str | None) -> RestoreFailed:
    what = f"restore of snapshot {manifest.snapshot_id} failed while {current}"
    if collision is not None:
        return RestoreConflict(
            f"{what}: a snapshot row collides with a row the target already has ({collision}). Nothing was imported. "
            "The target created it before the restore: remove it (or restore into a fresh environment) and retry"
        )
    return RestoreFailed(f"{what}: {exc}. The transaction was rolled back: nothing was imported")


# --- checks before any write -------------------------------------------------------------------


def _check_presence(store: SnapshotStore, manifest: Manifest) -> None:
    """Cheap checks first (HEAD per file); the checksums are verified while the files stream in."""
    for entry in manifest.files:
        size = store.size(entry.path)
        if size is None:
            raise FileMissing(
                f"{store.uri}{entry.path} is listed in the manifest of snapshot {manifest.snapshot_id} but missing: "
                "the snapshot is damaged; restore an earlier snapshot. Nothing was imported"
            )
        if size != entry.bytes:
            raise ChecksumMismatch(
                f"{store.uri}{entry.path} has {size} bytes, the manifest says {entry.bytes}: the snapshot is "
                "damaged; restore an earlier snapshot. Nothing was imported"
            )


def _check_columns(manifest: Manifest, schema: Schema) -> None:
    for entry in manifest.files:
        table = schema.tables.get(entry.table or "")
        if table is None and entry.rows == 0:
            continue  # e.g. FAB's groups, created in a database upgraded from Airflow 2 only when FAB first starts
        if table is None:
            raise SchemaError(f"the snapshot has table {entry.table!r}, the target database does not")
        if set(entry.columns) != set(table.columns):
            missing = sorted(set(entry.columns) ^ set(table.columns))
            raise SchemaError(
                f"table {entry.table} differs between the snapshot and the target (columns {missing}): "
                "the two databases are not at the same schema revision"
            )


def _check_every_table_is_there(manifest: Manifest, schema: Schema, engine: Engine) -> None:
    """Every table this schema copies or merges has a file: a table left out would silently not be restored.

    Except a table an application creates when it first starts (`created_at_start`: FAB's group tables, which a
    database upgraded from Airflow 2 lacks until then) that the target holds no row of: restoring nothing into an
    empty table loses nothing.
    """
    from sqlalchemy import text

    missing = sorted(
        name
        for name, table in schema.tables.items()
        if table.policy.kind is not Kind.OWNED and manifest.file_for(name) is None
    )
    if not missing:
        return
    with engine.connect() as conn:
        missing = [
            name
            for name in missing
            if not schema.tables[name].policy.created_at_start
            or conn.execute(text(f"SELECT 1 FROM {quote(name)} LIMIT 1")).first() is not None
        ]
    if missing:
        raise SnapshotInvalid(
            f"snapshot {manifest.snapshot_id} has no file for table(s) {', '.join(missing)}, which this database "
            "copies or merges: restoring it would silently leave them out. Nothing was imported; take a new snapshot"
        )


def _check_revision(session: RestoreSession, manifest: Manifest) -> None:
    rows = session.query("SELECT version_num FROM alembic_version")
    target = rows[0][0] if rows else None
    if target != manifest.alembic_revision:
        raise RevisionMismatch(
            f"snapshot {manifest.snapshot_id} is from schema revision {manifest.alembic_revision} (Airflow "
            f"{manifest.airflow_version}); the target database is at {target}. Restore it into an environment "
            "running the same Airflow version (then upgrade), or migrate the target to the snapshot's revision"
        )


def _already_restored(session: RestoreSession, snapshot_id: str) -> bool:
    return _marks(
        snapshot_id, (extra for (extra,) in session.query("SELECT extra FROM log WHERE event = %s", (MARKER_EVENT,)))
    )


def _marks(snapshot_id: str, extras: Iterator[str | None]) -> bool:
    for extra in extras:
        try:
            if json.loads(extra or "{}").get("snapshot_id") == snapshot_id:
                return True
        except ValueError:
            continue
    return False


def was_restored(engine: Engine, snapshot_id: str) -> bool:
    """The marker check outside a restore, for the import DAG's steps around it."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT extra FROM log WHERE event = :event"), {"event": MARKER_EVENT})
        return _marks(snapshot_id, (extra for (extra,) in rows))


# --- staging -----------------------------------------------------------------------------------


class _HashingReader:
    """Reads the stored (gzip) bytes, computing their sha256 and size for the manifest check."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(READ_CHUNK):
            pass


def _stage_name(table: str) -> str:
    return quote(STAGE_PREFIX + table)


def _stage(
    session: RestoreSession,
    store: SnapshotStore,
    entry: FileEntry,
    table: TableSchema,
    box: SecretBox,
    fernet: AirflowFernet,
) -> None:
    session.create_stage(STAGE_PREFIX + table.name, table.name, entry.columns)
    _load(session, store, entry, STAGE_PREFIX + table.name)
    if table.policy.sealed_columns:
        _reseal_stage(session, table, entry.columns, box, fernet)


def _load(session: RestoreSession, store: SnapshotStore, entry: FileEntry, into: str) -> None:
    """Load one file into table `into`, refusing it unless its bytes and row count match the manifest."""
    with store.reader(entry.path) as raw:
        hashed = _HashingReader(raw)
        failure: Exception | None = None
        rows = -1
        try:
            with gzip.GzipFile(fileobj=cast(BinaryIO, hashed), mode="rb") as gz:  # a file object by duck typing
                rows = session.copy_in(into, entry.columns, cast(BinaryIO, gz))
        except Exception as exc:  # not gzip, truncated, or CSV the server refuses: the checksum decides which
            failure = exc
        hashed.drain()
    if hashed.size != entry.bytes or hashed.sha.hexdigest() != entry.sha256 or isinstance(failure, OSError | EOFError):
        raise ChecksumMismatch(
            f"{store.uri}{entry.path} does not match the manifest (sha256 {hashed.sha.hexdigest()}, expected "
            f"{entry.sha256}){f': {failure}' if failure else ''}. The snapshot is damaged; restore an earlier one. "
            "Nothing was imported"
        )
    if failure is not None:
        raise failure
    if entry.rows is not None and rows != entry.rows:
        raise ChecksumMismatch(f"{entry.path} held {rows} rows, the manifest says {entry.rows}. Nothing was imported")


def _as_text(row: Sequence[Any]) -> list[Any]:
    """Identifying values as the export wrote them into the file (COPY text): numbers and text alike."""
    return [v if v is None or isinstance(v, str) else str(v) for v in row]


def _reseal_stage(
    session: RestoreSession, table: TableSchema, columns: Sequence[str], box: SecretBox, fernet: AirflowFernet
) -> None:
    """Secret columns arrive sealed with the snapshot's data key; store them as Airflow would here."""
    stage = _stage_name(table.name)
    changed = [c for c in table.policy.sealed_columns if c in columns]
    if not changed:  # e.g. bundle URL templates, Airflow 3.1+ only
        return
    select = ", ".join(quote(c) for c in columns)
    assignments = ", ".join(f"{quote(c)} = %s" for c in changed)
    ident = [c for c in (table.surrogate_key, *table.policy.natural_key) if c]
    for row_id, *values in session.query(f"SELECT {session.row_id}, {select} FROM {stage}"):
        row = list(values)
        reseal_row(row, columns, table.policy, fernet, box, binding(table.name, columns, _as_text(row), ident))
        session.execute(
            f"UPDATE {stage} SET {assignments} WHERE {session.row_id} = %s",
            [*(row[columns.index(c)] for c in changed), row_id],
        )


# --- inserting ---------------------------------------------------------------------------------


def _reference_exprs(
    table: TableSchema, schema: Schema, remaps: dict[str, _Remap], *, own: bool | None = None
) -> tuple[dict[str, str], list[str]]:
    """SQL expressions (over staging alias `s`) for reference columns whose values change (none: nothing to rewrite).

    `own` picks the references to rewrite: True only the table's references to itself, False only the others,
    None all of them.
    """
    exprs: dict[str, str] = {}
    joins: list[str] = []
    for i, ref in enumerate(table.references):
        if own is not None and (ref.ref_table == table.name) is not own:
            continue
        parent = schema.tables.get(ref.ref_table)
        remap = remaps.get(ref.ref_table)
        if parent is None or remap is None or len(ref.columns) != 1 or ref.ref_columns != (parent.surrogate_key,):
            continue
        if not remap.offset and not remap.map_table:  # the parent's keys stay as they are
            continue
        col = quote(ref.columns[0])
        if ref.text:  # the key as text (Airflow 3's user ids): values that are no key of the snapshot stay
            if not remap.map_table:
                raise SchemaError(f"{table.name}.{ref.columns[0]} holds {ref.ref_table} keys as text: not merged")
            joins.append(f"LEFT JOIN {remap.map_table} j{i} ON CAST(j{i}.old AS TEXT) = s.{col}")
            exprs[ref.columns[0]] = f"COALESCE(CAST(j{i}.new AS TEXT), s.{col})"
            continue
        shifted = f"s.{col} + {remap.offset}" if remap.offset else f"s.{col}"
        if remap.map_table:
            joins.append(f"LEFT JOIN {remap.map_table} j{i} ON j{i}.old = s.{col}")
            exprs[ref.columns[0]] = f"COALESCE(j{i}.new, {shifted})"
        else:
            exprs[ref.columns[0]] = shifted
    return exprs, joins


def _reserve(session: RestoreSession, table: TableSchema, stage: str, where: str = "") -> int:
    """The offset for the staged rows' keys (those matching `where`): reserved past the target's keys."""
    key = table.surrogate_key
    assert key is not None
    high = session.query(f"SELECT MAX(s.{quote(key)}) FROM {stage} s {where}")[0][0]
    return session.reserve_keys(table.name, key, int(high)) if high is not None else 0


def _renumbering(table: TableSchema) -> dict[str, str]:
    """Airflow 3's DAG versions go in with negated numbers until the last step (module docstring)."""
    return {VERSION_NUMBER: f"-s.{quote(VERSION_NUMBER)}"} if table.name == VERSIONS_TABLE else {}


def bulk_fits(rows: int, lock_budget_seconds: float | None) -> bool:
    """Whether the bulk path's exclusive locks may be taken: always offline (no budget), else if predicted to fit."""
    return lock_budget_seconds is None or rows / PREDICTED_ROWS_PER_SECOND <= lock_budget_seconds


def _copy(
    session: RestoreSession,
    load: _Load,
    table: TableSchema,
    schema: Schema,
    remaps: dict[str, _Remap],
    bulk_allowed: bool,
) -> None:
    """History: every row is inserted, keys shifted, references rewritten; straight from the file if none change."""
    key = table.surrogate_key
    shift = bool(key) and not session.keys_untouched(table.name, key)  # type: ignore[arg-type]
    if key:
        remaps[table.name] = _Remap(0)  # until the offset is reserved (after staging, when the keys are known)
    exprs, _ = _reference_exprs(table, schema, remaps)
    bulk = (
        bulk_allowed
        and (load.entry.rows or 0) >= BULK_ROWS
        and session.dialect == "postgresql"
        and _owns(session, table.name)
    )
    with _without_secondary_indexes(session, table.name) if bulk else contextlib.nullcontext():
        if not exprs and not shift and not _renumbering(table) and not table.policy.sealed_columns:
            _load(session, load.store, load.entry, table.name)
            load.progress("load", table.name, load.entry.rows or 0)
            if key:  # at once: the live environment's next insert must not take a restored id
                session.reset_sequence(table.name, key)
            return
        _stage(session, load.store, load.entry, table, load.box, load.fernet)
        load.progress("load", table.name, load.entry.rows or 0)
        stage = _stage_name(table.name)
        if shift:
            remaps[table.name] = _Remap(_reserve(session, table, stage))
        exprs, joins = _reference_exprs(table, schema, remaps)
        exprs |= _renumbering(table)
        if key and remaps[table.name].offset:
            exprs[key] = f"s.{quote(key)} + {remaps[table.name].offset}"
        cols = ", ".join(quote(c) for c in table.columns)
        select = ", ".join(exprs.get(c, f"s.{quote(c)}") for c in table.columns)
        session.execute(f"INSERT INTO {quote(table.name)} ({cols}) SELECT {select} FROM {stage} s {' '.join(joins)}")


def _owns(session: RestoreSession, table: str) -> bool:
    """Dropping keys and indexes needs the table's owner (Airflow's own user on MWAA); otherwise insert in place."""
    rows = session.query(
        "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", (quote(table),)
    )
    return bool(rows and rows[0][0])


_CONSTRAINTS_OF = (
    "SELECT k.conname, k.contype, t.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
    "JOIN pg_class t ON t.oid = k.conrelid "
    "WHERE (k.conrelid = %(t)s::regclass AND k.contype IN ('p', 'u', 'f')) "
    "OR (k.confrelid = %(t)s::regclass AND k.contype = 'f' AND k.conrelid <> k.confrelid)"
)
_PLAIN_INDEXES_OF = (
    "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
    "WHERE x.indrelid = %(t)s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid "
    "AND k.conrelid = x.indrelid)"
)


@contextlib.contextmanager
def _without_secondary_indexes(session: RestoreSession, table: str) -> Iterator[None]:
    """Insert into a bare heap, then build every index once by sorting and check every key in one pass.

    Drops the table's keys, unique constraints and indexes, its foreign keys and the foreign keys that
    point at it, and re-creates them all after the insert, in that order. Inside the restore's
    transaction: a failure rolls the drops back with everything else, and a duplicate key (a
    collision with the target's own rows) fails the re-created key with a unique violation.
    """
    params = {"t": quote(table)}
    constraints = session.query(_CONSTRAINTS_OF, params)
    indexes = session.query(_PLAIN_INDEXES_OF, params)
    foreign = [c for c in constraints if c[1] == "f"]
    keys = [c for c in constraints if c[1] != "f"]
    for name, _, owner, _ in (*foreign, *keys):
        session.execute(f"ALTER TABLE {quote(owner)} DROP CONSTRAINT {quote(name)}")
    for index, _ in indexes:
        session.execute(f"DROP INDEX {quote(index)}")
    yield
    session.execute(
        "SELECT set_config('maintenance_work_mem', %s, true), set_config('work_mem', %s, true)",
        (INDEX_BUILD_MEMORY, KEY_CHECK_MEMORY),
    )
    for name, _, owner, definition in keys:
        session.execute(f"ALTER TABLE {quote(owner)} ADD CONSTRAINT {quote(name)} {definition}")
    for _, definition in indexes:
        session.execute(definition)
    for name, _, owner, definition in foreign:
        session.execute(f"ALTER TABLE {quote(owner)} ADD CONSTRAINT {quote(name)} {definition}")


def _match(table: TableSchema) -> str:
    return " AND ".join(f"t.{quote(c)} IS NOT DISTINCT FROM s.{quote(c)}" for c in table.policy.natural_key)


def _merge(session: RestoreSession, table: TableSchema, schema: Schema, remaps: dict[str, _Remap]) -> None:
    """Configuration and registries: match on the natural key, update chosen columns, insert the rest."""
    stage, target, key = _stage_name(table.name), quote(table.name), table.surrogate_key
    # References to other tables first, so natural keys made of references compare rewritten values; then
    # references to this table's own rows, once the match says where each of them went (a user created by
    # another user points at its creator's id in the target, whether the creator was matched or inserted).
    _rewrite_references(session, stage, *_reference_exprs(table, schema, remaps, own=False))
    offset = 0
    if key:
        map_table = quote(MAP_PREFIX + table.name)
        session.create_map(MAP_PREFIX + table.name)
        session.execute(
            f"INSERT INTO {map_table} (old, new) SELECT s.{quote(key)}, t.{quote(key)} "
            f"FROM {stage} s JOIN {target} t ON {_match(table)}"
        )
        unmatched = f"WHERE NOT EXISTS (SELECT 1 FROM {map_table} m WHERE m.old = s.{quote(key)})"
        if not session.keys_untouched(table.name, key):
            offset = _reserve(session, table, stage, unmatched)
        # Every staged key in the map, matched or not: text references (Airflow 3's user ids) go through it.
        session.execute(
            f"INSERT INTO {map_table} (old, new) SELECT s.{quote(key)}, s.{quote(key)} + {offset} FROM {stage} s "
            f"{unmatched}"
        )
        remaps[table.name] = _Remap(offset, map_table)
        _rewrite_references(session, stage, *_reference_exprs(table, schema, remaps, own=True))
    update = table.update_columns
    if update and table.name != "dag":  # the dag rows the parser keeps writing are updated in the last step
        sets = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in update)
        session.execute(f"UPDATE {target} AS t SET {sets} FROM {stage} s WHERE {_match(table)}")
    cols = ", ".join(quote(c) for c in table.columns)
    select = ", ".join(f"s.{quote(c)} + {offset}" if c == key and offset else f"s.{quote(c)}" for c in table.columns)
    # Without a key of its own a row the live environment inserts meanwhile (a DAG its parser just found) is the
    # same row: keep the target's. With one, a collision fails the restore rather than leave references dangling.
    session.execute(
        f"INSERT INTO {target} ({cols}) SELECT {select} FROM {stage} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {_match(table)}){'' if key else ' ON CONFLICT DO NOTHING'}"
    )
    if key and not _keys_move(session, stage, key, remaps[table.name]):
        remaps[table.name] = _Remap(0)  # every snapshot row kept its id: references to it stay as they are


def _rewrite_references(session: RestoreSession, stage: str, exprs: dict[str, str], joins: list[str]) -> None:
    """Set the staged rows' reference columns to their values in the target."""
    if not exprs:
        return
    sets = ", ".join(f"{quote(c)} = x.{quote(c)}" for c in exprs)
    rewritten = ", ".join(f"{e} AS {quote(c)}" for c, e in exprs.items())
    row_id = session.row_id
    session.execute(
        f"UPDATE {stage} AS u SET {sets} FROM (SELECT s.{row_id} AS row_id, {rewritten} FROM {stage} s "
        f"{' '.join(joins)}) x WHERE u.{row_id} = x.row_id"
    )


def _keys_move(session: RestoreSession, stage: str, key: str, remap: _Remap) -> bool:
    """Whether any staged row's key changed: matched to a target row with another id, or shifted."""
    rows = session.query(
        f"SELECT EXISTS (SELECT 1 FROM {stage} s LEFT JOIN {remap.map_table} m ON m.old = s.{quote(key)} "
        f"WHERE COALESCE(m.new, s.{quote(key)} + {remap.offset}) <> s.{quote(key)})"
    )
    return bool(rows[0][0])


# --- finishing ---------------------------------------------------------------------------------


def _update_matched_dags(session: RestoreSession, schema: Schema, excluded: Sequence[str]) -> None:
    """The snapshot's values of `dag` rows the target has (`update` columns), except the hibernation DAGs' own.

    Done last: the DAG parser updates these rows on every parse, and would wait on our row locks until commit.
    """
    table = schema.tables.get("dag")
    update = table.update_columns if table else ()
    if table is None or not update:
        return
    skip, params = (" AND t.dag_id NOT IN %(excluded)s", {"excluded": tuple(excluded)}) if excluded else ("", {})
    sets = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in update)
    session.execute(f"UPDATE dag AS t SET {sets} FROM {_stage_name('dag')} s WHERE {_match(table)}{skip}", params)


def _renumber_versions(session: RestoreSession) -> None:
    """The target's own DAG versions above the snapshot's, then the snapshot's numbers back (module docstring)."""
    table, number = quote(VERSIONS_TABLE), quote(VERSION_NUMBER)
    session.lock_table(VERSIONS_TABLE)
    restored = f"SELECT dag_id FROM {table} WHERE {number} < 0"
    session.execute(
        f"UPDATE {table} SET {number} = {number} + {PARKED_VERSIONS} WHERE {number} > 0 AND dag_id IN ({restored})"
    )
    session.execute(
        f"UPDATE {table} AS t SET {number} = t.{number} - {PARKED_VERSIONS} + s.top "
        f"FROM (SELECT dag_id, MAX(-{number}) AS top FROM {table} WHERE {number} < 0 GROUP BY dag_id) s "
        f"WHERE t.dag_id = s.dag_id AND t.{number} > {PARKED_VERSIONS}"
    )
    session.execute(f"UPDATE {table} SET {number} = -{number} WHERE {number} < 0")


def _apply_paused_state(
    session: RestoreSession, paused: dict[str, bool] | None, excluded: Sequence[str]
) -> tuple[str, ...]:
    """Each DAG's is_paused as it was before the export paused it; returns the DAGs left unpaused."""
    if paused:
        current = {dag_id: bool(is_paused) for dag_id, is_paused in session.query("SELECT dag_id, is_paused FROM dag")}
        todo = changes(paused, current, skip=excluded)
        for ids, state in ((todo.paused, True), (todo.unpaused, False)):
            for batch in batches(ids):
                session.execute(
                    "UPDATE dag SET is_paused = %(paused)s WHERE dag_id IN %(ids)s",
                    {"paused": state, "ids": tuple(batch)},
                )
    skip, params = (" AND d.dag_id NOT IN %(excluded)s", {"excluded": tuple(excluded)}) if excluded else ("", {})
    rows = session.query(
        f"SELECT d.dag_id FROM dag d JOIN {_stage_name('dag')} s ON s.dag_id = d.dag_id "
        f"WHERE NOT d.is_paused{skip} ORDER BY d.dag_id",
        params,
    )
    return tuple(r[0] for r in rows)


def _reset_sequences(session: RestoreSession, tables: Sequence[TableSchema]) -> None:
    """Point each shifted table's sequence past its largest id, so the next insert does not collide."""
    for table in tables:
        key = table.surrogate_key
        assert key is not None
        session.reset_sequence(table.name, key)


def _mark(session: RestoreSession, manifest: Manifest) -> None:
    extra = json.dumps({"snapshot_id": manifest.snapshot_id, "rows": manifest.rows, "files": len(manifest.files)})
    session.execute(
        "INSERT INTO log (dttm, event, owner, extra) VALUES (%s, %s, %s, %s)",
        (datetime.now(UTC), MARKER_EVENT, MARKER_OWNER, extra),
    )
