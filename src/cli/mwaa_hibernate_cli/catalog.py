"""What is in the snapshot bucket, per snapshot: the facts `mwaa-hibernate snapshots list|show` print.

Read-only. A snapshot is *complete* when its manifest exists (written last); *verified* when the
hibernation verified it and pointed latest.json or state.json at it (the pointer only ever moves to a
verified snapshot); *owed* when state.json says HIBERNATED with it, i.e. the next wake restores it.
`snapshots.verify` checks any snapshot again, from its bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from mwaa_hibernate import layout, snapshots
from mwaa_hibernate.aws import client, error_code, read_json
from mwaa_hibernate.exceptions import SnapshotNotFound
from mwaa_hibernate_snapshot import Manifest, SnapshotError

# GetEnvironment fields a person wants to see about the saved configuration (values of
# AirflowConfigurationOptions are marked sensitive in MWAA's model: only their keys are shown).
CONFIGURATION_FIELDS = (
    "AirflowVersion",
    "EnvironmentClass",
    "MinWorkers",
    "MaxWorkers",
    "Schedulers",
    "MinWebservers",
    "MaxWebservers",
    "WebserverAccessMode",
    "SourceBucketArn",
    "DagS3Path",
    "PluginsS3Path",
    "RequirementsS3Path",
    "StartupScriptS3Path",
    "ExecutionRoleArn",
    "KmsKey",
    "WeeklyMaintenanceWindowStart",
)


@dataclass(frozen=True)
class SnapshotSummary:
    """One row of `snapshots list`."""

    snapshot_id: str
    created_at: str
    complete: bool
    verified: bool
    latest: bool
    owed_restore: bool
    airflow_version: str | None = None
    tables: int | None = None
    rows: int | None = None
    bytes: int | None = None
    # Why a folder with a manifest cannot be read, if so (the manifest is damaged or of another format).
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableSummary:
    table: str
    kind: str | None
    rows: int | None
    bytes: int
    seconds: float | None = None


@dataclass(frozen=True)
class SnapshotDetails:
    """What `snapshots show ID` prints: the summary, the manifest per table, and the saved configuration."""

    summary: SnapshotSummary
    tables: tuple[TableSummary, ...] = ()
    encryption: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    excluded_dag_ids: tuple[str, ...] = ()
    alembic_revision: str | None = None
    paused_state_saved: bool = False
    configuration: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary.to_json(),
            "tables_detail": [asdict(t) for t in self.tables],
            "encryption": self.encryption,
            "timings": self.timings,
            "excluded_dag_ids": list(self.excluded_dag_ids),
            "alembic_revision": self.alembic_revision,
            "paused_state_saved": self.paused_state_saved,
            "configuration": self.configuration,
        }


@dataclass(frozen=True)
class _Pointers:
    latest: str | None
    state: dict[str, Any] | None

    def verified(self) -> set[str]:
        recorded = {self.latest, (self.state or {}).get("snapshot_id")}
        return {snapshot_id for snapshot_id in recorded if snapshot_id}


def list_snapshots(*, environment: str, bucket: str, s3: Any = None) -> list[SnapshotSummary]:
    """Every snapshot folder of the environment, oldest first."""
    s3 = client("s3", s3)
    pointers = _pointers(environment, bucket, s3)
    ids = snapshots.list_snapshot_ids(environment=environment, bucket=bucket, s3=s3)
    return [_summary(environment, bucket, s3, snapshot_id, pointers)[0] for snapshot_id in ids]


def show_snapshot(*, environment: str, bucket: str, snapshot_id: str, s3: Any = None) -> SnapshotDetails:
    """One snapshot in detail; SnapshotNotFound when the folder does not exist."""
    s3 = client("s3", s3)
    require_snapshot(environment=environment, bucket=bucket, snapshot_id=snapshot_id, s3=s3)
    summary, manifest = _summary(environment, bucket, s3, snapshot_id, _pointers(environment, bucket, s3))
    saved = read_json(s3, bucket, layout.environment_key(environment, snapshot_id))
    configuration = configuration_summary(saved) if isinstance(saved, dict) else None
    if manifest is None:
        return SnapshotDetails(summary=summary, configuration=configuration)
    per_table = manifest.timings.get("tables") or {}
    return SnapshotDetails(
        summary=summary,
        tables=tuple(
            TableSummary(
                table=f.table or f.path, kind=f.kind, rows=f.rows, bytes=f.bytes, seconds=per_table.get(f.table)
            )
            for f in manifest.files
        ),
        encryption=encryption_summary(manifest.encryption),
        timings={k: v for k, v in manifest.timings.items() if k != "tables"},
        excluded_dag_ids=manifest.excluded_dag_ids,
        alembic_revision=manifest.alembic_revision,
        paused_state_saved=manifest.paused_state is not None,
        configuration=configuration,
    )


def require_snapshot(*, environment: str, bucket: str, snapshot_id: str, s3: Any = None) -> str:
    """The id, checked: well formed and present in the bucket; SnapshotNotFound otherwise."""
    try:
        layout.check_snapshot_id(snapshot_id)
    except ValueError as exc:
        raise SnapshotNotFound(
            f"{exc}. `mwaa-hibernate snapshots list` shows the snapshot ids of {environment}."
        ) from None
    listing = client("s3", s3).list_objects_v2(
        Bucket=bucket, Prefix=layout.snapshot_prefix(environment, snapshot_id), MaxKeys=1
    )
    if not listing.get("Contents"):
        raise SnapshotNotFound(
            f"There is no snapshot {snapshot_id} of {environment} in s3://{bucket}/. "
            "`mwaa-hibernate snapshots list` shows the ones there are."
        )
    return snapshot_id


def latest_or_fail(*, environment: str, bucket: str, s3: Any = None) -> str:
    """The latest verified snapshot's id; SnapshotNotFound before the first hibernation."""
    latest = snapshots.read_latest(environment=environment, bucket=bucket, s3=s3)
    if latest is None:
        raise SnapshotNotFound(
            f"{environment} has no latest snapshot in s3://{bucket}/ (no hibernation has completed yet). "
            "Name a snapshot id, or run a hibernation first."
        )
    return latest


