"""PostgreSQL through psycopg2 (MWAA's metadata database): COPY both ways, server-side cursors for the rest."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from mwaa_hibernate_engine.dialects.base import (
    CANONICAL_SETTINGS,
    FETCH_ROWS,
    TableFacts,
    quote,
    raw_connection,
    refuse_autocommit,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# Bytes psycopg2 reads from the (gunzipping) source per call during COPY FROM (its default, 8 KiB, means
# thousands of Python-level reads per MiB).
COPY_IN_CHUNK = 1024 * 1024
# The catalog in three queries (SQLAlchemy's inspector takes ~1 s for Airflow's 48 tables: a query per table).
# A column is generated when it is an identity, has a nextval default, or is the primary key and has a sequence
# named after it: FAB's ab_* ids on Airflow 3.2+ have no default (SQLAlchemy calls nextval('<table>_id_seq')
# itself). Only the key: dag.pickle_id is no generated column although dag_pickle_id_seq exists.
_COLUMNS_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%%'
       OR (EXISTS (SELECT 1 FROM pg_class s WHERE s.relkind = 'S' AND s.relnamespace = n.oid
                   AND s.relname = c.relname || '_' || a.attname || '_seq')
           AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1
                       AND i.indkey[0] = a.attnum))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum
"""
_CONSTRAINTS_SQL = """
SELECT t.relname, k.contype, k.conname, f.relname,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
LEFT JOIN pg_class f ON f.oid = k.confrelid
WHERE k.contype IN ('p', 'f')
ORDER BY t.relname, k.conname
"""
_INTEGER_TYPES = ("smallint", "integer", "bigint")
# The sequence behind a generated column: owned by it (serial), named in its default, or named after it.
_SEQUENCE_SQL = """
SELECT COALESCE(
    pg_get_serial_sequence(%(table)s, %(column)s),
    (SELECT s.oid::regclass::text FROM pg_attribute a
     JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     JOIN pg_depend p ON p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid AND p.refclassid = 'pg_class'::regclass
     JOIN pg_class s ON s.oid = p.refobjid AND s.relkind = 'S'
     WHERE a.attrelid = %(table)s::regclass AND a.attname = %(column)s LIMIT 1),
    (SELECT s.oid::regclass::text FROM pg_class s
     WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace AND s.relname = %(named)s))
"""
# Keys reserved for the snapshot's rows start this far above the sequence's value: inserts of the live environment
# that take a value between our nextval and our setval (the same statement) stay below the reserved range.
KEY_GAP = 1000
# pg_advisory_xact_lock key shared by every restore ("mwhr" in ASCII): a second restore waits, then
# finds the marker of the first and does nothing.
LOCK_KEY = 0x6D776872


class PostgresTransport:
    """psycopg2 on the SQLAlchemy engine's pool: COPY both ways, server-side cursors for the rest."""

    dialect = "postgresql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _settle(cur: Any) -> None:
        for name, value in CANONICAL_SETTINGS.items():
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))

    def describe(self) -> list[TableFacts]:
        """Tables, columns, keys and foreign keys of the connection's current schema."""
        with raw_connection(self.engine) as conn, conn.cursor() as cur:
            cur.execute(_COLUMNS_SQL)
            columns = cur.fetchall()
            cur.execute(_CONSTRAINTS_SQL)
            constraints = cur.fetchall()
        tables: dict[str, dict[str, Any]] = {}
        for table, column, type_name, generated in columns:
            info = tables.setdefault(table, {"columns": [], "integers": set(), "generated": set(), "pk": (), "fks": []})
            info["columns"].append(column)
            if type_name in _INTEGER_TYPES:
                info["integers"].add(column)
            if generated:
                info["generated"].add(column)
        for table, kind, name, ref_table, cols, ref_cols in constraints:
            if table not in tables:
                continue
            if kind == "p":
                tables[table]["pk"] = tuple(cols)
            else:
                tables[table]["fks"].append((name, tuple(cols), ref_table, tuple(ref_cols)))
        return [
            TableFacts(
                name=name,
                columns=tuple(info["columns"]),
                integer_columns=frozenset(info["integers"]),
                generated_columns=frozenset(info["generated"]),
                primary_key=info["pk"],
                foreign_keys=tuple(info["fks"]),
            )
            for name, info in tables.items()
        ]

    @staticmethod
    def unique_violation(exc: BaseException) -> str | None:
        """PostgreSQL's description of the collision if `exc` is a unique-key violation, else None."""
        import psycopg2.errors

        if isinstance(exc, psycopg2.errors.UniqueViolation):
            return getattr(getattr(exc, "diag", None), "message_detail", None) or str(exc)
        return None

    @contextlib.contextmanager
    def export_session(self) -> Iterator[_PgExport]:
        with raw_connection(self.engine) as conn:
            refuse_autocommit(conn)
            cur = conn.cursor()
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._settle(cur)
            yield _PgExport(conn)

    @contextlib.contextmanager
    def restore_session(self) -> Iterator[_PgRestore]:
        with raw_connection(self.engine) as conn:
            refuse_autocommit(conn)
            cur = conn.cursor()
            self._settle(cur)
            yield _PgRestore(conn)
            conn.commit()


