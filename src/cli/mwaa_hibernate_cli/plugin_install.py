"""Installing the API-server carrier: the plugin in the environment's plugins.zip, and the update that loads it.

MWAA takes one plugins.zip per environment (PluginsS3Path, at a given S3 object version) and extracts it on
every component; Airflow 3's API server then mounts the plugin's FastAPI app. A user's own plugins.zip is
kept: its entries stay as they are, the plugin's are added (or replaced by this version's), and the
.airflowignore inside gets the plugin's lines (Airflow imports every .py file of the plugins folder as a plugin
module; the packages must be kept out of that scan). The zip is uploaded as a new object version and the
environment updated to use it; MWAA takes 10 to 30 minutes to apply that, restarting every component.
When the zip already holds exactly these files, nothing is uploaded and the environment is not updated.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from mwaa_hibernate.aws import client, error_code
from mwaa_hibernate.environment.status import AVAILABLE, FAILED_STATUSES, describe_environment, failure_text
from mwaa_hibernate.exceptions import EnvironmentFailed, EnvironmentNotAvailable, EnvironmentNotFound
from mwaa_hibernate_snapshot.carrier import PLUGIN_LOADER, PLUGIN_LOADER_SOURCE

from mwaa_hibernate_cli.dag_install import AIRFLOWIGNORE, PACKAGES, LocalFile, merge_airflowignore, package_files

# Where the plugins.zip goes when the environment has none yet (relative to its source bucket, as MWAA wants).
DEFAULT_PLUGINS_KEY = "plugins.zip"
# Zip entries get this timestamp, so the same files make the same zip (and an unchanged install changes nothing).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
UPDATE_TIMEOUT_SECONDS = 3600
UPDATE_POLL_SECONDS = 15


@dataclass(frozen=True)
class PluginPlan:
    """What installing the plugin writes: the zip, where, and whether the environment needs an update."""

    environment: str
    bucket: str
    key: str
    body: bytes
    changed: bool
    entries: tuple[str, ...]
    user_entries: tuple[str, ...]
    current_version: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "plugins_zip": f"s3://{self.bucket}/{self.key}",
            "changed": self.changed,
            "bytes": len(self.body),
            "entries": len(self.entries),
            "kept_user_entries": len(self.user_entries),
            "environment_update": self.changed,
        }


def plugin_files() -> list[LocalFile]:
    """The loader at the top of the zip and the packages it imports."""
    return [LocalFile(PLUGIN_LOADER, PLUGIN_LOADER_SOURCE.encode()), *package_files()]


def _ours(name: str) -> bool:
    return name == PLUGIN_LOADER or any(name.startswith(f"{package.__name__}/") for package in PACKAGES)


def build_zip(existing: bytes | None) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    """(zip bytes, every entry, the user's entries kept): the user's zip with this version's plugin in it."""
    kept: dict[str, bytes] = {}
    if existing:
        with zipfile.ZipFile(io.BytesIO(existing)) as current:
            for info in current.infolist():
                if not info.is_dir() and not _ours(info.filename):
                    kept[info.filename] = current.read(info)
    ignore_lines = [f"{package.__name__}/" for package in PACKAGES]
    current_ignore = kept.pop(AIRFLOWIGNORE, b"").decode() or None
    _, merged = merge_airflowignore(current_ignore, ignore_lines)
    files = {name: body for name, body in kept.items()}
    files[AIRFLOWIGNORE] = (merged if merged is not None else current_ignore or "").encode()
    for local in plugin_files():
        files[local.relative] = local.body
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, files[name])
    return buffer.getvalue(), tuple(sorted(files)), tuple(sorted(kept))


