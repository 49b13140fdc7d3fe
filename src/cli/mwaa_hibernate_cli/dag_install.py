"""Putting the hibernation DAGs and their engine into an environment's DAG folder, and checking they parse.

MWAA copies new objects under `s3://<SourceBucketArn>/<DagS3Path>/` to its Airflow components, whose
DAG processor then parses them. So an install is: read the environment (where its DAG folder is, which
Airflow it runs: a version mwaa-hibernate was not tested on is refused), upload the hibernation DAG files
(export, import, probe) and the packages they import beside them (the snapshot format, the database engine
and the runtime), merge their lines into the user's `.airflowignore` (never replace the file), then poll
Airflow's REST API through InvokeRestApi until every DAG was parsed after the upload, or an import error
names one of them. On Airflow 3 the API-server carrier's plugin goes into plugins.zip (`plugin_install`).
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mwaa_hibernate_engine
import mwaa_hibernate_runtime
import mwaa_hibernate_snapshot
from botocore.exceptions import ClientError
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.aws import client, error_code
from mwaa_hibernate.environment.status import AVAILABLE, describe_environment
from mwaa_hibernate.exceptions import (
    DagFilesMissing,
    DagImportFailed,
    DagParseTimeout,
    EnvironmentNotAvailable,
    EnvironmentNotFound,
    UnsupportedAirflowVersion,
)
from mwaa_hibernate_snapshot import versions
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

# Each hibernation DAG lives in a file named after its id, at the top of the DAG folder.
DAG_FILES = tuple(f"{dag_id}.py" for dag_id in HIBERNATION_DAG_IDS)
AIRFLOWIGNORE = ".airflowignore"
# The packages the DAG files import, uploaded beside them (the DAG processor is kept out of them).
PACKAGES = (mwaa_hibernate_snapshot, mwaa_hibernate_engine, mwaa_hibernate_runtime)
# Where a wheel carries the DAG files (pyproject's force-include), and where a source checkout has them.
PACKAGED_DAGS = Path(__file__).resolve().parent / "dag_files"
SOURCE_DAGS = Path(__file__).resolve().parents[3] / "dags"
# Never uploaded: byte code and editor or OS leftovers.
SKIPPED_PARTS = ("__pycache__",)
SKIPPED_SUFFIXES = (".pyc", ".pyo")
IGNORE_COMMENT = "# mwaa-hibernate: packages the hibernation DAGs import, not DAG files"
# MWAA copies the DAG folder from S3 every few tens of seconds; the DAG processor then lists and parses it.
DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_POLL_SECONDS = 10


@dataclass(frozen=True)
class LocalFile:
    """One file to upload: its path relative to the DAG folder, and its bytes."""

    relative: str
    body: bytes


@dataclass(frozen=True)
class InstallPlan:
    """What an install uploads and deletes, decided before anything is written (`--dry-run` prints it)."""

    environment: str
    status: str
    airflow_version: str
    bucket: str
    prefix: str
    uploads: tuple[LocalFile, ...]
    # Package files a previous version left under <prefix><package>/ that this one does not have.
    stale_keys: tuple[str, ...] = ()
    # "create" (no .airflowignore yet), "merge" (lines appended to the user's file) or "unchanged".
    airflowignore: str = "unchanged"
    airflowignore_body: bytes | None = None

    @property
    def dag_folder(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def keys(self) -> list[str]:
        return [self.prefix + f.relative for f in self.uploads]

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "status": self.status,
            "airflow_version": self.airflow_version,
            "dag_folder": self.dag_folder,
            "uploads": [{"key": self.prefix + f.relative, "bytes": len(f.body)} for f in self.uploads],
            "deletes": list(self.stale_keys),
            "airflowignore": self.airflowignore,
        }


@dataclass
class ParseStatus:
    """One look at the environment: which hibernation DAGs were parsed since the upload, and import errors."""

    parsed: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return bool(self.parsed) and all(self.parsed.values())


def dags_source() -> Path:
    """The folder with the DAG files and .airflowignore: inside the installed wheel, else the source checkout."""
    for candidate in (PACKAGED_DAGS, SOURCE_DAGS):
        if all((candidate / name).is_file() for name in (*DAG_FILES, AIRFLOWIGNORE)):
            return candidate
    raise DagFilesMissing(
        f"This mwaa-hibernate installation has no DAG files (looked in {PACKAGED_DAGS} and {SOURCE_DAGS}). "
        "Reinstall it (pip install --force-reinstall mwaa-hibernate) or run it from a full source checkout."
    )


def files_to_install(dags: Path | None = None) -> list[LocalFile]:
    """The DAG files, then every file of the packages they import (no byte code), relative to the DAG folder."""
    dags = dags or dags_source()
    return [LocalFile(name, (dags / name).read_bytes()) for name in DAG_FILES] + package_files()


def package_files() -> list[LocalFile]:
    """Every file of the three packages (no byte code), relative to the folder they go in."""
    files: list[LocalFile] = []
    for package in PACKAGES:
        root = Path(str(package.__file__)).resolve().parent
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not _skipped(relative):
                files.append(LocalFile(f"{package.__name__}/{relative.as_posix()}", path.read_bytes()))
    return files


def required_ignore_lines(dags: Path | None = None) -> list[str]:
    """The patterns of the project's .airflowignore (comments and blank lines left out)."""
    text = ((dags or dags_source()) / AIRFLOWIGNORE).read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def merge_airflowignore(existing: str | None, required: list[str]) -> tuple[str, str | None]:
    """("create" | "merge" | "unchanged", new text or None): the user's lines are kept as they are."""
    if existing is None:
        return "create", "\n".join([IGNORE_COMMENT, *required]) + "\n"
    present = {line.strip() for line in existing.splitlines()}
    missing = [line for line in required if line not in present]
    if not missing:
        return "unchanged", None
    head = existing if existing.endswith("\n") or not existing else existing + "\n"
    return "merge", head + "\n".join([IGNORE_COMMENT, *missing]) + "\n"


