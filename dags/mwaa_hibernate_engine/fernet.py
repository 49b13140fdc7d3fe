"""Airflow's own at-rest encryption of secret columns (the `[core] fernet_key`), source and target side.

Airflow accepts a comma-separated list of keys (rotation: the first encrypts, all decrypt) and stores
plaintext with `is_encrypted = false` when no key is set. This mirrors that without importing Airflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mwaa_hibernate_engine.errors import FernetKeyMissing


@dataclass(frozen=True)
class AirflowFernet:
    """`None` keys mean "no Fernet key configured": values are stored in plaintext, like Airflow's NullFernet."""

    keys: str | None

    @property
    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(k.strip().encode()) for k in (self.keys or "").split(",") if k.strip()])

    @property
    def encrypts(self) -> bool:
        return bool(self.keys and self.keys.strip())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii") if self.encrypts else plaintext

    def sign(self, payload: str) -> str | None:
        """Sign a JSON payload as Airflow 3 signs bundle URL templates (itsdangerous' URLSafeSerializer keyed with
        the whole `[core] fernet_key` setting); None without a key, as Airflow then signs nothing."""
        if not self.encrypts:
            return None
        return self._serializer().dumps(json.loads(payload))

    def unsign(self, signed: str, *, what: str) -> str:
        """The JSON payload of a value `sign` made with this key; FernetKeyMissing if the key does not match."""
        from itsdangerous import BadSignature

        if not self.encrypts:
            raise FernetKeyMissing(
                f"{what} is signed with a Fernet key but no Fernet key was given: pass the "
                "environment's [core] fernet_key (--fernet-key or AIRFLOW__CORE__FERNET_KEY)"
            )
        try:
            return json.dumps(self._serializer().loads(signed))
        except BadSignature as exc:
            raise FernetKeyMissing(f"{what} is not signed with the Fernet key given: pass the right key") from exc

    def _serializer(self) -> Any:
        from itsdangerous import URLSafeSerializer  # installed with Airflow (Flask); only needed for signed values

        return URLSafeSerializer(self.keys or "")

    def decrypt(self, stored: str, *, what: str) -> str:
        """Decrypt a value Airflow stored encrypted; `what` names it (table, key) for the error message."""
        from cryptography.fernet import InvalidToken

        if not self.encrypts:
            raise FernetKeyMissing(
                f"{what} is Fernet-encrypted in the database but no Fernet key was given: pass the environment's "
                "[core] fernet_key (--fernet-key or AIRFLOW__CORE__FERNET_KEY)"
            )
        try:
            return self._fernet.decrypt(stored.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise FernetKeyMissing(f"{what} does not decrypt with the Fernet key given: pass the right key") from exc
