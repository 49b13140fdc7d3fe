"""The CloudWatch metrics the functions publish: the one place for their namespace, names, units and dimensions.

The functions write them as CloudWatch embedded metric format (EMF) records to their own log, through Powertools'
``Metrics``; CloudWatch Logs turns the records into metrics, so no function needs cloudwatch:PutMetricData. The
template's dashboard and alarms read these metrics: its MetricsNamespace parameter defaults to ``NAMESPACE`` and its
POWERTOOLS_SERVICE_NAME is ``SERVICE`` (tests/aws/template check both, and that the dashboard shows only metrics
listed here). Every metric carries the same dimensions, ``dimensions(environment)``: Powertools adds ``service``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

NAMESPACE = "MwaaHibernate"
ENVIRONMENT_DIMENSION = "Environment"
# Powertools adds this dimension to every record, valued from POWERTOOLS_SERVICE_NAME.
SERVICE_DIMENSION = "service"
SERVICE = "mwaa-hibernate"


@dataclass(frozen=True)
class Metric:
    """One metric: its CloudWatch name and unit, which function publishes it and when, and what it means."""

    name: str
    unit: str
    published: str
    meaning: str


# --- the snapshot of each cycle (published when the snapshot becomes the latest) --------------------------
SNAPSHOT_TABLES = Metric("SnapshotTables", "Count", "commit", "Tables in the snapshot that became the latest.")
SNAPSHOT_ROWS = Metric("SnapshotRows", "Count", "commit", "Rows in that snapshot, all tables together.")
SNAPSHOT_BYTES = Metric("SnapshotBytes", "Bytes", "commit", "Its size in S3 (compressed table files).")
SNAPSHOT_EXPORT_SECONDS = Metric(
    "SnapshotExportSeconds", "Seconds", "commit", "How long the export DAG took to write it (from its manifest)."
)
SNAPSHOT_GROWTH_PERCENT = Metric(
    "SnapshotGrowthPercent",
    "Percent",
    "commit",
    "Its size against the previous latest snapshot, in percent (+50 is half as large again). Not published for "
    "the first snapshot.",
)
# --- the environment ---------------------------------------------------------------------------------------
ENVIRONMENT_AWAKE = Metric(
    "EnvironmentAwake",
    "None",
    "record state",
    "1 when a wake recorded the environment as awake, 0 when a hibernation recorded it as hibernated.",
)
HOURS_HIBERNATED = Metric(
    "HoursHibernated",
    "None",
    "record state (wake)",
    "At each wake: hours from the end of the previous hibernation to the start of this wake, when the environment "
    "did not exist and MWAA billed nothing.",
)
# --- how cycles end (from the state machines' reports and the EventBridge rule, one per execution) ----------
HIBERNATIONS_SUCCEEDED = Metric("HibernationsSucceeded", "Count", "notify", "Hibernations that finished.")
HIBERNATIONS_FAILED = Metric(
    "HibernationsFailed", "Count", "notify", "Hibernations that failed, timed out or were stopped."
)
WAKES_SUCCEEDED = Metric("WakesSucceeded", "Count", "notify", "Wakes that finished.")
WAKES_FAILED = Metric("WakesFailed", "Count", "notify", "Wakes that failed, timed out or were stopped.")
# --- what the steps did -------------------------------------------------------------------------------------
CONFIGURATIONS_SAVED = Metric("ConfigurationsSaved", "Count", "save configuration", "Configurations saved.")
DAG_RUNS_TRIGGERED = Metric(
    "DagRunsTriggered", "Count", "trigger DAG", "Export and import DAG runs started with a callback."
)
ENVIRONMENTS_CREATED = Metric("EnvironmentsCreated", "Count", "create environment", "CreateEnvironment calls.")
ENVIRONMENT_FAILURES = Metric(
    "EnvironmentFailures", "Count", "explain failure", "Environments MWAA reported as failed while waiting."
)
SNAPSHOTS_PRUNED = Metric("SnapshotsPruned", "Count", "prune", "Old snapshots deleted.")
DAGS_UNPAUSED_AFTER_FAILURE = Metric(
    "DagsUnpausedAfterFailure", "Count", "restore paused DAGs", "DAGs unpaused again after a failed hibernation."
)
ALERTS_PUBLISHED = Metric("AlertsPublished", "Count", "notify", "Messages sent to the alert topic.")

ALL: tuple[Metric, ...] = (
    SNAPSHOT_TABLES,
    SNAPSHOT_ROWS,
    SNAPSHOT_BYTES,
    SNAPSHOT_EXPORT_SECONDS,
    SNAPSHOT_GROWTH_PERCENT,
    ENVIRONMENT_AWAKE,
    HOURS_HIBERNATED,
    HIBERNATIONS_SUCCEEDED,
    HIBERNATIONS_FAILED,
    WAKES_SUCCEEDED,
    WAKES_FAILED,
    CONFIGURATIONS_SAVED,
    DAG_RUNS_TRIGGERED,
    ENVIRONMENTS_CREATED,
    ENVIRONMENT_FAILURES,
    SNAPSHOTS_PRUNED,
    DAGS_UNPAUSED_AFTER_FAILURE,
    ALERTS_PUBLISHED,
)
BY_NAME: dict[str, Metric] = {metric.name: metric for metric in ALL}

_SNAPSHOT_FIGURES = {
    "tables": SNAPSHOT_TABLES,
    "rows": SNAPSHOT_ROWS,
    "bytes": SNAPSHOT_BYTES,
    "seconds": SNAPSHOT_EXPORT_SECONDS,
    "growth_percent": SNAPSHOT_GROWTH_PERCENT,
}
_OUTCOMES = {
    ("hibernate", True): HIBERNATIONS_SUCCEEDED,
    ("hibernate", False): HIBERNATIONS_FAILED,
    ("wake", True): WAKES_SUCCEEDED,
    ("wake", False): WAKES_FAILED,
}


class MetricSink(Protocol):
    """What publishing needs from Powertools' ``Metrics`` (the handlers' module-level instance)."""

    def add_dimension(self, name: str, value: str) -> None: ...

    def add_metric(self, name: str, unit: str, value: float) -> None: ...


def dimensions(environment: str) -> dict[str, str]:
    """The dimensions of every metric, as CloudWatch stores them (the dashboard and alarms must match exactly)."""
    return {ENVIRONMENT_DIMENSION: environment, SERVICE_DIMENSION: SERVICE}


def outcome(flow: str, *, succeeded: bool) -> Metric:
    """The metric counting how a hibernate or wake execution ended."""
    try:
        return _OUTCOMES[(flow, succeeded)]
    except KeyError:
        raise ValueError(f"flow must be hibernate or wake, not {flow!r}") from None


def publish(sink: MetricSink, environment: str, values: Mapping[Metric, float]) -> None:
    """Add each value under the environment's dimension; Powertools writes them when the handler returns."""
    if not values:
        return
    sink.add_dimension(name=ENVIRONMENT_DIMENSION, value=environment)
    for metric, value in values.items():
        sink.add_metric(name=metric.name, unit=metric.unit, value=value)


def snapshot_values(figures: Mapping[str, float]) -> dict[Metric, float]:
    """The snapshot metrics from ``snapshots.committed_figures`` (each only when the figure is known)."""
    return {metric: figures[key] for key, metric in _SNAPSHOT_FIGURES.items() if key in figures}
