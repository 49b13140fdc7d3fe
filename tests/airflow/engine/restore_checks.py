"""Comparing a source database with the database a snapshot was restored into, table by table.

Ids differ when the target had rows of its own (keys are shifted), so rows are compared on every
column except surrogate keys, shifted references and secrets; references are checked by content:
for each shifted reference, the pair (child row, referenced row) must be the same in both databases.
The target's own rows are taken out by multiset difference with what it held before the restore,
which also proves they were not touched.

Rows are read through SQLAlchemy with the reflected column types and normalised (timestamps as naive
UTC, bytea as bytes, JSON as canonical text: a column is `json` in a database upgraded from Airflow 2 and
`jsonb` in a new one, and jsonb normalises spacing and key order), so the same checks compare PostgreSQL
with PostgreSQL, SQLite with SQLite, and one with the other.

Airflow 3's DAG versions: the target's own versions get new numbers (above the snapshot's), so
`version_number` is compared separately (`RENUMBERED`). Into a live target (its scheduler and API server
running), whose own rows change while the checks run (heartbeats, audit lines), `contains=True` checks
that every source row is in the target rather than that the target gained exactly those rows.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import warnings
from dataclasses import dataclass

import sqlalchemy as sa
from conftest import table_rows
from mwaa_hibernate_engine.classification import Kind
from mwaa_hibernate_engine.schema import Schema, TableSchema, reflect_schema
from sqlalchemy import create_engine


@dataclass(frozen=True)
class Projection:
    """The columns of a table that must be equal between source and restored rows."""

    table: TableSchema
    columns: tuple[str, ...]


def schema_of(url: str) -> Schema:
    engine = create_engine(url)
    try:
        return reflect_schema(engine)
    finally:
        engine.dispose()


# Columns a restore changes on the target's own rows by design: Airflow 3's DAG version numbers.
RENUMBERED = {"dag_version": ("version_number",)}


def shifted_reference_columns(table: TableSchema, schema: Schema) -> dict[str, str]:
    """Reference columns whose values change on restore -> the referenced table."""
    out = {}
    for ref in table.references:
        parent = schema.tables.get(ref.ref_table)
        if parent and len(ref.columns) == 1 and ref.ref_columns == (parent.surrogate_key,):
            out[ref.columns[0]] = ref.ref_table
    return out


def _text_references(table: TableSchema) -> set[str]:
    return {ref.columns[0] for ref in table.references if ref.text}


def _key_matches(parent_key: sa.ColumnElement, column: sa.ColumnElement, text: bool) -> sa.ColumnElement:
    """The join of a reference: a text reference holds the key as its decimal text."""
    return sa.cast(parent_key, sa.Text) == column if text else parent_key == column


def projection(table: TableSchema, schema: Schema, *, drop: tuple[str, ...] = ()) -> Projection:
    skip = {table.surrogate_key, *shifted_reference_columns(table, schema), *drop, *RENUMBERED.get(table.name, ())}
    skip |= set(table.policy.sealed_columns)
    return Projection(table, tuple(c for c in table.columns if c not in skip))


def _canonical_json(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True)


@functools.cache
def _engine(url: str) -> sa.engine.Engine:
    # JSON compared as canonical text (json and jsonb alike); no pool, so no connection outlives a check.
    return create_engine(url, json_deserializer=_canonical_json, poolclass=sa.pool.NullPool)


@functools.cache
def _tables_of(url: str) -> frozenset[str]:
    return frozenset(sa.inspect(_engine(url)).get_table_names())


def _table(url: str, name: str, alias: str) -> sa.sql.Alias:
    with warnings.catch_warnings():  # SQLite: expression indexes and Airflow's doubly declared foreign keys
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        return sa.Table(name, sa.MetaData(), autoload_with=_engine(url)).alias(alias)


def _normal(value: object) -> object:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _rows(url: str, select: sa.sql.Select) -> list[tuple]:
    with _engine(url).connect() as conn:
        return [tuple(_normal(v) for v in row) for row in conn.execute(select)]


def _where(select: sa.sql.Select, where: str) -> sa.sql.Select:
    return select.where(sa.text(where.removeprefix("WHERE"))) if where else select


def projected_rows(url: str, proj: Projection, *, where: str = "") -> collections.Counter[tuple]:
    t = _table(url, proj.table.name, "t")
    columns = [t.c[c] for c in proj.columns] or [sa.literal(1)]  # nothing left to compare: count the rows
    return collections.Counter(_rows(url, _where(sa.select(*columns).select_from(t), where)))


def reference_pairs(url: str, table: TableSchema, column: str, parent: TableSchema, schema: Schema, where: str = ""):
    """(child row, referenced row) for one shifted reference, by content."""
    child = projection(table, schema)
    parent_cols = parent.policy.natural_key or projection(parent, schema).columns
    t, p = _table(url, table.name, "t"), _table(url, parent.name, "p")
    key = p.c[parent.surrogate_key]
    select = (
        sa.select(*(t.c[c] for c in child.columns), key, *(p.c[c] for c in parent_cols))
        .select_from(t.outerjoin(p, _key_matches(key, t.c[column], column in _text_references(table))))
        .where(t.c[column].isnot(None))
    )
    n = len(child.columns)
    return collections.Counter(
        (row[:n], None if row[n] is None else row[n + 1 :]) for row in _rows(url, _where(select, where))
    )


def without(after: collections.Counter, before: collections.Counter) -> collections.Counter:
    """after - before, asserting that everything in before is still in after."""
    missing = before - after
    assert not missing, f"rows the target had before the restore are gone or changed: {list(missing)[:3]}"
    return after - before


MERGE_EXEMPT = {"dag"}  # its natural-key matches are checked by the tests themselves (paused states)


def capture(url: str, schema: Schema) -> dict[str, object]:
    """What the checks need from the target before the restore."""
    state: dict[str, object] = {}
    for table in schema.tables.values():
        if table.policy.kind is Kind.OWNED:
            continue
        state[table.name] = projected_rows(url, projection(table, schema))
        if table.policy.kind is Kind.MERGED:
            state[("natural keys", table.name)] = set(_keyed(url, table, ()))
        for column, parent in shifted_reference_columns(table, schema).items():
            state[(table.name, column)] = reference_pairs(url, table, column, schema.tables[parent], schema)
    state["__full__"] = {t: table_rows(url, t) for t in schema.tables}
    return state


def assert_copied_tables_identical(
    source_url: str, target_url: str, before: dict, schema: Schema, exclude_sql: dict, *, contains: bool = False
):
    """Every copied table: restored rows == source rows (projected); references equal by content.

    `contains`: the target is live (its own rows change meanwhile): every source row must be in the target.
    """
    for table in schema.tables.values():
        if table.policy.kind is not Kind.COPIED or table.name not in _tables_of(source_url):
            continue
        proj = projection(table, schema)
        expected = projected_rows(source_url, proj, where=exclude_sql.get(table.name, ""))
        if contains:
            missing = expected - projected_rows(target_url, proj)
            assert not missing, f"{table.name}: source rows missing in the target: {list(missing)[:3]}"
        else:
            restored = without(projected_rows(target_url, proj), before[table.name])
            if table.name == "log":
                restored = collections.Counter({k: v for k, v in restored.items() if "mwaa-hibernate restore" not in k})
            assert restored == expected, f"{table.name}: restored rows differ from the source"
        for column, parent in shifted_reference_columns(table, schema).items():
            p = schema.tables[parent]
            src_pairs = reference_pairs(source_url, table, column, p, schema, exclude_sql.get(table.name, ""))
            dst_all = reference_pairs(target_url, table, column, p, schema)
            if contains:
                missing = src_pairs - dst_all
                assert not missing, f"{table.name}.{column} -> {parent}: references missing: {list(missing)[:3]}"
                continue
            dst_pairs = without(dst_all, before[(table.name, column)])
            assert dst_pairs == src_pairs, f"{table.name}.{column} -> {parent}: references differ from the source"


def assert_merged_tables(source_url: str, target_url: str, before: dict, schema: Schema):
    """Merged tables: every source natural key present; unmatched rows identical; target-only rows untouched."""
    for table in schema.tables.values():
        if (
            table.policy.kind is not Kind.MERGED
            or table.name in MERGE_EXEMPT
            or table.name not in _tables_of(source_url)
        ):
            continue
        if shifted_reference_columns(table, schema).keys() & set(table.policy.natural_key):
            # keys made of references (ab_user_role): compare by the referenced rows' natural keys
            continue
        proj = projection(table, schema)
        src = _keyed(source_url, table, proj.columns)
        dst = _keyed(target_url, table, proj.columns)
        for nk in src:
            assert nk in dst, f"{table.name} {nk} from the snapshot is missing"
        _assert_merged_references(source_url, target_url, before, table, schema)
        if not table.update_columns:
            continue
        secret = set(table.policy.sealed_columns)
        updated = tuple(c for c in table.update_columns if c not in secret)
        dst_upd = _keyed(target_url, table, updated)
        for nk, values in _keyed(source_url, table, updated).items():
            assert dst_upd[nk] == values, f"{table.name} {nk}: the snapshot's values did not win"


def _keyed(url: str, table: TableSchema, columns: tuple[str, ...]) -> dict[tuple, tuple]:
    """natural key -> the row's `columns`."""
    t = _table(url, table.name, "t")
    n = len(table.policy.natural_key)
    rows = _rows(url, sa.select(*(t.c[c] for c in table.policy.natural_key), *(t.c[c] for c in columns)))
    return {row[:n]: row[n:] for row in rows}