def same_files(a: bytes | None, b: bytes) -> bool:
    """Whether two zips hold the same names with the same contents (timestamps and compression aside)."""
    if not a:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(a)) as za, zipfile.ZipFile(io.BytesIO(b)) as zb:
            names = sorted(i.filename for i in za.infolist() if not i.is_dir())
            if names != sorted(i.filename for i in zb.infolist() if not i.is_dir()):
                return False
            return all(za.read(name) == zb.read(name) for name in names)
    except zipfile.BadZipFile:
        return False


def plan_plugin(*, environment: str, mwaa: Any = None, s3: Any = None) -> PluginPlan:
    """Read the environment's plugins.zip (the version it runs) and decide the new one."""
    described = describe_environment(environment, mwaa=mwaa)
    if described is None:
        raise EnvironmentNotFound(f"There is no MWAA environment {environment} in this account and region.")
    bucket = str(described.get("SourceBucketArn", "")).rsplit(":", 1)[-1]
    key = str(described.get("PluginsS3Path") or DEFAULT_PLUGINS_KEY).lstrip("/")
    version = described.get("PluginsS3ObjectVersion")
    existing = None
    if described.get("PluginsS3Path"):
        existing = _read(client("s3", s3), bucket, key, version)
    body, entries, user_entries = build_zip(existing)
    return PluginPlan(
        environment=environment,
        bucket=bucket,
        key=key,
        body=body,
        changed=not same_files(existing, body),
        entries=entries,
        user_entries=user_entries,
        current_version=version,
    )


def apply_plugin(plan: PluginPlan, *, mwaa: Any = None, s3: Any = None) -> str | None:
    """Upload the zip and update the environment to it; the new object version (None when nothing changed)."""
    if not plan.changed:
        return None
    answer = client("s3", s3).put_object(
        Bucket=plan.bucket, Key=plan.key, Body=plan.body, ContentType="application/zip"
    )
    version = answer.get("VersionId")
    if not version:
        raise EnvironmentNotAvailable(
            f"s3://{plan.bucket} did not give the new plugins.zip an object version: MWAA needs versioning on the "
            "environment's source bucket to load plugins. Turn it on, then run install-dags again."
        )
    client("mwaa", mwaa).update_environment(
        Name=plan.environment, PluginsS3Path=plan.key, PluginsS3ObjectVersion=version
    )
    return version


def wait_for_update(
    *,
    environment: str,
    since: datetime,
    mwaa: Any = None,
    timeout: float = UPDATE_TIMEOUT_SECONDS,
    interval: float = UPDATE_POLL_SECONDS,
    on_poll: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Until the environment is AVAILABLE again after the update; MWAA's own error when the update failed."""
    started = time.monotonic()
    seen_updating = False
    while True:
        described = describe_environment(environment, mwaa=mwaa) or {}
        status = str(described.get("Status", "ABSENT"))
        elapsed = time.monotonic() - started
        if on_poll is not None:
            on_poll(status, elapsed)
        seen_updating = seen_updating or status == "UPDATING"
        if status in FAILED_STATUSES:
            raise EnvironmentFailed(
                f"MWAA could not apply the plugin to {environment} ({status}): {failure_text(described)}. The previous "
                "plugins.zip version is still in S3; fix the cause and run install-dags again."
            )
        last = described.get("LastUpdate") or {}
        finished_since = last.get("Status") == "SUCCESS" and _after(last.get("CreatedAt"), since)
        if status == AVAILABLE and (seen_updating or finished_since):
            return
        if elapsed >= timeout:
            raise EnvironmentNotAvailable(
                f"{environment} was still {status} {timeout:.0f} s after the plugin update started (MWAA usually takes "
                "10 to 30 minutes): follow it in the MWAA console, then run install-dags again to check the carrier."
            )
        sleep(min(interval, max(timeout - elapsed, 0.1)))


def _after(when: Any, since: datetime) -> bool:
    if not isinstance(when, datetime):
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) >= since


def _read(s3: Any, bucket: str, key: str, version: str | None) -> bytes | None:
    try:
        kwargs = {"VersionId": version} if version else {}
        return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}:
            return None
        raise
