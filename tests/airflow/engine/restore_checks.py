"""Comparing a source database with the database a snapshot was restored into, table by table.

Ids differ when the target had rows of its own (keys are shifted), so rows are compared on every
column except surrogate keys, shifted references and secrets; references are checked by content:
for each shifted reference, the pair (child row, referenced row) must be the same in both databases.
The target's own rows are taken out by multiset difference with what it held before the restore,
which also proves they were not touched.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from conftest import query, table_rows
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


def shifted_reference_columns(table: TableSchema, schema: Schema) -> dict[str, str]:
    """Reference columns whose values change on restore -> the referenced table."""
    out = {}
    for ref in table.references:
        parent = schema.tables.get(ref.ref_table)
        if parent and len(ref.columns) == 1 and ref.ref_columns == (parent.surrogate_key,):
            out[ref.columns[0]] = ref.ref_table
    return out


def projection(table: TableSchema, schema: Schema, *, drop: tuple[str, ...] = ()) -> Projection:
    skip = {table.surrogate_key, *shifted_reference_columns(table, schema), *drop}
    skip |= {c for pair in table.policy.secrets for c in pair if c}
    return Projection(table, tuple(c for c in table.columns if c not in skip))


def projected_rows(url: str, proj: Projection, *, where: str = "") -> collections.Counter[str]:
    cols = ", ".join(f'"{c}"' for c in proj.columns)
    rows = query(url, f"SET TimeZone = 'UTC'; SELECT ROW({cols})::text FROM \"{proj.table.name}\" t {where}")
    return collections.Counter(r[0] for r in rows)


def reference_pairs(url: str, table: TableSchema, column: str, parent: TableSchema, schema: Schema, where: str = ""):
    """(child row, referenced row) texts for one shifted reference, by content."""
    child = projection(table, schema)
    parent_cols = parent.policy.natural_key or projection(parent, schema).columns
    c_cols = ", ".join(f't."{c}"' for c in child.columns)
    p_cols = ", ".join(f'p."{c}"' for c in parent_cols)
    sql = (
        f"SET TimeZone = 'UTC'; SELECT ROW({c_cols})::text, CASE WHEN p.\"{parent.surrogate_key}\" IS NULL THEN NULL "
        f'ELSE ROW({p_cols})::text END FROM "{table.name}" t LEFT JOIN "{parent.name}" p '
        f'ON p."{parent.surrogate_key}" = t."{column}" WHERE t."{column}" IS NOT NULL {where.replace("WHERE", "AND")}'
    )
    return collections.Counter(query(url, sql))


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
        for column, parent in shifted_reference_columns(table, schema).items():
            state[(table.name, column)] = reference_pairs(url, table, column, schema.tables[parent], schema)
    state["__full__"] = {t: table_rows(url, t) for t in schema.tables}
    return state


def assert_copied_tables_identical(source_url: str, target_url: str, before: dict, schema: Schema, exclude_sql: dict):
    """Every copied table: restored rows == source rows (projected); references equal by content."""
    for table in schema.tables.values():
        if table.policy.kind is not Kind.COPIED:
            continue
        proj = projection(table, schema)
        expected = projected_rows(source_url, proj, where=exclude_sql.get(table.name, ""))
        restored = without(projected_rows(target_url, proj), before[table.name])
        if table.name == "log":
            restored = collections.Counter({k: v for k, v in restored.items() if "mwaa-hibernate restore" not in k})
        assert restored == expected, f"{table.name}: restored rows differ from the source"
        for column, parent in shifted_reference_columns(table, schema).items():
            p = schema.tables[parent]
            src_pairs = reference_pairs(source_url, table, column, p, schema, exclude_sql.get(table.name, ""))
            dst_pairs = without(reference_pairs(target_url, table, column, p, schema), before[(table.name, column)])
            assert dst_pairs == src_pairs, f"{table.name}.{column} -> {parent}: references differ from the source"


def assert_merged_tables(source_url: str, target_url: str, before: dict, schema: Schema):
    """Merged tables: every source natural key present; unmatched rows identical; target-only rows untouched."""
    for table in schema.tables.values():
        if table.policy.kind is not Kind.MERGED or table.name in MERGE_EXEMPT:
            continue
        key = ", ".join(f'"{c}"' for c in table.policy.natural_key)
        if shifted_reference_columns(table, schema).keys() & set(table.policy.natural_key):
            # keys made of references (ab_user_role): compare by the referenced rows' natural keys
            continue
        proj = projection(table, schema)
        src = {r[0]: r[1] for r in query(source_url, _keyed(table, proj, key))}
        dst = {r[0]: r[1] for r in query(target_url, _keyed(table, proj, key))}
        for nk in src:
            assert nk in dst, f"{table.name} {nk} from the snapshot is missing"
        if not table.policy.update:
            continue
        secret = {c for pair in table.policy.secrets for c in pair if c}
        cols = ", ".join(f'"{c}"' for c in table.policy.update if c not in secret)
        sel = f"SET TimeZone = 'UTC'; SELECT ROW({key})::text, ROW({cols})::text FROM \"{table.name}\""
        src_upd = dict(query(source_url, sel))
        dst_upd = dict(query(target_url, sel))
        for nk, values in src_upd.items():
            assert dst_upd[nk] == values, f"{table.name} {nk}: the snapshot's values did not win"


def _keyed(table: TableSchema, proj: Projection, key: str) -> str:
    cols = ", ".join(f'"{c}"' for c in proj.columns)
    return f"SET TimeZone = 'UTC'; SELECT ROW({key})::text, ROW({cols})::text FROM \"{table.name}\""
