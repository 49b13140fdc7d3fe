"""Can this carrier reach the metadata database and do the hibernation's work there? One small check.

Used by the probe DAG's task (the task carrier) and the plugin's health route (the API-server carrier).
It connects, reads the alembic revision and checks the role may change DAGs and read task instances,
and that a Fernet key is configured. Its answer is a sentence for a person and never holds a credential:
database errors are reduced to their class and SQLSTATE, because driver messages name hosts and users.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mwaa_hibernate_snapshot.carrier import (
    DATABASE_REFUSED,
    NO_CREDENTIALS,
    NO_FERNET_KEY,
    NOT_ALLOWED,
    USABLE,
    ProbeResult,
)

from mwaa_hibernate_runtime.errors import CarrierUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

_PRIVILEGES = "SELECT has_table_privilege('dag', 'UPDATE') AND has_table_privilege('task_instance', 'SELECT')"


def check_database(
    carrier: str, engine_factory: Callable[[], Engine], fernet_key: str | None, *, extra_check: Callable | None = None
) -> ProbeResult:
    """Whether `carrier` can work here, with a reason either way."""
    import sqlalchemy as sa

    try:
        engine = engine_factory()
        with engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            allowed = engine.dialect.name != "postgresql" or bool(conn.execute(sa.text(_PRIVILEGES)).scalar())
        if extra_check is not None:
            extra_check(engine)
    except CarrierUnavailable as exc:
        return ProbeResult(carrier, NO_CREDENTIALS, str(exc))
    except sa.exc.SQLAlchemyError as exc:
        return ProbeResult(
            carrier, DATABASE_REFUSED, f"the metadata database refused the connection or the query ({describe(exc)})"
        )
    if not allowed:
        return ProbeResult(carrier, NOT_ALLOWED)
    if not fernet_key:
        return ProbeResult(carrier, NO_FERNET_KEY)
    return ProbeResult(carrier, USABLE, f"reached the metadata database (alembic revision {revision})")


def describe(exc: BaseException) -> str:
    """An SQLAlchemy or DBAPI error as its class and SQLSTATE only (driver texts carry host and user names)."""
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "pgcode", None)
    return f"{type(original).__name__}{f', SQLSTATE {code}' if code else ''}"
