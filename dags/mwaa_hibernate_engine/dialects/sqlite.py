"""The transport for SQLite metadata databases (Airflow's local development setup), same file format.

SQLite has no COPY and stores values its own way, so every value goes through Python: read, rendered
as PostgreSQL's text (`pgtext`), written with the CSV codec; on restore parsed back into what
SQLAlchemy stores on SQLite. The restore algorithm is the PostgreSQL one: its SQL is written with
psycopg2 placeholders, which `_adapt` turns into sqlite3's (lists expand to `(?, ?, ...)`).

Consistency: export reads in one transaction (`BEGIN`, `PRAGMA query_only`); restore holds SQLite's
write lock from the start (`BEGIN IMMEDIATE`), so two restores never interleave.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from mwaa_hibernate_engine.csvcodec import decode_rows, encode_row
from mwaa_hibernate_engine.dialects.base import FETCH_ROWS, TableFacts, quote, raw_connection
from mwaa_hibernate_engine.errors import UnsupportedDatabase
from mwaa_hibernate_engine.pgtext import Parse, Render, converters, parse_stored_datetime, store_datetime

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# The restore's SQL needs UPDATE ... FROM (3.33) and IS NOT DISTINCT FROM (3.39).
MIN_SQLITE_VERSION = (3, 39, 0)
# Rows per executemany() while loading a staging table.
INSERT_ROWS = 2000

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")


class SqliteTransport:
    """SQLite through SQLAlchemy's pysqlite engine; values converted by each column's reflected type."""

    dialect = "sqlite"

    def __init__(self, engine: Engine) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise UnsupportedDatabase(
                f"this Python's SQLite is {sqlite3.sqlite_version}; the snapshot engine needs "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer: use a Python built with a newer SQLite"
            )
        self.engine = engine
        self._types: dict[str, dict[str, Any]] | None = None

    def column_types(self) -> dict[str, dict[str, Any]]:
        """table -> column -> reflected SQLAlchemy type (in column order), read once."""
        if self._types is None:
            from sqlalchemy import inspect

            inspector = inspect(self.engine)
            self._types = {
                table: {c["name"]: c["type"] for c in inspector.get_columns(table)}
                for table in inspector.get_table_names()
                if not table.startswith("sqlite_")  # SQLite's own (sqlite_sequence): no application table
            }
        return self._types

    def describe(self) -> list[TableFacts]:
        """The same facts PostgresTransport reads from pg_catalog, from SQLAlchemy's inspector."""
        import sqlalchemy as sa
        from sqlalchemy import inspect

        inspector = inspect(self.engine)
        facts = []
        for table, types in self.column_types().items():
            primary_key = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ())
            integers = frozenset(c for c, t in types.items() if isinstance(t, sa.Integer))
            with warnings.catch_warnings():
                # Airflow 2.10+ declares some dataset foreign keys twice under two names; SQLAlchemy keeps one.
                warnings.filterwarnings("ignore", ".*SQL-parsed foreign key constraint", sa.exc.SAWarning)
                declared = inspector.get_foreign_keys(table)
            foreign_keys = tuple(
                (_name(fk), tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in sorted(declared, key=_name)
            )
            # A lone INTEGER PRIMARY KEY is SQLite's rowid. It is a generated id (PostgreSQL: serial) under the
            # rule SQLAlchemy used to create both schemas: not when it is a foreign key (dag_run_note.dag_run_id).
            referencing = {c for fk in foreign_keys for c in fk[1]}
            rowid = len(primary_key) == 1 and isinstance(types[primary_key[0]], sa.INTEGER)
            generated = frozenset(primary_key) if rowid and primary_key[0] not in referencing else frozenset()
            facts.append(
                TableFacts(
                    name=table,
                    columns=tuple(types),
                    integer_columns=integers,
                    generated_columns=generated,
                    primary_key=primary_key,
                    foreign_keys=foreign_keys,
                )
            )
        return facts

    def _converters(self, table: str, columns: Sequence[str]) -> list[tuple[Render, Parse]]:
        types = self.column_types()[table]
        return [converters(types[c]) for c in columns]

    @staticmethod
    def unique_violation(exc: BaseException) -> str | None:
        """SQLite's description of the collision if `exc` is a unique-key violation, else None."""
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc):
            return str(exc)
        return None

    @contextlib.contextmanager
    def export_session(self) -> Iterator[_SqliteExport]:
        with raw_connection(self.engine) as conn:
            conn.execute("PRAGMA query_only = ON")
            try:
                conn.execute("BEGIN")
                yield _SqliteExport(conn, self)
            finally:
                conn.rollback()
                conn.execute("PRAGMA query_only = OFF")

    @contextlib.contextmanager
    def restore_session(self) -> Iterator[_SqliteRestore]:
        with raw_connection(self.engine) as conn:
            conn.execute("BEGIN IMMEDIATE")
            session = _SqliteRestore(conn, self)
            yield session
            session.drop_temporary()
            conn.commit()


def _name(constraint: Mapping[str, Any]) -> str:
    return str(constraint.get("name") or "")


