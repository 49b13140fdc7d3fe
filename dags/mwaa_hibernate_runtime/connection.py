"""The task carrier's own database connection, built from the credentials MWAA's containers carry.

Airflow 3 blocks the ORM inside task processes and replaces `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN` there
with a placeholder (task SDK, `supervisor.block_orm_access`). The block is code only: MWAA's containers
still carry the database's address and credentials in their environment, under two namings seen so far:

- MWAA's image (aws/amazon-mwaa-docker-images, python/mwaa/config/database.py): `MWAA__DB__CREDENTIALS`
  (JSON with `username` and `password`; or `MWAA__DB__POSTGRES_USER` and `_PASSWORD`) and
  `MWAA__DB__POSTGRES_HOST`, `_PORT`, `_DB`, `_SSLMODE` (empty means `require`);
- the service, as reported by third parties on Airflow 3.0.6 workers: `DB_SECRETS` (the same JSON) and
  `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_DB`.

The URL is built with `URL.create` (a password may hold `:/@`), never from SQL_ALCHEMY_CONN, and nothing
here logs, returns or puts into an error message a credential: errors name the variables, not values.
AWS may stop shipping these variables to workers; then the task carrier fails with `CarrierUnavailable`
and the probe chooses the API-server carrier.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mwaa_hibernate_runtime.errors import CarrierUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

# The namings, in the order they are tried: (name, credentials JSON, user, password, host, port, database, sslmode).
NAMINGS = (
    (
        "MWAA__DB__*",
        "MWAA__DB__CREDENTIALS",
        "MWAA__DB__POSTGRES_USER",
        "MWAA__DB__POSTGRES_PASSWORD",
        "MWAA__DB__POSTGRES_HOST",
        "MWAA__DB__POSTGRES_PORT",
        "MWAA__DB__POSTGRES_DB",
        "MWAA__DB__POSTGRES_SSLMODE",
    ),
    ("DB_SECRETS", "DB_SECRETS", "", "", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_SSLMODE"),
)
# Every variable name the carrier may read, for the stand-in's switch that strips them from workers.
CREDENTIAL_VARIABLES = tuple(sorted({name for naming in NAMINGS for name in naming[1:] if name}))
DEFAULT_SSLMODE = "require"
# MWAA's own connect arguments for the metadata database (python/mwaa/config/database.py, MWAA_CONNECT_ARGS).
CONNECT_ARGS = {"connect_timeout": 15, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 5}
APPLICATION_NAME = "mwaa-hibernate"


@dataclass(frozen=True)
class DatabaseCredentials:
    """Where the metadata database is and how to log in; `repr` and `str` never show the password."""

    naming: str
    host: str
    port: int
    database: str
    sslmode: str
    username: str = field(repr=False)
    password: str = field(repr=False)

    def url(self) -> URL:
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=self.username,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query={"sslmode": self.sslmode},
        )


def credentials_from_environment(environ: Mapping[str, str] | None = None) -> DatabaseCredentials:
    """The first complete naming found in `environ`; CarrierUnavailable naming what is missing otherwise."""
    environ = os.environ if environ is None else environ
    problems = []
    for naming, secret_json, user_var, password_var, host_var, port_var, db_var, ssl_var in NAMINGS:
        present = [v for v in (secret_json, user_var, host_var, port_var, db_var) if v and environ.get(v)]
        if not present:
            problems.append(f"no {naming} variables")
            continue
        username, password = _user_and_password(environ, naming, secret_json, user_var, password_var)
        missing = [v for v in (host_var, port_var, db_var) if not environ.get(v)]
        if not username or missing:
            what = ", ".join(missing + ([] if username else [f"a user name ({secret_json})"]))
            problems.append(f"{naming} is incomplete (missing {what})")
            continue
        try:
            port = int(environ[port_var])
        except ValueError:
            problems.append(f"{port_var} is not a port number")
            continue
        return DatabaseCredentials(
            naming=naming,
            host=environ[host_var],
            port=port,
            database=environ[db_var],
            sslmode=environ.get(ssl_var) or DEFAULT_SSLMODE,
            username=username,
            password=password,
        )
    raise CarrierUnavailable(
        "this task cannot reach the metadata database itself: its environment carries no database credentials "
        f"({'; '.join(problems)}). MWAA may have stopped giving them to workers. Install the API-server plugin "
        "(`mwaa-hibernate install-dags --carrier api-server`) so the hibernation runs in the API server instead"
    )


def _user_and_password(
    environ: Mapping[str, str], naming: str, secret_json: str, user_var: str, password_var: str
) -> tuple[str, str]:
    raw = environ.get(secret_json)
    if raw:
        try:
            secret = json.loads(raw)
        except ValueError:
            raise CarrierUnavailable(f"{secret_json} is not JSON with a username and a password") from None
        if isinstance(secret, Mapping):
            return str(secret.get("username") or ""), str(secret.get("password") or "")
        raise CarrierUnavailable(f"{secret_json} is not a JSON object with a username and a password")
    if user_var:
        return environ.get(user_var, ""), environ.get(password_var, "")
    return "", ""


def own_engine(environ: Mapping[str, str] | None = None) -> Engine:
    """A SQLAlchemy engine of this task's own, on the credentials above (one connection at a time is enough)."""
    import sqlalchemy as sa

    credentials = credentials_from_environment(environ)
    return sa.create_engine(
        credentials.url(),
        poolclass=sa.pool.NullPool,
        hide_parameters=True,  # statement parameters never reach an error message or a log
        connect_args={**CONNECT_ARGS, "application_name": APPLICATION_NAME},
    )
