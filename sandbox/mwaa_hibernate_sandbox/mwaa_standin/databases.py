"""Metadata databases for emulated environments: one per environment, created and dropped on demand.

PostgreSQL (one shared throwaway cluster, so the scheduler can use the LocalExecutor as on MWAA)
when the server binaries exist; SQLite files otherwise, which limits Airflow to the
SequentialExecutor but keeps the sandbox usable on any machine.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Protocol

from ..postgres import PostgresCluster, PostgresUnavailable, find_bin_dir

logger = logging.getLogger(__name__)


class Databases(Protocol):
    kind: str

    def create(self, name: str) -> str:
        """Create an empty database; return its SQLAlchemy URL."""

    def create_mwaa(self, name: str) -> tuple[str, str]:
        """Create an empty database as MWAA prepares one: (owner URL for migrations, URL of the non-superuser
        role Airflow runs as)."""

    def drop(self, name: str) -> None: ...

    def exists(self, name: str) -> bool: ...

    def close(self) -> None: ...


class PostgresDatabases:
    kind = "postgresql"

    def __init__(self) -> None:
        # The cluster picks its own temporary folder: it runs as the postgres user, who may not be able
        # to reach a folder inside the caller's state directory (pytest's are private to root).
        self.cluster = PostgresCluster.start()

    def create(self, name: str) -> str:
        return self.cluster.create_database(name)

    def create_mwaa(self, name: str) -> tuple[str, str]:
        database = self.cluster.create_mwaa_database(name)
        return database.owner_url, database.url

    def drop(self, name: str) -> None:
        self.cluster.drop_database(name)

    def exists(self, name: str) -> bool:
        import psycopg2  # the dev and Airflow venvs both have it; imported late like postgres.py does

        conn = psycopg2.connect(self.cluster.dsn())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    def close(self) -> None:
        self.cluster.stop()


class SqliteDatabases:
    kind = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.db"

    def create(self, name: str) -> str:
        self._path(name).touch()
        return f"sqlite:///{self._path(name)}"

    def create_mwaa(self, name: str) -> tuple[str, str]:
        raise RuntimeError(
            "an Airflow 3 environment needs PostgreSQL (MWAA's metadata database is Aurora PostgreSQL, and the task "
            "carrier connects to it itself): install the PostgreSQL server binaries"
        )

    def drop(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def open_databases(root: Path, *, kind: str = "auto") -> Databases:
    """`kind` is "postgresql", "sqlite" or "auto" (PostgreSQL when its server binaries are installed)."""
    if kind == "auto":
        try:
            find_bin_dir()
            kind = "postgresql"
        except PostgresUnavailable:
            logger.warning("PostgreSQL server binaries not found: environments get SQLite metadata databases")
            kind = "sqlite"
    if kind == "postgresql":
        return PostgresDatabases()
    if kind == "sqlite":
        return SqliteDatabases(root / "sqlite")
    raise ValueError(f"unknown database kind {kind!r}: use auto, postgresql or sqlite")
