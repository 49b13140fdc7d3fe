"""The snapshot folders in S3: saving the configuration, verifying, the latest pointer, state.json, pruning.

A good snapshot is never overwritten: each cycle writes a new folder, the latest pointer moves only to a
verified snapshot, and pruning never touches the latest one (docs/design.md, invariant 4).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from mwaa_hibernate_snapshot import SnapshotError, load_manifest, open_store, verify_snapshot
from mwaa_hibernate_snapshot.progress import Progress, no_progress

from mwaa_hibernate import configuration, layout
from mwaa_hibernate.aws import client, error_code, json_bytes, lost_race, raise_if_transient, read_json, write_json
from mwaa_hibernate.environment.status import describe_environment
from mwaa_hibernate.exceptions import (
    EnvironmentNotAvailable,
    SnapshotNotFound,
    SnapshotPruneIncomplete,
    SnapshotVerificationFailed,
)

logger = logging.getLogger(__name__)

PHASES = ("HIBERNATED", "AWAKE")
# S3 DeleteObjects takes at most 1,000 keys per call.
DELETE_BATCH = 1000


TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _now() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP_FORMAT)


def _parse_time(text: str) -> datetime:
    """A timestamp of state.json or of Step Functions ($$.Execution.StartTime), as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise_if_transient(exc, f"Checking s3://{bucket}/{key}")
        raise
    return True


def save_configuration(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    kms_key_arn: str | None = None,
    s3: Any = None,
    mwaa: Any = None,
    kms: Any = None,
) -> dict:
    """Write the environment's GetEnvironment output as the first file of a new snapshot folder.

    Created once (If-None-Match): a folder that already has a configuration is another cycle's, and is
    refused. Returns the stored bytes' sha256, which the state machine hands to verification and to
    the latest pointer, so a wake recreates the environment only from exactly what this function saved
    (docs/design.md, invariant 9).
    """
    s3 = client("s3", s3)
    if exists(s3, bucket, layout.manifest_key(environment, snapshot_id)):
        raise SnapshotVerificationFailed(
            f"Snapshot {snapshot_id} of {environment} is already complete; a snapshot folder is never written twice. "
            "Start a new hibernate execution (it gets a new snapshot id)."
        )
    saved = describe_environment(environment, mwaa=mwaa)
    if saved is None:
        raise EnvironmentNotAvailable(f"Environment {environment} disappeared before its configuration was saved.")
    if kms_key_arn:  # the options' values leave sealed (configuration.py); tests without a key save them as is
        saved = configuration.seal(
            saved, environment=environment, snapshot_id=snapshot_id, kms_key_arn=kms_key_arn, kms=client("kms", kms)
        )
    key = layout.environment_key(environment, snapshot_id)
    try:
        write_json(s3, bucket, key, saved, if_none_match=True)
    except ClientError as exc:
        if lost_race(exc):
            raise SnapshotVerificationFailed(
                f"Snapshot folder {snapshot_id} of {environment} already holds a saved configuration: another "
                "execution (or something else) wrote it. A snapshot folder is never written twice; nothing was "
                "changed. Start a new hibernate execution."
            ) from exc
        raise
    logger.info("Saved the configuration", extra={"environment": environment, "snapshot_id": snapshot_id})
    return {
        "snapshot_id": snapshot_id,
        "key": key,
        "airflow_version": saved.get("AirflowVersion", ""),
        "sha256": hashlib.sha256(json_bytes(saved)).hexdigest(),
    }


