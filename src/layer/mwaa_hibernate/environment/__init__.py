"""The MWAA environment: its status, and the CreateEnvironment request rebuilt from a saved configuration.

`mwaa_hibernate.environment.create` (which reads the snapshot folder) is imported on its own, not from here.
"""

from __future__ import annotations

from mwaa_hibernate.environment.request import CREATE_ENVIRONMENT_FIELDS, build_create_request, parse_overrides
from mwaa_hibernate.environment.status import (
    ABSENT,
    AVAILABLE,
    FAILED_STATUSES,
    describe_environment,
    environment_status,
    failure_text,
)

__all__ = [
    "ABSENT",
    "AVAILABLE",
    "CREATE_ENVIRONMENT_FIELDS",
    "FAILED_STATUSES",
    "build_create_request",
    "describe_environment",
    "environment_status",
    "failure_text",
    "parse_overrides",
]