def configuration_summary(saved: dict[str, Any]) -> dict[str, Any]:
    """The saved GetEnvironment output, reduced to what a person checks before a wake (no secret values)."""
    summary = {name: saved[name] for name in CONFIGURATION_FIELDS if saved.get(name) not in (None, "")}
    network = saved.get("NetworkConfiguration") or {}
    if network:
        summary["SubnetIds"] = list(network.get("SubnetIds", []))
        summary["SecurityGroupIds"] = list(network.get("SecurityGroupIds", []))
    options = saved.get("AirflowConfigurationOptions") or {}
    if options:
        summary["AirflowConfigurationOptions"] = sorted(options)
    tags = saved.get("Tags") or {}
    if tags:
        summary["Tags"] = sorted(tags)
    return summary


def encryption_summary(encryption: dict[str, Any]) -> dict[str, Any]:
    """How the snapshot's secrets are protected: the scheme and key, never the (encrypted) data key itself."""
    return {k: v for k, v in encryption.items() if isinstance(v, str | int | bool) and "data_key" not in k}


def _pointers(environment: str, bucket: str, s3: Any) -> _Pointers:
    return _Pointers(
        latest=snapshots.read_latest(environment=environment, bucket=bucket, s3=s3),
        state=snapshots.read_state(environment=environment, bucket=bucket, s3=s3),
    )


def _summary(
    environment: str, bucket: str, s3: Any, snapshot_id: str, pointers: _Pointers
) -> tuple[SnapshotSummary, Manifest | None]:
    manifest, problem, complete = None, None, False
    try:
        body = s3.get_object(Bucket=bucket, Key=layout.manifest_key(environment, snapshot_id))["Body"].read()
        complete = True
        manifest = Manifest.loads(body, where=f"s3://{bucket}/{layout.manifest_key(environment, snapshot_id)}")
    except ClientError as exc:
        if error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
            raise
    except SnapshotError as exc:
        problem = str(exc)
    summary = SnapshotSummary(
        snapshot_id=snapshot_id,
        created_at=manifest.created_at if manifest else _time_of(snapshot_id),
        complete=complete,
        verified=complete and snapshot_id in pointers.verified(),
        latest=snapshot_id == pointers.latest,
        owed_restore=snapshot_id == snapshots.owed_restore(pointers.state),
        airflow_version=manifest.airflow_version if manifest else None,
        tables=len(manifest.files) if manifest else None,
        rows=manifest.rows if manifest else None,
        bytes=manifest.bytes if manifest else None,
        problem=problem,
    )
    return summary, manifest


def _time_of(snapshot_id: str) -> str:
    """When the hibernation that made the folder started (the id is that time), as ISO 8601."""
    started = datetime.strptime(snapshot_id, layout.SNAPSHOT_ID_FORMAT).replace(tzinfo=UTC)
    return started.isoformat()
