"""Which Airflow versions mwaa-hibernate hibernates and wakes, in one table, and the rules that follow from it.

Airflow 2 lets a task reach the metadata database in-process; the engine reads the schema by reflection,
so every MWAA minor from 2.7 to 2.11 is accepted (tested here on 2.10.5 and 2.11.2). Airflow 3 changes
the schema, the REST API and how the database is reached with each minor, so only the exact versions
tested here are accepted: anything else is refused with a sentence rather than attempted.

A snapshot restores only into the Airflow version that wrote it (the engine also compares alembic
revisions, which catches the same mistake inside the database).

Standard library only: the layer, the CLI and the runtime inside Airflow all import it.
"""

from __future__ import annotations

import re

# Airflow 2: a range of minors (MWAA versions 2.7.2 to 2.11.x).
AIRFLOW2_MINORS = ((2, 7), (2, 11))
# Airflow 3: exact versions, each with a full hibernate and wake cycle tested here through each carrier.
AIRFLOW3_VERSIONS = ("3.0.6", "3.2.1", "3.3.1")
# The versions the test suite runs on (README, "Airflow versions and limits").
TESTED_VERSIONS = ("2.10.5", "2.11.2", *AIRFLOW3_VERSIONS)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse(version: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a version such as "3.2.1" or "2.10.3"; None when it is not one."""
    match = _VERSION.match(version or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def major(version: str | None) -> int | None:
    parsed = parse(version)
    return parsed[0] if parsed else None


def is_airflow3(version: str | None) -> bool:
    return (major(version) or 0) >= 3


def supported(version: str | None) -> bool:
    parsed = parse(version)
    if parsed is None:
        return False
    if parsed[0] == 2:
        oldest, newest = AIRFLOW2_MINORS
        return oldest <= parsed[:2] <= newest
    return ".".join(map(str, parsed)) in AIRFLOW3_VERSIONS


def supported_text() -> str:
    """The supported versions for messages: "2.7 to 2.11, 3.0.6, 3.2.1 or 3.3.1"."""
    (o_major, o_minor), (n_major, n_minor) = AIRFLOW2_MINORS
    return f"{o_major}.{o_minor} to {n_major}.{n_minor}, {', '.join(AIRFLOW3_VERSIONS[:-1])} or {AIRFLOW3_VERSIONS[-1]}"


def refusal(version: str | None, environment: str) -> str | None:
    """None when `version` is supported; otherwise the sentence that says why not and what to do."""
    if supported(version):
        return None
    shown = version or "(unknown)"
    if is_airflow3(version):
        return (
            f"Environment {environment} runs Airflow {shown}, which mwaa-hibernate has not been tested on: on Airflow "
            f"3 it supports exactly {', '.join(AIRFLOW3_VERSIONS)} (each minor changes the metadata schema and the "
            "REST API). Nothing was touched. Upgrade the environment to one of them, or mwaa-hibernate to a release "
            f"that lists {shown}."
        )
    return (
        f"Environment {environment} runs Airflow {shown}; mwaa-hibernate supports Airflow {supported_text()}. "
        "Nothing was touched. Upgrade the environment to a supported version first."
    )


def mismatch(snapshot_version: str | None, target_version: str | None, environment: str) -> str | None:
    """None when a snapshot written by `snapshot_version` may be restored into `target_version`; else why not.

    A snapshot that does not record its version is left to the engine, which compares alembic revisions.
    """
    if not snapshot_version or snapshot_version == target_version:
        return None
    return (
        f"The snapshot was taken on Airflow {snapshot_version or '(unknown)'} but environment {environment} runs "
        f"Airflow {target_version or '(unknown)'}: a snapshot restores only into the Airflow version that wrote it. "
        "Nothing was imported. Recreate the environment on the snapshot's version (the stack's EnvironmentOverrides "
        "parameter can set AirflowVersion), wake it, and upgrade it afterwards with MWAA's own upgrade."
    )