def plan_install(*, environment: str, mwaa: Any = None, s3: Any = None, dags: Path | None = None) -> InstallPlan:
    """Read the environment and its DAG folder; refuse an unsupported Airflow; decide what to write."""
    described = describe_environment(environment, mwaa=mwaa)
    if described is None:
        raise EnvironmentNotFound(
            f"There is no MWAA environment {environment} in this account and region. Check the name and --region "
            "(`aws mwaa list-environments` lists them)."
        )
    version = described.get("AirflowVersion", "")
    refused = versions.refusal(version, environment)
    if refused:
        raise UnsupportedAirflowVersion(refused.replace("Nothing was touched.", "Nothing was uploaded."))
    bucket = str(described.get("SourceBucketArn", "")).rsplit(":", 1)[-1]
    path = str(described.get("DagS3Path", "")).strip("/")
    prefix = f"{path}/" if path else ""
    s3 = client("s3", s3)
    uploads = files_to_install(dags)
    wanted = {prefix + f.relative for f in uploads}
    stale = tuple(
        k for package in PACKAGES for k in _keys(s3, bucket, f"{prefix}{package.__name__}/") if k not in wanted
    )
    existing = _read_text(s3, bucket, prefix + AIRFLOWIGNORE)
    action, body = merge_airflowignore(existing, required_ignore_lines(dags))
    return InstallPlan(
        environment=environment,
        status=described.get("Status", ""),
        airflow_version=version,
        bucket=bucket,
        prefix=prefix,
        uploads=tuple(uploads),
        stale_keys=stale,
        airflowignore=action,
        airflowignore_body=body.encode() if body is not None else None,
    )


def check_available(plan: InstallPlan) -> None:
    """The parse check needs Airflow's REST API, which answers only while the environment is AVAILABLE."""
    if plan.status != AVAILABLE:
        raise EnvironmentNotAvailable(
            f"Environment {plan.environment} is {plan.status}; install the DAGs when it is {AVAILABLE} "
            "(its Airflow must be running to parse them)."
        )


