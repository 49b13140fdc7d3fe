"""Metadata databases for emulated environments: one per environment, created and dropped on demand.

PostgreSQL (one shared throwaway cluster, so the scheduler can use the LocalExecutor as on MWAA)
when the server binaries exist; SQLite files otherwise, which limits Airflow to the
SequentialExecutor but keeps the sandbox usable on any machine.

On PostgreSQL `airflow db migrate` runs once per Airflow installation (and the few options a migration
writes into the database): the first environment's migration fills a template database, and every
environment after gets a copy of it (`CREATE DATABASE ... TEMPLATE`, a file copy), which holds exactly
what a fresh migration would write. MWAA migrates each new database; the copy saves that minute of CPU per
environment, not a step of the cycle: a migration that fails still fails the first environment's creation.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..postgres import PostgresCluster, PostgresUnavailable, find_bin_dir

logger = logging.getLogger(__name__)

# migrate(owner URL or None, URL): runs `airflow db migrate` on a new, empty database.
Migrate = Callable[[str | None, str], None]


class Databases(Protocol):
    kind: str

    def create(self, name: str) -> str:
        """Create an empty database; return its SQLAlchemy URL."""

    def create_mwaa(self, name: str) -> tuple[str, str]:
        """Create an empty database as MWAA prepares one: (owner URL for migrations, URL of the non-superuser
        role Airflow runs as)."""

    def create_migrated(self, name: str, *, mwaa: bool, key: str, migrate: Migrate) -> tuple[str | None, str]:
        """A migrated database (`create_mwaa`'s if `mwaa`, else `create`'s): (owner URL or None, URL).
        `migrate` runs at most once per `key` (the Airflow installation and the options migrations read)."""

    def drop(self, name: str) -> None: ...

    def exists(self, name: str) -> bool: ...

    def close(self) -> None: ...


class PostgresDatabases:
    kind = "postgresql"

    def __init__(self) -> None:
        # The cluster picks its own temporary folder: it runs as the postgres user, who may not be able
        # to reach a folder inside the caller's state directory (pytest's are private to root).
        self.cluster = PostgresCluster.start()
        self._templates: dict[tuple[bool, str], str] = {}
        self._templates_lock = threading.Lock()

    def create(self, name: str) -> str:
        return self.cluster.create_database(name)

    def create_mwaa(self, name: str) -> tuple[str, str]:
        database = self.cluster.create_mwaa_database(name)
        return database.owner_url, database.url

    def create_migrated(self, name: str, *, mwaa: bool, key: str, migrate: Migrate) -> tuple[str | None, str]:
        template = self._template(mwaa=mwaa, key=key, migrate=migrate)
        if mwaa:
            database = self.cluster.create_mwaa_database(name, template=template)
            return database.owner_url, database.url
        return None, self.cluster.clone_database(template, name)

    def _template(self, *, mwaa: bool, key: str, migrate: Migrate) -> str:
        """The migrated template for `key` (made now by `migrate` if there is none yet); never connected to after."""
        with self._templates_lock:
            template = self._templates.get((mwaa, key))
            if template is None:
                template = f"standin_template_{len(self._templates)}"
                owner_url, url = self.create_mwaa(template) if mwaa else (None, self.create(template))
                try:
                    migrate(owner_url, url)
                except BaseException:
                    self.drop(template)
                    raise
                self._templates[(mwaa, key)] = template
            return template

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

    def create_migrated(self, name: str, *, mwaa: bool, key: str, migrate: Migrate) -> tuple[str | None, str]:
        if mwaa:
            self.create_mwaa(name)  # refuses, saying why
        url = self.create(name)
        migrate(None, url)
        return None, url

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
