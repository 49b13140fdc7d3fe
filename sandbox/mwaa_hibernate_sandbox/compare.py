"""Compare a restored metadata database with the one before hibernation, table by table.

The source database is dropped with its environment, so ``capture_database`` reads every row of every
table first (before the hibernation starts) and the comparison runs against that image. What "the
same" means comes from the engine's own classification (``mwaa_hibernate_engine.classification``):

- copied tables: every column of every row, as a multiset of rows;
- merged tables: the natural key and the columns the restore brings back (the new environment owns
  the rest, e.g. when it parsed a DAG);
- owned tables: not restored, listed with the reason.

The jobs' ``LIVE_COLUMNS`` are left out: the old environment's scheduler keeps heartbeating between
the moment the image is read and the export, so they differ for a reason that is not the restore's.

Surrogate ids (single-column integer primary keys) differ by design after a restore, because the
restore shifts them past the new environment's own rows. They are compared through what they point
at: an id is replaced by the referenced row's natural key (merged tables) or its content (copied
tables), for declared foreign keys and for the engine's ``IMPLICIT_REFERENCES`` alike.

Secrets are compared in plain text: each side is decrypted with its own environment's Fernet key,
since the restore re-encrypts them with the new one.

Rows the cycle itself wrote are not differences, and are reported on their own: rows of the
hibernation DAGs (their runs, task instances, XComs, DAG rows), and rows that appear only after the
restore with a timestamp inside the cycle (the new environment's scheduler job, audit-log lines) or
that belong to a DAG run started inside it (rendered fields have no timestamp of their own).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mwaa_hibernate_engine.classification import IMPLICIT_REFERENCES, TABLES, VERSIONING_TABLE, Kind, TablePolicy
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

log = logging.getLogger(__name__)

# How deep a reference is followed when an id is replaced by what it points at. Two levels tell apart
# e.g. two XComs of runs that differ only in their run's content; deeper chains add nothing here and
# self-references (ab_user.created_by_fk) must stop somewhere.
REFERENCE_DEPTH = 2
# How many differing rows of one table a report shows (the count is always complete).
SHOWN_DIFFERENCES = 5
# Columns the old environment keeps writing while it lives, after the "before" image was read and until
# the export: its running scheduler and triggerer jobs heartbeat (and the new scheduler marks them failed
# once restored, as the engine intends). Every other column of these tables is compared.
LIVE_COLUMNS: dict[str, tuple[str, ...]] = {"job": ("state", "latest_heartbeat", "end_date")}

Row = dict[str, Any]
Normalised = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class TableImage:
    name: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class DatabaseImage:
    """Every row of every table of one metadata database, secrets decrypted, at one moment."""

    tables: Mapping[str, TableImage]
    references: Mapping[tuple[str, str], str]  # (table, column) -> referenced table (single-column references)
    captured_at: dt.datetime


def _plain_secret(value: Any, fernet: Any) -> Any:
    if fernet is None or not isinstance(value, str) or not value:
        return value
    try:
        return ("decrypted", fernet.decrypt(value.encode()).decode())
    except Exception:  # not encrypted (or not with this key): compare the stored text
        return value


def capture_database(*, url: str, fernet_key: str | None) -> DatabaseImage:
    """Read the whole database in one repeatable-read transaction; decrypt secret columns with ``fernet_key``."""
    import sqlalchemy as sa
    from cryptography.fernet import Fernet

    fernet = Fernet(fernet_key.encode()) if fernet_key else None
    engine = sa.create_engine(url, isolation_level="REPEATABLE READ")
    try:
        metadata = sa.MetaData()
        metadata.reflect(bind=engine)
        tables: dict[str, TableImage] = {}
        references: dict[tuple[str, str], str] = {}
        with engine.connect() as connection:
            captured_at = dt.datetime.now(dt.UTC)
            for name, table in metadata.tables.items():
                policy = TABLES.get(name)
                secret_columns = dict(policy.secrets) if policy else {}
                rows = []
                for record in connection.execute(sa.select(table)).mappings():
                    row = dict(record)
                    for column, flag in secret_columns.items():
                        if flag is None or row.get(flag):
                            row[column] = _plain_secret(row.get(column), fernet)
                    rows.append(row)
                tables[name] = TableImage(
                    name=name,
                    columns=tuple(column.name for column in table.columns),
                    primary_key=tuple(column.name for column in table.primary_key.columns),
                    rows=tuple(rows),
                )
                for constraint in table.foreign_key_constraints:
                    if len(constraint.column_keys) == 1:
                        references[(name, constraint.column_keys[0])] = constraint.referred_table.name
        for (table_name, column), (referenced, _) in IMPLICIT_REFERENCES.items():
            references.setdefault((table_name, column), referenced)
        return DatabaseImage(tables=tables, references=references, captured_at=captured_at)
    finally:
        engine.dispose()


class _Normaliser:
    """Rows of one image as comparable tuples, with surrogate ids replaced by what they point at."""

    def __init__(self, image: DatabaseImage) -> None:
        self.image = image
        self.surrogates = {
            name: table.primary_key[0]
            for name, table in image.tables.items()
            if len(table.primary_key) == 1 and all(isinstance(row[table.primary_key[0]], int) for row in table.rows)
        }
        self._by_id = {name: {row[pk]: row for row in image.tables[name].rows} for name, pk in self.surrogates.items()}
        self._tokens: dict[tuple[str, Any, int], Any] = {}

    def compared_columns(self, table: str, policy: TablePolicy | None) -> tuple[str, ...]:
        columns = self.image.tables[table].columns
        if policy is not None and policy.kind is Kind.MERGED:
            columns = tuple(c for c in columns if c in (*policy.natural_key, *policy.update))
        skipped = (self.surrogates.get(table), *LIVE_COLUMNS.get(table, ()))
        return tuple(c for c in columns if c not in skipped)

    def value(self, table: str, column: str, value: Any, depth: int) -> Any:
        referenced = self.image.references.get((table, column))
        if referenced in self.surrogates and value is not None:
            return ("ref", referenced, self.token(referenced, value, depth - 1))
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True)
        return value

    def token(self, table: str, row_id: Any, depth: int) -> Any:
        """What a surrogate id stands for: the row's natural key (merged tables) or its content."""
        if depth <= 0:
            return "..."
        cache_key = (table, row_id, depth)
        if cache_key not in self._tokens:
            row = self._by_id[table].get(row_id)
            if row is None:
                self._tokens[cache_key] = ("dangling", row_id)
            else:
                policy = TABLES.get(table)
                columns = policy.natural_key if policy and policy.natural_key else self.compared_columns(table, policy)
                self._tokens[cache_key] = tuple((c, self.value(table, c, row[c], depth)) for c in columns)
        return self._tokens[cache_key]

    def row(self, table: str, row: Row, columns: Iterable[str]) -> Normalised:
        return tuple((column, self.value(table, column, row.get(column), REFERENCE_DEPTH)) for column in columns)