def apply_install(plan: InstallPlan, *, s3: Any = None, on_file: Callable[[str], None] | None = None) -> None:
    """Write .airflowignore first (so the engine is never parsed as DAGs), then the engine, then the DAG files."""
    s3 = client("s3", s3)
    if plan.airflowignore_body is not None:
        _put(s3, plan.bucket, plan.prefix + AIRFLOWIGNORE, plan.airflowignore_body)
    ordered = sorted(plan.uploads, key=lambda f: f.relative in DAG_FILES)
    for local in ordered:
        _put(s3, plan.bucket, plan.prefix + local.relative, local.body)
        if on_file is not None:
            on_file(plan.prefix + local.relative)
    for start in range(0, len(plan.stale_keys), 1000):
        batch = [{"Key": key} for key in plan.stale_keys[start : start + 1000]]
        s3.delete_objects(Bucket=plan.bucket, Delete={"Objects": batch, "Quiet": True})


def parse_status(*, environment: str, since: datetime, mwaa: Any = None, airflow_version: str = "") -> ParseStatus:
    """Which hibernation DAGs Airflow parsed at or after `since`, and import errors it recorded since then."""
    api = AirflowApi(environment, airflow_version, mwaa=mwaa) if airflow_version else None
    api = api or AirflowApi.for_environment(environment, mwaa=mwaa)
    status = ParseStatus()
    for error in api.import_errors():
        name = _dag_file_of(str(error.get("filename", "")))
        if name and _when(error.get("timestamp")) >= since:
            status.errors[name] = str(error.get("stack_trace", "")).strip()
    for dag_id in HIBERNATION_DAG_IDS:
        dag = api.get_dag(dag_id)
        status.parsed[dag_id] = dag is not None and dag.active and _when(dag.last_parsed_time) >= since
    return status


def wait_until_parsed(
    *,
    environment: str,
    since: datetime,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = DEFAULT_POLL_SECONDS,
    mwaa: Any = None,
    airflow_version: str = "",
    on_poll: Callable[[ParseStatus, float], None] | None = None,
) -> ParseStatus:
    """Poll until every DAG was parsed after `since`; DagImportFailed with Airflow's text, or DagParseTimeout."""
    started = time.monotonic()
    while True:
        status = parse_status(environment=environment, since=since, mwaa=mwaa, airflow_version=airflow_version)
        elapsed = time.monotonic() - started
        if on_poll is not None:
            on_poll(status, elapsed)
        if status.errors:
            raise DagImportFailed(_import_failure_text(environment, status.errors), status.errors)
        if status.done:
            return status
        if elapsed >= timeout:
            waiting = ", ".join(d for d, ok in status.parsed.items() if not ok)
            raise DagParseTimeout(
                f"Environment {environment} had not parsed {waiting} {timeout:.0f} s after the upload. MWAA copies "
                "the DAG folder from S3 and parses it on its own schedule: run `mwaa-hibernate install-dags` again "
                "with a longer --timeout, or look at the DAG processing logs in CloudWatch."
            )
        time.sleep(min(interval, max(timeout - elapsed, 0.1)))


def utc_now() -> datetime:
    return datetime.now(UTC)


def _import_failure_text(environment: str, errors: dict[str, str]) -> str:
    parts = [f"Airflow in {environment} cannot import {', '.join(sorted(errors))}:"]
    for name, trace in sorted(errors.items()):
        parts.append(f"--- {name}\n{trace}")
    parts.append(
        "Fix the cause (often a Python package missing from the environment's requirements.txt, or files from "
        "another mwaa-hibernate version), then run `mwaa-hibernate install-dags` again."
    )
    return "\n".join(parts)


def _dag_file_of(filename: str) -> str | None:
    """Which hibernation DAG file an import error's path is (Airflow reports absolute paths in its DAG folder)."""
    return next((name for name in DAG_FILES if filename == name or filename.endswith(f"/{name}")), None)


def _when(text: Any) -> datetime:
    """An Airflow timestamp, or the earliest time there is when Airflow gave none (never parsed)."""
    if not text:
        return datetime.min.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _skipped(relative: Path) -> bool:
    return (
        any(part in SKIPPED_PARTS or part.startswith(".") for part in relative.parts)
        or relative.suffix in SKIPPED_SUFFIXES
    )


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _read_text(s3: Any, bucket: str, key: str) -> str | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise


def _put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    content_type = mimetypes.guess_type(key)[0] or "text/plain"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