def _adapt(sql: str, params: Mapping[str, Any] | Sequence[Any] | None) -> tuple[str, Any]:
    """psycopg2's placeholders and values -> sqlite3's: lists expand, datetimes become SQLAlchemy's text."""
    if params is None:
        return sql.replace("%%", "%"), ()
    named: dict[str, Any] = {}
    listed: list[Any] = []
    positional = iter(() if isinstance(params, Mapping) else params)

    def bind(name: str | None, value: Any) -> str:
        if isinstance(value, list | tuple):
            return "(" + ", ".join(bind(f"{name}_{i}" if name else None, v) for i, v in enumerate(value)) + ")"
        if isinstance(value, datetime):
            value = store_datetime(parse_stored_datetime(value))
        if name is None:
            listed.append(value)
            return "?"
        named[name] = value
        return f":{name}"

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        if match.group(1):
            assert isinstance(params, Mapping)  # %(name)s placeholders come with named parameters
            return bind(match.group(1), params[match.group(1)])
        return bind(None, next(positional))

    sql = _PLACEHOLDER.sub(replace, sql)
    return sql, (named if isinstance(params, Mapping) else listed)


class _SqliteExport:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, transport: SqliteTransport) -> None:
        self.conn = conn
        self.transport = transport

    def alembic_revision(self) -> str | None:
        row = self.conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None

    def copy_out(self, table: str, columns: Sequence[str], where: str, params: dict[str, Any], sink: Any) -> int:
        sink.write(encode_row(columns))
        rows = 0
        for row in self.text_rows(table, columns, where, params):
            sink.write(encode_row(row))
            rows += 1
        return rows

    def text_rows(
        self, table: str, columns: Sequence[str], where: str, params: dict[str, Any]
    ) -> Iterator[tuple[str | None, ...]]:
        renderers = [render for render, _ in self.transport._converters(table, columns)]
        sql, args = _adapt(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)} t{where}", params)
        cursor = self.conn.execute(sql, args)
        while batch := cursor.fetchmany(FETCH_ROWS):
            for row in batch:
                yield tuple(render(value) for render, value in zip(renderers, row, strict=True))


class _SqliteRestore:
    dialect = "sqlite"
    row_id = "rowid"

    def __init__(self, conn: sqlite3.Connection, transport: SqliteTransport) -> None:
        self.conn = conn
        self.transport = transport
        self._like: dict[str, str] = {}  # staging table -> the live table it is shaped like
        self._temporary: list[str] = []

    def execute(self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None) -> int:
        return self.conn.execute(*_adapt(sql, params)).rowcount

    def query(self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(*_adapt(sql, params)).fetchall()

    def lock(self) -> None:
        """BEGIN IMMEDIATE took the database's write lock already: a second restore waits for this one."""

    def create_stage(self, stage: str, table: str, columns: Sequence[str]) -> None:
        cols = ", ".join(quote(c) for c in columns)
        self.conn.execute(f"CREATE TEMP TABLE {quote(stage)} AS SELECT {cols} FROM main.{quote(table)} WHERE false")
        self._like[stage] = table
        self._temporary.append(stage)

    def create_map(self, name: str) -> None:
        self.conn.execute(f"CREATE TEMP TABLE {quote(name)} (old INTEGER PRIMARY KEY, new INTEGER)")
        self._temporary.append(name)

    def copy_in(self, table: str, columns: Sequence[str], source: BinaryIO) -> int:
        """Parse the CSV, convert each value to what SQLAlchemy stores here, insert in batches."""
        parsers = [parse for _, parse in self.transport._converters(self._like.get(table, table), columns)]
        records = decode_rows(source)
        header = next(records, None)
        if header != list(columns):
            raise ValueError(f"the file's header {header} is not the manifest's columns {list(columns)}")
        cols, marks = ", ".join(quote(c) for c in columns), ", ".join("?" * len(columns))
        insert = f"INSERT INTO {quote(table)} ({cols}) VALUES ({marks})"
        rows, batch = 0, []
        for record in records:
            if len(record) != len(columns):
                raise ValueError(f"a row of {table} has {len(record)} values, the header {len(columns)}")
            batch.append([parse(value) for parse, value in zip(parsers, record, strict=True)])
            if len(batch) == INSERT_ROWS:
                self.conn.executemany(insert, batch)
                rows, batch = rows + len(batch), []
        if batch:
            self.conn.executemany(insert, batch)
            rows += len(batch)
        return rows

    def lock_table(self, table: str) -> None:
        """BEGIN IMMEDIATE holds the database's write lock: nobody else writes `table` until commit."""

    def keys_untouched(self, table: str, column: str) -> bool:
        return not self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})").fetchone()[0]

    def reserve_keys(self, table: str, column: str, high: int) -> int:
        """Nobody else writes while the restore holds the write lock: past the largest key is free."""
        return int(self.conn.execute(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}").fetchone()[0])

    def reset_sequence(self, table: str, column: str) -> None:
        """AUTOINCREMENT tables keep their counter in sqlite_sequence; others continue from max(rowid) anyway."""
        if not self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
            return
        self.conn.execute(
            f"UPDATE sqlite_sequence SET seq = (SELECT MAX({quote(column)}) FROM {quote(table)}) "
            f"WHERE name = ? AND seq < (SELECT MAX({quote(column)}) FROM {quote(table)})",
            (table,),
        )

    def drop_temporary(self) -> None:
        for name in reversed(self._temporary):
            self.conn.execute(f"DROP TABLE temp.{quote(name)}")
        self._temporary.clear()