def load_configuration(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    expected_sha256: str | None,
    s3: Any = None,
    kms: Any = None,
) -> dict[str, Any]:
    """The saved configuration, only if its bytes are exactly the ones the stack saved (`expected_sha256`, from
    the state machine or the latest pointer). Anything else could have been written by someone else."""
    s3 = client("s3", s3)
    key = layout.environment_key(environment, snapshot_id)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
            raise_if_transient(exc, f"Reading s3://{bucket}/{key}")
            raise
        raise SnapshotNotFound(
            f"Snapshot {snapshot_id} of {environment} has no {layout.ENVIRONMENT_FILE}: it cannot recreate the "
            "environment. Point latest.json at an older complete snapshot, or create the environment by hand."
        ) from exc
    if not expected_sha256:
        raise SnapshotVerificationFailed(
            f"No configuration digest is recorded for snapshot {snapshot_id} of {environment} (a snapshot taken "
            f"before digests were recorded, or a {layout.LATEST_FILE} not written by this stack), so its "
            f"{layout.ENVIRONMENT_FILE} cannot be trusted to recreate the environment. Create the environment by "
            "hand from a configuration you checked, or hibernate a running environment again."
        )
    found = hashlib.sha256(body).hexdigest()
    if found != expected_sha256:
        raise SnapshotVerificationFailed(
            f"The saved configuration of snapshot {snapshot_id} of {environment} is not the one this stack saved "
            f"(sha256 {found}, recorded {expected_sha256}): something else rewrote {layout.ENVIRONMENT_FILE}. It is "
            "not used. Nothing was created; investigate who wrote it (S3 server access logs or CloudTrail data "
            "events), then create the environment by hand or restore the object's previous version."
        )
    return configuration.open_sealed(
        json.loads(body), environment=environment, snapshot_id=snapshot_id, kms=client("kms", kms)
    )


def verify(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    s3: Any = None,
    count_rows: bool = False,
    progress: Progress = no_progress,
    configuration_sha256: str | None = None,
) -> dict[str, Any]:
    """Check a snapshot from outside the environment; raise SnapshotVerificationFailed saying what is wrong.

    `count_rows` also reads every table file through (the CLI's full check); the state machine's verify
    step compares sizes and checksums only, which is what a Lambda can do within its time limit.
    `configuration_sha256` (what the save step or the latest pointer recorded) also proves the saved
    configuration is the stack's own.
    """
    s3 = client("s3", s3)
    if not exists(s3, bucket, layout.environment_key(environment, snapshot_id)):
        raise SnapshotVerificationFailed(
            f"Snapshot {snapshot_id} of {environment} has no {layout.ENVIRONMENT_FILE}, so the environment could "
            "not be recreated from it. Run the hibernation again."
        )
    saved = None
    if configuration_sha256 is not None:
        saved = load_configuration(
            environment=environment,
            snapshot_id=snapshot_id,
            bucket=bucket,
            expected_sha256=configuration_sha256,
            s3=s3,
        )
    try:
        store = open_store(layout.snapshot_uri(bucket, environment, snapshot_id), s3_client=s3)
        manifest = verify_snapshot(store, count_rows=count_rows, progress=progress)
    except SnapshotError as exc:
        raise SnapshotVerificationFailed(f"Snapshot {snapshot_id} of {environment} is not usable: {exc}") from exc
    if manifest.snapshot_id != snapshot_id:
        raise SnapshotVerificationFailed(
            f"The manifest in snapshot folder {snapshot_id} of {environment} describes snapshot "
            f"{manifest.snapshot_id}: the folder was copied or written by something else. Run the hibernation again."
        )
    if saved is not None and manifest.airflow_version != saved.get("AirflowVersion"):
        raise SnapshotVerificationFailed(
            f"Snapshot {snapshot_id} of {environment} was exported by Airflow {manifest.airflow_version}, but the "
            f"saved configuration recreates Airflow {saved.get('AirflowVersion')}: the restore would refuse it. The "
            "environment was not deleted. Run the hibernation again (an upgrade may have been in progress)."
        )
    return {"snapshot_id": snapshot_id, "files": len(manifest.files), "bytes": manifest.bytes, "rows": manifest.rows}


def read_latest_pointer(*, environment: str, bucket: str, s3: Any = None) -> dict[str, Any] | None:
    """latest.json: {"snapshot_id", "configuration_sha256", "committed_at"}, or None before the first hibernation."""
    return read_json(client("s3", s3), bucket, layout.latest_key(environment))


def read_latest(*, environment: str, bucket: str, s3: Any = None) -> str | None:
    """The id of the latest verified snapshot, or None before the first hibernation."""
    pointer = read_latest_pointer(environment=environment, bucket=bucket, s3=s3)
    return None if pointer is None else pointer["snapshot_id"]


