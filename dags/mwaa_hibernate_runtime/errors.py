"""Errors of the hibernation steps themselves (not of the engine). They extend the snapshot's tree.

Messages name what went wrong and what to do; they never contain a task token or a secret value.
"""

from __future__ import annotations

from mwaa_hibernate_snapshot.errors import SnapshotError


class HibernationTaskError(SnapshotError):
    """Base of the errors raised by the export and import steps (not by the engine)."""


class DrainTimeout(HibernationTaskError):
    """Task instances of other DAGs were still running or queued when the drain timeout ran out."""


class CallbackError(HibernationTaskError):
    """Answering the waiting state machine failed."""


class TokenUnavailable(CallbackError):
    """The task token ciphertext cannot be decrypted with KMS (wrong key, context or permissions)."""


class CallbackRejected(CallbackError):
    """Step Functions refused the callback: the token timed out or the execution is no longer waiting."""


class CarrierUnavailable(HibernationTaskError):
    """The carrier cannot reach the metadata database here (no credentials, refused, or no plugin)."""


class JobRefused(HibernationTaskError):
    """The API-server carrier refuses a job (another one runs, a protocol mismatch, a bad request)."""
