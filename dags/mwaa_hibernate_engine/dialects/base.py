"""What every dialect of the metadata database offers the engine: one consistent read, one restore transaction.

Export, restore planning and verification talk to these session objects, never to a driver. The
PostgreSQL and SQLite implementations (`postgres`, `sqlite`) import this module; nothing here imports
them, and `mwaa_hibernate_engine.dialects.transport_for` picks one for an engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# Session settings that fix the text form of every value, so a file written under one server
# configuration reads back identically under another (time zone, date style, float digits, bytea).
CANONICAL_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}
# Rows fetched per round trip by the Python codec path (secret tables): bounded memory.
FETCH_ROWS = 2000


@dataclass(frozen=True)
class TableFacts:
    """What a transport reads from the database catalog about one table."""

    name: str
    columns: tuple[str, ...]
    integer_columns: frozenset[str]
    generated_columns: frozenset[str]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...]  # name, columns, table, columns


class ExportSession(Protocol):
    """One consistent read of the whole database (REPEATABLE READ, READ ONLY)."""

    dialect: str

    def alembic_revision(self) -> str | None: ...

    def copy_out(self, table: str, columns: Sequence[str], where: str, params: dict[str, Any], sink: Any) -> int:
        """Write `columns` of the rows of `table` (alias `t`) matching `where` into `sink` as CSV with a header.

        Every value in PostgreSQL's text form under CANONICAL_SETTINGS; returns the row count.
        """
        ...

    def text_rows(
        self, table: str, columns: Sequence[str], where: str, params: dict[str, Any]
    ) -> Iterator[tuple[str | None, ...]]:
        """The same rows, every column as PostgreSQL text or None, streamed."""
        ...


class RestoreSession(Protocol):
    """One read-write transaction that no other restore interleaves with; commits only when the block exits cleanly.

    SQL passed to `execute`/`query` uses psycopg2 placeholders (`%s`, `%(name)s`; a list or tuple value
    becomes a parenthesised list for `IN`) and SQL both dialects understand. What differs between the
    dialects is a method here.
    """

    dialect: str
    row_id: str  # a column naming each row of a staging table (PostgreSQL ctid, SQLite rowid)

    def execute(self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None) -> int: ...

    def query(self, sql: str, params: dict[str, Any] | Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def lock(self) -> None:
        """Wait until no other restore runs against this database; held until the transaction ends."""
        ...

    def create_stage(self, stage: str, table: str, columns: Sequence[str]) -> None:
        """An empty temporary table with `columns` of `table`, dropped when the transaction ends."""
        ...

    def create_map(self, name: str) -> None:
        """An empty temporary table (old integer primary key, new integer), dropped when the transaction ends."""
        ...

    def copy_in(self, table: str, columns: Sequence[str], source: BinaryIO) -> int:
        """Load CSV with a header from `source` into `table`; return the row count."""
        ...

    def lock_table(self, table: str) -> None:
        """Keep others from inserting into or updating `table` (reads go on) until the transaction ends."""
        ...

    def keys_untouched(self, table: str, column: str) -> bool:
        """Whether `table` is empty and its key generator never handed out a value: the snapshot's keys fit as
        they are."""
        ...

    def reserve_keys(self, table: str, column: str, high: int) -> int:
        """An offset such that `offset + k` for every k in 1..high is free in `table.column` and stays free:
        the column's generator moves past the range, so the live environment's inserts meanwhile land above."""
        ...

    def reset_sequence(self, table: str, column: str) -> None:
        """Make the next generated value of `table.column` larger than every value it holds (never lower it)."""
        ...


class Transport(Protocol):
    """A dialect's entry point: the catalog, and the two kinds of session."""

    dialect: str

    def describe(self) -> list[TableFacts]:
        """Tables, columns, keys and foreign keys of the connection's current schema."""
        ...

    def export_session(self) -> contextlib.AbstractContextManager[ExportSession]: ...

    def restore_session(self) -> contextlib.AbstractContextManager[RestoreSession]: ...

    def unique_violation(self, exc: BaseException) -> str | None:
        """The database's description of the collision if `exc` is a unique-key violation, else None."""
        ...


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def refuse_autocommit(conn: Any) -> None:
    """Export reads in one snapshot transaction and restore writes in one transaction: a DBAPI connection in
    autocommit mode (psycopg2's `autocommit`, an engine created with isolation_level="AUTOCOMMIT") would make
    each statement its own transaction, so a failed restore would leave half its rows."""
    if getattr(conn, "autocommit", False) is True:
        from mwaa_hibernate_engine.errors import UnsupportedDatabase

        raise UnsupportedDatabase(
            "the database connection is in autocommit mode, so export and restore could not be one transaction: "
            "pass an engine without isolation_level='AUTOCOMMIT'"
        )


@contextlib.contextmanager
def raw_connection(engine: Engine) -> Iterator[Any]:
    """The DBAPI connection under one of the engine's pooled connections, in a clean transaction state."""
    fairy = engine.raw_connection()
    conn = getattr(fairy, "dbapi_connection", None) or fairy.connection  # SQLAlchemy 2.x / 1.4
    try:
        conn.rollback()  # start from a clean transaction whatever the pool left
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        fairy.close()