def commit_latest(
    *, environment: str, snapshot_id: str, bucket: str, configuration_sha256: str | None = None, s3: Any = None
) -> dict[str, Any]:
    """Move the latest pointer to a snapshot; refuse one without a manifest (it was never verified).

    The pointer records the saved configuration's digest: a wake recreates the environment only from a
    configuration with exactly that digest."""
    s3 = client("s3", s3)
    if not exists(s3, bucket, layout.manifest_key(environment, snapshot_id)):
        raise SnapshotVerificationFailed(
            f"Snapshot {snapshot_id} of {environment} has no manifest; the latest pointer only moves to a "
            "verified snapshot. Run the hibernation again."
        )
    key = layout.latest_key(environment)
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
            raise_if_transient(exc, f"Reading s3://{bucket}/{key}")
            raise
        previous, etag = None, None
    else:
        previous, etag = json.loads(answer["Body"].read()).get("snapshot_id"), answer["ETag"]
    if previous is not None and previous > snapshot_id:
        raise SnapshotVerificationFailed(
            f"The latest pointer of {environment} is at snapshot {previous}, newer than {snapshot_id}: it never moves "
            "backwards. Nothing was changed and the environment was not deleted. Another cycle ran meanwhile; run "
            "the hibernation again."
        )
    pointer = {"snapshot_id": snapshot_id, "configuration_sha256": configuration_sha256, "committed_at": _now()}
    try:
        # Moved only from the pointer just read: a concurrent commit makes this one fail, not silently lose.
        write_json(s3, bucket, key, pointer, if_none_match=etag is None, if_match=etag)
    except ClientError as exc:
        if lost_race(exc):
            raise SnapshotVerificationFailed(
                f"The latest pointer of {environment} changed while snapshot {snapshot_id} was being committed; "
                "nothing was changed and the environment was not deleted. Run the hibernation again."
            ) from exc
        raise
    return {"snapshot_id": snapshot_id, "previous_snapshot_id": previous}


def latest_configuration_sha256(*, environment: str, snapshot_id: str, bucket: str, s3: Any = None) -> str | None:
    """The configuration digest the latest pointer records for `snapshot_id` (None if it points elsewhere)."""
    pointer = read_latest_pointer(environment=environment, bucket=bucket, s3=s3) or {}
    return pointer.get("configuration_sha256") if pointer.get("snapshot_id") == snapshot_id else None


def read_state(*, environment: str, bucket: str, s3: Any = None) -> dict[str, Any] | None:
    return read_json(client("s3", s3), bucket, layout.state_key(environment))


def record_state(
    *,
    environment: str,
    phase: str,
    snapshot_id: str | None,
    bucket: str,
    started_at: str | None = None,
    s3: Any = None,
) -> dict:
    """Write state.json. A wake (AWAKE after HIBERNATED) also returns ``hours_hibernated``: from the time the
    hibernation was recorded to ``started_at``, the wake execution's start (when the environment began to exist
    again), for the dashboard's hours saved."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    s3 = client("s3", s3)
    before = read_state(environment=environment, bucket=bucket, s3=s3)
    state = {"phase": phase, "snapshot_id": snapshot_id, "updated_at": _now()}
    write_json(s3, bucket, layout.state_key(environment), state)
    recorded: dict[str, Any] = {"phase": phase, "snapshot_id": snapshot_id}
    if phase == "AWAKE" and before and before.get("phase") == "HIBERNATED" and before.get("updated_at"):
        woke = _parse_time(started_at or str(state["updated_at"]))
        hours = (woke - _parse_time(before["updated_at"])).total_seconds() / 3600
        recorded["hours_hibernated"] = round(max(hours, 0.0), 3)
    return recorded


def snapshot_figures(*, environment: str, snapshot_id: str, bucket: str, s3: Any = None) -> dict[str, float]:
    """A complete snapshot's tables, rows, bytes and export seconds, from its manifest (raises SnapshotError)."""
    store = open_store(layout.snapshot_uri(bucket, environment, snapshot_id), s3_client=client("s3", s3))
    manifest = load_manifest(store)
    figures: dict[str, float] = {"tables": len(manifest.files), "rows": manifest.rows, "bytes": manifest.bytes}
    seconds = manifest.timings.get("seconds")
    if isinstance(seconds, int | float):
        figures["seconds"] = seconds
    return figures


