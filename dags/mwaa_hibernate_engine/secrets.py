"""Moving secret columns between Airflow's Fernet encryption and the snapshot's data key, row by row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mwaa_hibernate_snapshot.cipher import SecretBox

from mwaa_hibernate_engine.classification import TablePolicy
from mwaa_hibernate_engine.fernet import AirflowFernet

TRUE_TEXT = ("t", "true")  # boolean as PostgreSQL text: 'true' from ::text, 't' from COPY


def _stored_encrypted(value: str, flag: str | None) -> bool:
    if flag is None:  # trigger.kwargs: Airflow treats a value starting with "{" as not encrypted
        return not value.startswith("{")
    return flag in TRUE_TEXT


def binding(table: str, columns: Sequence[str], row: Sequence[Any], ident: Sequence[str]) -> str:
    """Where a row's secrets belong: the table and the row's identifying columns (surrogate and natural keys, as
    stored in the snapshot). Each sealed value is bound to this and its column, so values cannot be swapped
    between rows or columns (docs/security.md)."""
    index = {c: i for i, c in enumerate(columns)}
    return "\x1f".join([table, *(f"{c}={row[index[c]]}" for c in ident)])


def seal_row(
    row: list[str | None],
    columns: Sequence[str],
    policy: TablePolicy,
    fernet: AirflowFernet,
    box: SecretBox,
    what: str,
    bound_to: str | None = None,
) -> None:
    """In place: decrypt each secret with the source's Fernet key (if Airflow encrypted it), seal it with `box`,
    bound to `bound_to` (see `binding`) and the column."""
    index = {c: i for i, c in enumerate(columns)}
    for column, flag_column in policy.secrets:
        value = row[index[column]]
        if value is None:
            continue
        flag = row[index[flag_column]] if flag_column else None
        plain = fernet.decrypt(value, what=f"{what}.{column}") if _stored_encrypted(value, flag) else value
        row[index[column]] = box.seal(plain, _aad(bound_to, column))
    for column in policy.signed:
        value = row[index[column]] if column in index else None  # Airflow 3.1+ only
        if value is not None:
            row[index[column]] = box.seal(fernet.unsign(value, what=f"{what}.{column}"), _aad(bound_to, column))


def reseal_row(
    row: list[Any],
    columns: Sequence[str],
    policy: TablePolicy,
    fernet: AirflowFernet,
    box: SecretBox,
    bound_to: str | None = None,
) -> None:
    """In place: open each sealed secret and store it the way Airflow would with the target's Fernet key.

    Flags become Python booleans, which each database driver writes as its own boolean.
    """
    index = {c: i for i, c in enumerate(columns)}
    for column, flag_column in policy.secrets:
        value = row[index[column]]
        if value is None:
            continue
        row[index[column]] = fernet.encrypt(box.open(value, _aad(bound_to, column)))
        if flag_column:
            row[index[flag_column]] = fernet.encrypts
    for column in policy.signed:
        if column in index and row[index[column]] is not None:
            row[index[column]] = fernet.sign(box.open(row[index[column]], _aad(bound_to, column)))


def _aad(bound_to: str | None, column: str) -> str | None:
    """What a sealed value is bound to: its row's identity and its column, so it cannot be moved elsewhere."""
    return None if bound_to is None else f"{bound_to}\x1f{column}"