class _PgExport:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._cursors = 0

    def alembic_revision(self) -> str | None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            row = cur.fetchone()
        return row[0] if row else None

    def copy_out(self, table: str, columns: Sequence[str], where: str, params: dict[str, Any], sink: Any) -> int:
        select_sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)} t{where}"
        with self.conn.cursor() as cur:
            query = cur.mogrify(select_sql, params).decode()
            cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)", sink)
            return cur.rowcount

    def text_rows(
        self, table: str, columns: Sequence[str], where: str, params: dict[str, Any]
    ) -> Iterator[tuple[str | None, ...]]:
        select_sql = f"SELECT {', '.join(f'{quote(c)}::text' for c in columns)} FROM {quote(table)} t{where}"
        self._cursors += 1
        with self.conn.cursor(name=f"mwaa_hibernate_{self._cursors}") as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(select_sql, params)
            yield from cur


class _PgRestore:
    dialect = "postgresql"
    row_id = "ctid"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def query(self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def copy_in(self, table: str, columns: Sequence[str], source: BinaryIO) -> int:
        cols = ", ".join(quote(c) for c in columns)
        with self.conn.cursor() as cur:
            cur.copy_expert(f"COPY {quote(table)} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER)", source, COPY_IN_CHUNK)
            return cur.rowcount

    def lock(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))

    def create_stage(self, stage: str, table: str, columns: Sequence[str]) -> None:
        cols = ", ".join(quote(c) for c in columns)
        self.execute(
            f"CREATE TEMP TABLE {quote(stage)} ON COMMIT DROP AS SELECT {cols} FROM {quote(table)} WITH NO DATA"
        )

    def create_map(self, name: str) -> None:
        self.execute(f"CREATE TEMP TABLE {quote(name)} (old bigint PRIMARY KEY, new bigint) ON COMMIT DROP")

    def lock_table(self, table: str) -> None:
        self.execute(f"LOCK TABLE {quote(table)} IN SHARE ROW EXCLUSIVE MODE")

    def _sequence(self, table: str, column: str) -> str | None:
        params = {"table": quote(table), "column": column, "named": f"{table}_{column}_seq"}
        return self.query(_SEQUENCE_SQL, params)[0][0]

    def keys_untouched(self, table: str, column: str) -> bool:
        sequence = self._sequence(table, column)
        called = bool(sequence) and self.query(f"SELECT is_called FROM {sequence}")[0][0]
        return not called and not self.query(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})")[0][0]

    def reserve_keys(self, table: str, column: str, high: int) -> int:
        maximum = self.query(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}")[0][0]
        sequence = self._sequence(table, column)
        if sequence is None:
            return int(maximum)
        (top,) = self.query(
            "SELECT setval(%(s)s, GREATEST(nextval(%(s)s), %(m)s) + %(gap)s + %(high)s)",
            {"s": sequence, "m": maximum, "gap": KEY_GAP, "high": high},
        )[0]
        return int(top) - high

    def reset_sequence(self, table: str, column: str) -> None:
        sequence = self._sequence(table, column)
        if sequence is None:
            return
        self.execute(
            f"SELECT setval(%(s)s, m) FROM (SELECT MAX({quote(column)}) AS m FROM {quote(table)}) x "
            f"WHERE m > (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence})",
            {"s": sequence},
        )