def committed_figures(
    *, environment: str, snapshot_id: str, previous_snapshot_id: str | None, bucket: str, s3: Any = None
) -> dict[str, float]:
    """What the dashboard shows of a newly committed snapshot: its figures and ``growth_percent`` in bytes over
    the previous latest one. Never raises: the pointer has already moved, and a metric must not fail a cycle."""
    s3 = client("s3", s3)
    try:
        figures = snapshot_figures(environment=environment, snapshot_id=snapshot_id, bucket=bucket, s3=s3)
    except (SnapshotError, ClientError) as exc:
        logger.warning("No figures for the committed snapshot", extra={"snapshot_id": snapshot_id, "error": str(exc)})
        return {}
    if previous_snapshot_id and previous_snapshot_id != snapshot_id:
        try:
            previous = snapshot_figures(environment=environment, snapshot_id=previous_snapshot_id, bucket=bucket, s3=s3)
        except (SnapshotError, ClientError) as exc:
            logger.warning(
                "No figures for the previous snapshot: growth not measured",
                extra={"snapshot_id": previous_snapshot_id, "error": str(exc)},
            )
        else:
            if previous["bytes"] > 0:
                figures["growth_percent"] = round(100.0 * (figures["bytes"] - previous["bytes"]) / previous["bytes"], 2)
    return figures


def list_snapshot_ids(*, environment: str, bucket: str, s3: Any = None) -> list[str]:
    """Every snapshot folder of the environment that holds objects, oldest first (ids sort by time).

    Built from object keys rather than common prefixes: a snapshot has tens of files, and some S3
    emulations list a pruned folder's delete markers as a common prefix.
    """
    paginator = client("s3", s3).get_paginator("list_objects_v2")
    ids = set()
    for page in paginator.paginate(Bucket=bucket, Prefix=layout.snapshots_prefix(environment)):
        for obj in page.get("Contents", []):
            snapshot_id = layout.snapshot_id_from_key(environment, obj["Key"])
            if snapshot_id:
                ids.add(snapshot_id)
    return sorted(ids)


def prune(*, environment: str, keep: int, bucket: str, s3: Any = None, dry_run: bool = False) -> dict[str, list[str]]:
    """Delete all but the newest `keep` complete snapshots; never the latest, nothing newer than it, and never
    the snapshot state.json says is owed a restore.

    Incomplete folders (failed exports) older than the latest are deleted too. The bucket is versioned,
    so a pruned snapshot stays recoverable until the lifecycle rule expires old versions. `dry_run`
    returns the same answer and deletes nothing.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: the latest snapshot is never deleted")
    s3 = client("s3", s3)
    latest = read_latest(environment=environment, bucket=bucket, s3=s3)
    if latest is None:
        return {"kept": [], "deleted": []}
    ids = list_snapshot_ids(environment=environment, bucket=bucket, s3=s3)
    owed = owed_restore(read_state(environment=environment, bucket=bucket, s3=s3))
    older = [i for i in ids if i < latest]
    complete_older = [i for i in older if exists(s3, bucket, layout.manifest_key(environment, i))]
    kept = set(complete_older[-(keep - 1) :] if keep > 1 else [])
    kept.update(i for i in ids if i >= latest or i == owed)
    deleted = [i for i in older if i not in kept]
    if not dry_run:
        failed: list[str] = []
        for snapshot_id in deleted:
            failed += _delete_folder(s3, bucket, layout.snapshot_prefix(environment, snapshot_id))
        if failed:
            shown = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
            raise SnapshotPruneIncomplete(
                f"Pruning {environment} could not delete {len(failed)} object(s): {shown}. The hibernation itself "
                "succeeded; check the prune function's s3:DeleteObject rights and the bucket policy, then delete them "
                "or let the next hibernation try again."
            )
        logger.info("Pruned snapshots", extra={"environment": environment, "kept": sorted(kept), "deleted": deleted})
    return {"kept": sorted(kept), "deleted": deleted}


def owed_restore(state: dict[str, Any] | None) -> str | None:
    """The snapshot a wake still has to restore (state.json says HIBERNATED), or None."""
    if state and state.get("phase") == "HIBERNATED":
        return state.get("snapshot_id")
    return None


def _delete_folder(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Delete every object under `prefix`; return the keys S3 did not delete ("key (code)"). DeleteObjects answers
    200 even when some keys fail: its Errors list says which."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    failed = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        failed += [f"{e.get('Key')} ({e.get('Code')})" for e in answer.get("Errors", [])]
    return failed