@dataclass(frozen=True)
class TableComparison:
    table: str
    kind: str
    before: int
    after: int
    cycle_rows: int  # rows the cycle itself wrote (hibernation DAGs, the new environment's own rows)
    missing: int  # rows before the hibernation that the restore did not bring back
    unexpected: int  # rows after the restore that were not there before and the cycle did not write
    examples: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        return self.missing == 0 and self.unexpected == 0


@dataclass(frozen=True)
class Comparison:
    tables: tuple[TableComparison, ...]
    not_restored: Mapping[str, str]  # owned table -> why the new environment owns it
    paused_before: Mapping[str, bool]
    paused_after: Mapping[str, bool]
    unknown_tables: tuple[str, ...] = field(default=())

    @property
    def paused_identical(self) -> bool:
        return dict(self.paused_before) == dict(self.paused_after)

    @property
    def identical(self) -> bool:
        return all(t.identical for t in self.tables) and self.paused_identical and not self.unknown_tables

    def differences(self) -> list[str]:
        """One sentence per difference, for a person (empty when identical)."""
        found = [
            f"{t.table}: {t.missing} row(s) missing, {t.unexpected} unexpected row(s)"
            + (f"; e.g. {t.examples[0]}" if t.examples else "")
            for t in self.tables
            if not t.identical
        ]
        for dag_id in sorted(set(self.paused_before) | set(self.paused_after)):
            before, after = self.paused_before.get(dag_id), self.paused_after.get(dag_id)
            if before != after:
                found.append(f"DAG {dag_id}: paused {before} before hibernation, {after} after the restore")
        found += [f"{name}: not classified by the engine, so not compared" for name in self.unknown_tables]
        return found


def _is_hibernation_row(row: Row) -> bool:
    return row.get("dag_id") in HIBERNATION_DAG_IDS


