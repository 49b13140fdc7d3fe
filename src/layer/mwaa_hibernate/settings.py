"""The functions' settings, read from the environment variables the template sets.

Names live here only; the template is the source of their values. Read lazily (never at import) so
tests can set them per case.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mwaa_hibernate.exceptions import ConfigurationError

SNAPSHOT_BUCKET = "SNAPSHOT_BUCKET"
KMS_KEY_ARN = "KMS_KEY_ARN"
ENVIRONMENT_NAME = "ENVIRONMENT_NAME"
HIBERNATE_STATE_MACHINE_ARN = "HIBERNATE_STATE_MACHINE_ARN"
WAKE_STATE_MACHINE_ARN = "WAKE_STATE_MACHINE_ARN"
ALERT_TOPIC_ARN = "ALERT_TOPIC_ARN"
NOTIFY_ON_SUCCESS = "NOTIFY_ON_SUCCESS"
ENVIRONMENT_OVERRIDES = "ENVIRONMENT_OVERRIDES"
# The stack's ExecutionRoleName parameter: the one role the stack may pass to MWAA (empty: none).
EXECUTION_ROLE_NAME = "EXECUTION_ROLE_NAME"


def required(name: str) -> str:
    """The value of a required setting, or a ConfigurationError that names it."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"Environment variable {name} is not set: deploy the function from template.yaml.")
    return value


def optional(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@dataclass(frozen=True)
class Settings:
    """What most functions need: where snapshots live and which key protects them."""

    bucket: str
    kms_key_arn: str

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(bucket=required(SNAPSHOT_BUCKET), kms_key_arn=required(KMS_KEY_ARN))
