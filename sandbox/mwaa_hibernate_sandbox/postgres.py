"""A throwaway PostgreSQL cluster for tests, benchmarks and the sandbox.

The server binaries are usually installed with no server running; `initdb` refuses to run as root,
so as root the cluster is created and run as the `postgres` system user. The cluster lives in a
temporary folder, listens on loopback only with trust authentication, and is tuned for speed over
durability (fsync off): it holds nothing that must survive a crash.

`create_mwaa_database` makes a database the way MWAA's image prepares its metadata database
(python/mwaa/database/migrate_with_downgrade.py in aws/amazon-mwaa-docker-images): owned by the role
`adminuser`, used by the role `airflow_user` (a member of adminuser, with MWAA's grants); neither is a
superuser, so whatever runs as airflow_user here meets the limits it meets on MWAA.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SERVER_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    " -c listen_addresses=127.0.0.1"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here: run `scripts/ensure-postgres` (or install postgresql)."""


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<n>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailable("PostgreSQL server binaries not found: run scripts/ensure-postgres or install postgresql")


def free_port() -> int:
    """A TCP port free on loopback right now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_free_port = free_port  # older name, still imported by a few callers

# MWAA's two database roles (migrate_with_downgrade.py: DB_ADMIN_USERNAME, DB_IAM_USERNAME).
MWAA_ADMIN_ROLE = "adminuser"
MWAA_APP_ROLE = "airflow_user"
# Trust authentication ignores passwords, but a URL must still carry them escaped: these have the characters
# that break an unescaped URL, so anything building one by hand fails here first.
MWAA_ROLE_PASSWORDS = {MWAA_ADMIN_ROLE: "admin:/@pw%", MWAA_APP_ROLE: "app:/@pw?#"}
# What MWAA's image grants airflow_user, run as adminuser in the database.
_MWAA_GRANTS = (
    'GRANT ALL PRIVILEGES ON DATABASE "{db}" TO airflow_user',
    "GRANT ALL ON SCHEMA public TO airflow_user",
    "GRANT ALL ON ALL TABLES IN SCHEMA public TO airflow_user",
    "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO airflow_user",
    "GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO airflow_user",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO airflow_user",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO airflow_user",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO airflow_user",
)


@dataclass(frozen=True)
class MwaaDatabase:
    """A database prepared like MWAA's: `owner_url` connects as adminuser, `url` as airflow_user (what Airflow uses)."""

    name: str
    owner_url: str
    url: str


@dataclass
class PostgresCluster:
    """A running cluster. `url(db)` gives a SQLAlchemy URL; databases are created and dropped on demand."""

    root: Path
    port: int
    bin_dir: Path
    _run_as: str | None = field(default=None, repr=False)

    @classmethod
    def start(cls, root: Path | None = None) -> PostgresCluster:
        bin_dir = find_bin_dir()
        root = Path(root or tempfile.mkdtemp(prefix="mwaa-hibernate-pg-"))
        run_as = "postgres" if os.geteuid() == 0 else None
        if run_as:
            user = pwd.getpwnam(run_as)
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster = cls(root=root, port=free_port(), bin_dir=bin_dir, _run_as=run_as)
        data = root / "data"
        cluster._run(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        cluster._run(
            [
                "pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
                "-o", f"-p {cluster.port} -k {root} {SERVER_SETTINGS}", "start",
            ]
        )  # fmt: skip
        return cluster

    def _run(self, argv: list[str]) -> None:
        cmd = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self._run_as:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = result.stderr.strip() or result.stdout.strip()
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {output}")

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg2", *, user: str = "postgres") -> str:
        password = MWAA_ROLE_PASSWORDS.get(user)
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}" if password else quote(user, safe="")
        return f"{driver}://{credentials}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres", *, user: str = "postgres") -> str:
        """A libpq connection string (for psycopg2.connect or psql)."""
        return f"host=127.0.0.1 port={self.port} user={user} dbname={database}"

    def _admin(self, *statements: str, database: str = "postgres", user: str = "postgres") -> None:
        import psycopg2  # imported here so the module loads where psycopg2 is absent

        conn = psycopg2.connect(self.dsn(database, user=user))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
        finally:
            conn.close()

    def create_mwaa_database(self, name: str, *, template: str | None = None) -> MwaaDatabase:
        """A database owned by adminuser with MWAA's grants to airflow_user (a copy of `template` if given).

        Migrate it through `owner_url` or `url` (both work, as on MWAA); run Airflow through `url`.
        """
        roles = [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$"
            for role in (MWAA_ADMIN_ROLE, MWAA_APP_ROLE)
        ]
        # So that airflow_user inherits ownership of what adminuser created during migrations (MWAA's words).
        roles.append(f"GRANT {MWAA_ADMIN_ROLE} TO {MWAA_APP_ROLE}")
        copy = f' TEMPLATE "{template}"' if template else ""
        self._admin(*roles, f'CREATE DATABASE "{name}" OWNER {MWAA_ADMIN_ROLE}{copy}')
        # Database privileges are not copied from a template: grant again.
        self._admin(*(grant.format(db=name) for grant in _MWAA_GRANTS), database=name, user=MWAA_ADMIN_ROLE)
        return MwaaDatabase(name, self.url(name, user=MWAA_ADMIN_ROLE), self.url(name, user=MWAA_APP_ROLE))

    def create_database(self, name: str) -> str:
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def clone_database(self, template: str, name: str) -> str:
        """A new database identical to `template` (a file copy: far cheaper than migrating again); its URL.

        The template must have no open connections."""
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(["pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