def _written_during(row: Row, since: dt.datetime, until: dt.datetime, new_runs: frozenset[tuple[str, str]]) -> bool:
    """A timestamp inside the cycle, or part of a DAG run that started inside it (rows without timestamps)."""
    if (row.get("dag_id"), row.get("run_id")) in new_runs:
        return True
    for value in row.values():
        if isinstance(value, dt.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            if since <= moment <= until:
                return True
    return False


def paused_states(image: DatabaseImage) -> dict[str, bool]:
    """Each DAG's is_paused, the hibernation DAGs left out (their state is the cycle's, not the user's)."""
    dag = image.tables.get("dag")
    if dag is None:
        return {}
    return {row["dag_id"]: bool(row["is_paused"]) for row in dag.rows if not _is_hibernation_row(row)}


def compare_databases(before: DatabaseImage, after: DatabaseImage, *, cycle_started: dt.datetime) -> Comparison:
    """Table by table: is every row from before back, and is every other row one the cycle wrote?"""
    normal_before, normal_after = _Normaliser(before), _Normaliser(after)
    runs_before = {
        (row["dag_id"], row["run_id"]) for row in before.tables.get("dag_run", TableImage("", (), (), ())).rows
    }
    new_runs = frozenset(
        (row["dag_id"], row["run_id"])
        for row in after.tables.get("dag_run", TableImage("", (), (), ())).rows
        if (row["dag_id"], row["run_id"]) not in runs_before
        and _written_during(row, cycle_started, after.captured_at, frozenset())
    )
    results: list[TableComparison] = []
    not_restored: dict[str, str] = {}
    unknown: list[str] = []
    versioned = VERSIONING_TABLE in before.tables  # Airflow 3: DAG versions and their serialized DAGs are history
    for name in sorted(set(before.tables) | set(after.tables)):
        policy = TABLES.get(name)
        if policy is None:
            unknown.append(name)
            continue
        policy = policy.versioned if versioned and policy.versioned else policy
        if policy.kind is Kind.OWNED:
            not_restored[name] = policy.reason
            continue
        if name not in before.tables or name not in after.tables:
            side = "after the restore" if name not in after.tables else "before the hibernation"
            results.append(TableComparison(name, policy.kind.value, 0, 0, 0, 0, 0, (f"table missing {side}",)))
            continue
        results.append(
            _compare_table(name, policy, normal_before, normal_after, cycle_started, after.captured_at, new_runs)
        )
    return Comparison(
        tables=tuple(results),
        not_restored=not_restored,
        paused_before=paused_states(before),
        paused_after=paused_states(after),
        unknown_tables=tuple(unknown),
    )


def _compare_table(
    name: str,
    policy: TablePolicy,
    normal_before: _Normaliser,
    normal_after: _Normaliser,
    cycle_started: dt.datetime,
    compared_at: dt.datetime,
    new_runs: frozenset[tuple[str, str]],
) -> TableComparison:
    rows_before = normal_before.image.tables[name].rows
    rows_after = normal_after.image.tables[name].rows
    columns = [c for c in normal_before.compared_columns(name, policy) if c in normal_after.image.tables[name].columns]
    cycle = 0
    kept_before: Counter[Normalised] = Counter()
    for row in rows_before:
        if not _is_hibernation_row(row):  # the hibernation DAGs' own rows are the cycle's, on either side
            kept_before[normal_before.row(name, row, columns)] += 1
    found_after: Counter[Normalised] = Counter()
    written_by_cycle: dict[Normalised, Row] = {}
    for row in rows_after:
        if _is_hibernation_row(row):
            cycle += 1
            continue
        normalised = normal_after.row(name, row, columns)
        found_after[normalised] += 1
        if _written_during(row, cycle_started, compared_at, new_runs):
            written_by_cycle[normalised] = row
    missing = kept_before - found_after
    extra = found_after - kept_before
    unexpected = 0
    examples: list[str] = []
    for normalised, count in extra.items():
        if normalised in written_by_cycle:
            cycle += count
        else:
            unexpected += count
            if len(examples) < SHOWN_DIFFERENCES:
                examples.append(f"unexpected {_describe(normalised)}")
    for normalised in list(missing)[: SHOWN_DIFFERENCES - len(examples)]:
        examples.append(f"missing {_describe(normalised)}")
    return TableComparison(
        table=name,
        kind=policy.kind.value,
        before=len(rows_before),
        after=len(rows_after),
        cycle_rows=cycle,
        missing=sum(missing.values()),
        unexpected=unexpected,
        examples=tuple(examples),
    )


def _describe(normalised: Normalised) -> str:
    text = ", ".join(f"{column}={value!r}" for column, value in normalised if not isinstance(value, tuple))
    return text[:300]
