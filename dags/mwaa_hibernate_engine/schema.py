"""The live schema, read by reflection: tables, columns, keys and references, ordered parents first.

No column lists per Airflow version live in this package: what is copied is whatever the database has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mwaa_hibernate_engine.classification import IMPLICIT_REFERENCES, TablePolicy, classify
from mwaa_hibernate_engine.errors import SchemaError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Reference:
    """`columns` of the owning table point at `ref_columns` of `ref_table` (declared FK or implicit)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


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

    def referrers(self, table: str) -> list[tuple[TableSchema, Reference]]:
        return [(t, r) for t in self.tables.values() for r in t.references if r.ref_table == table]


def reflect_schema(engine: Engine) -> Schema:
    """Reflect every table of the default schema, classify it, and order the tables by references."""
    from sqlalchemy import Integer, inspect

    inspector = inspect(engine)
    names = sorted(inspector.get_table_names())
    policies = classify(names)
    tables: dict[str, TableSchema] = {}
    for name in names:
        columns = inspector.get_columns(name)
        col_names = tuple(c["name"] for c in columns)
        integers = frozenset(c["name"] for c in columns if isinstance(c["type"], Integer))
        generated = frozenset(
            c["name"] for c in columns if c.get("identity") or "nextval(" in str(c.get("default") or "")
        )
        refs: list[Reference] = []
        fk_names: list[str] = []
        seen: set[tuple[tuple[str, ...], str]] = set()
        for fk in inspector.get_foreign_keys(name):
            key = (tuple(fk["constrained_columns"]), fk["referred_table"])
            if fk.get("name"):
                fk_names.append(fk["name"])
            if key in seen:  # Airflow 2.10 declares some dataset FKs twice under two names
                continue
            seen.add(key)
            refs.append(Reference(key[0], fk["referred_table"], tuple(fk["referred_columns"])))
        for (table, column), (ref_table, ref_column) in IMPLICIT_REFERENCES.items():
            if table == name and column in col_names and ref_table in names:
                refs.append(Reference((column,), ref_table, (ref_column,)))
        pk = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
        tables[name] = TableSchema(
            name, col_names, pk, integers, generated, tuple(refs), policies[name], tuple(fk_names)
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