def _assert_merged_references(source_url: str, target_url: str, before: dict, table: TableSchema, schema: Schema):
    """A merged row the restore inserted (or whose reference it updates) points at the same row, by content.

    Covers references to the table's own rows (a user created by another user) and to other merged tables,
    whose rows may have been matched to target rows with other ids.
    """
    had = before[("natural keys", table.name)]
    for column, parent in shifted_reference_columns(table, schema).items():
        src = _referenced(source_url, table, column, schema.tables[parent], schema)
        dst = _referenced(target_url, table, column, schema.tables[parent], schema)
        for nk, referenced in src.items():
            if nk in had and column not in table.update_columns:
                continue  # the target's own row keeps its own reference
            assert dst[nk] == referenced, f"{table.name} {nk}: {column} points at {dst[nk]}, not {referenced}"


def _referenced(
    url: str, table: TableSchema, column: str, parent: TableSchema, schema: Schema
) -> dict[tuple, tuple | None]:
    """natural key -> the referenced row's natural key (or its compared columns), None for no reference."""
    t, p = _table(url, table.name, "t"), _table(url, parent.name, "p")
    parent_cols = parent.policy.natural_key or projection(parent, schema).columns
    n = len(table.policy.natural_key)
    select = sa.select(*(t.c[c] for c in table.policy.natural_key), t.c[column], *(p.c[c] for c in parent_cols))
    join = _key_matches(p.c[parent.surrogate_key], t.c[column], column in _text_references(table))
    rows = _rows(url, select.select_from(t.outerjoin(p, join)))
    return {row[:n]: None if row[n] is None else row[n + 1 :] for row in rows}
