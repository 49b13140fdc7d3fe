"""The dialects the engine reads and writes, and which one serves a given SQLAlchemy engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mwaa_hibernate_engine.dialects.base import Transport
from mwaa_hibernate_engine.dialects.postgres import PostgresTransport
from mwaa_hibernate_engine.dialects.sqlite import SqliteTransport
from mwaa_hibernate_engine.errors import UnsupportedDatabase

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["Transport", "transport_for"]


def transport_for(engine: Engine) -> Transport:
    """The transport for the engine's database; UnsupportedDatabase otherwise."""
    name, driver = engine.dialect.name, engine.dialect.driver
    if name == "postgresql" and driver == "psycopg2":
        return PostgresTransport(engine)
    if name == "sqlite" and driver == "pysqlite":
        return SqliteTransport(engine)
    raise UnsupportedDatabase(
        f"the snapshot engine supports PostgreSQL through psycopg2 (MWAA's metadata database) and SQLite (local "
        f"development), not {name}+{driver}: use a postgresql+psycopg2:// or sqlite:/// URL"
    )
