"""The live schema, read by reflection: tables, columns, keys and references, ordered parents first.

No column lists per Airflow version live in this package: what is copied is whatever the database has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mwaa_hibernate_engine.classification import (
    IMPLICIT_REFERENCES,
    IMPLICIT_TEXT_REFERENCES,
    VERSIONING_TABLE,
    TablePolicy,
    classify,
)
from mwaa_hibernate_engine.dialects.base import TableFacts
from mwaa_hibernate_engine.errors import SchemaError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Reference:
    """`columns` of the owning table point at `ref_columns` of `ref_table` (declared FK or implicit).

    `text`: the column holds the referenced integer key as text (Airflow 3's user ids of notes).
    """

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    text: bool = False


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    integer_columns: frozenset[str]
    generated_columns: frozenset[str]  # filled by a sequence (serial or identity) when omitted
    references: tuple[Reference, ...]
    policy: TablePolicy
    foreign_keys: tuple[str, ...] = field(default=())  # names of declared FK constraints

    @property
    def update_columns(self) -> tuple[str, ...]:
        """The policy's `update` columns this schema has (Airflow versions add some)."""
        return tuple(c for c in self.policy.update if c in self.columns)

    @property
    def surrogate_key(self) -> str | None:
        """The single integer primary-key column whose values are shifted on restore, if any."""
        if len(self.primary_key) == 1 and self.primary_key[0] in self.generated_columns:
            return self.primary_key[0]
        return None


@dataclass(frozen=True)
class Schema:
    tables: dict[str, TableSchema]  # parents before children

    @property
    def order(self) -> list[str]:
        return list(self.tables)

    @property
    def versions_dags(self) -> bool:
        """Whether runs point at DAG versions (Airflow 3)."""
        return VERSIONING_TABLE in self.tables


def reflect_schema(engine: Engine) -> Schema:
    """Read every table of the default schema from the catalog, classify it, and order it by references."""
    from mwaa_hibernate_engine.dialects import transport_for

    return build_schema(transport_for(engine).describe())


def build_schema(facts: Iterable[TableFacts]) -> Schema:
    by_name = {f.name: f for f in facts}
    names = sorted(by_name)
    policies = classify(names)
    tables: dict[str, TableSchema] = {}
    for name in names:
        fact = by_name[name]
        refs: list[Reference] = []
        seen: set[tuple[tuple[str, ...], str]] = set()
        for _, columns, ref_table, ref_columns in fact.foreign_keys:
            if (columns, ref_table) in seen:  # Airflow 2.10 declares some dataset FKs twice under two names
                continue
            seen.add((columns, ref_table))
            refs.append(Reference(columns, ref_table, ref_columns))
        for (table, column), (ref_table, ref_column) in IMPLICIT_REFERENCES.items():
            if table == name and column in fact.columns and ref_table in by_name:
                refs.append(Reference((column,), ref_table, (ref_column,)))
        declared = {r.columns for r in refs}
        for (table, column), (ref_table, ref_column) in IMPLICIT_TEXT_REFERENCES.items():
            if (
                table == name
                and column in fact.columns
                and column not in fact.integer_columns  # Airflow 2: an integer FK, declared
                and (column,) not in declared
                and ref_table in by_name
            ):
                refs.append(Reference((column,), ref_table, (ref_column,), text=True))
        tables[name] = TableSchema(
            name,
            fact.columns,
            fact.primary_key,
            fact.integer_columns,
            fact.generated_columns,
            tuple(refs),
            policies[name],
            tuple(fk[0] for fk in fact.foreign_keys),
        )
    return Schema({name: tables[name] for name in _parents_first(tables.values())})


def _parents_first(tables: Iterable[TableSchema]) -> list[str]:
    """Topological order (Kahn), ties broken by name so the order is reproducible; self-references ignored."""
    by_name = {t.name: t for t in tables}
    parents = {
        n: {r.ref_table for r in t.references if r.ref_table != n and r.ref_table in by_name}
        for n, t in by_name.items()
    }
    order: list[str] = []
    ready = sorted(n for n, p in parents.items() if not p)
    while ready:
        name = ready.pop(0)
        order.append(name)
        for child, p in parents.items():
            if name in p:
                p.discard(name)
                if not p and child not in order and child not in ready:
                    ready.append(child)
        ready.sort()
    if len(order) != len(by_name):
        cycle = sorted(set(by_name) - set(order))
        raise SchemaError(f"tables {cycle} reference each other in a cycle: the engine cannot order them")
    return order
