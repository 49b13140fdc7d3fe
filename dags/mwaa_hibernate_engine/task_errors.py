"""Errors of the hibernation DAGs' tasks. They extend the engine's tree (`errors.SnapshotError`).

Messages name what went wrong and what to do; they never contain a task token or a secret value.
"""

from __future__ import annotations

from mwaa_hibernate_engine.errors import SnapshotError


class HibernationTaskError(SnapshotError):
    """Base of the errors raised by the export and import DAGs' own steps (not by the engine)."""


class InvalidRunConf(HibernationTaskError):
    """The DAG run's conf does not follow the contract the trigger Lambda and the DAGs share."""


class DrainTimeout(HibernationTaskError):
    """Task instances of other DAGs were still running or queued when the drain timeout ran out."""


class CallbackError(HibernationTaskError):
    """Answering the waiting state machine failed."""


class TokenUnavailable(CallbackError):
    """The task token ciphertext cannot be decrypted with KMS (wrong key, context or permissions)."""


class CallbackRejected(CallbackError):
    """Step Functions refused the callback: the token timed out or the execution is no longer waiting."""
