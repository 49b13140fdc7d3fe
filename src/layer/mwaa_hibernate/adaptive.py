"""The adaptive schedule's side effects: the facts the rules need, loaded; their decisions, carried out and recorded.

``planning`` decides; this module reads the snapshot's DAG facts (through ``mwaa_hibernate_snapshot.tables``, the one
reader of table files), the measured wakes, a person's override and the stack's settings, and writes back: the
one-time wake schedule (EventBridge Scheduler, ``at()`` in UTC, deleted after it fires), the history and the
decisions that ``mwaa-hibernate status`` shows. Keys: ``mwaa_hibernate.layout`` (schedule/ folder).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from mwaa_hibernate_snapshot import HIBERNATION_DAG_IDS, load_manifest, open_store, read_paused_state
from mwaa_hibernate_snapshot.store import SnapshotStore
from mwaa_hibernate_snapshot.tables import read_rows

from mwaa_hibernate import estimate, layout, planning, settings
from mwaa_hibernate.aws import client, error_code, raise_if_transient, read_json, write_json
from mwaa_hibernate.dagschedule import DagFacts, classify, parse_timestamp, schedule_from_column, zone

logger = logging.getLogger(__name__)

FIXED, ADAPTIVE = "FIXED", "ADAPTIVE"
# The one-time schedules the stack creates in its own schedule group.
WAKE_SCHEDULE = "adaptive-wake"
OVERRIDE_END_SCHEDULE = "override-end"
# A one-time schedule is never set in the past or the current minute: it fires at least this much later, which also
# lets the hibernate execution that planned it end first (a wake refuses to start while it runs).
MIN_AHEAD = timedelta(minutes=2)
KEEP_DECISIONS = 30
KEEP_RECORDS = 50
DAG_COLUMNS = (
    "dag_id",
    "is_paused",
    "is_active",
    "schedule_interval",
    "timetable_summary",
    "timetable_description",
    "next_dagrun_create_after",
)
RUN_COLUMNS = ("dag_id", "run_type", "state", "start_date", "end_date")
# Settings the template gives the adaptive functions (names here, values in template.yaml).
SCHEDULE_MODE = "SCHEDULE_MODE"
SCHEDULES_STATE = "SCHEDULES_STATE"
SCHEDULE_GROUP = "SCHEDULE_GROUP"
SCHEDULER_ROLE_ARN = "SCHEDULER_ROLE_ARN"
SCHEDULE_TIMEZONE = "SCHEDULE_TIMEZONE"
KEEP_AWAKE_WINDOWS = "KEEP_AWAKE_WINDOWS"
WAKE_LEAD_MINUTES = "WAKE_LEAD_MINUTES"
FIXED_HIBERNATE_SCHEDULE = "HIBERNATE_SCHEDULE"
FIXED_WAKE_SCHEDULE = "WAKE_SCHEDULE"


@dataclass(frozen=True)
class AdaptiveSettings:
    mode: str
    enabled: bool
    group: str
    role_arn: str
    timezone: str
    windows: tuple[planning.Window, ...]
    default_lead: timedelta
    hibernate_schedule: str
    wake_schedule: str

    @classmethod
    def from_environment(cls) -> AdaptiveSettings:
        return cls(
            mode=settings.optional(SCHEDULE_MODE, FIXED).upper(),
            enabled=settings.optional(SCHEDULES_STATE, "ENABLED").upper() == "ENABLED",
            group=settings.optional(SCHEDULE_GROUP),
            role_arn=settings.optional(SCHEDULER_ROLE_ARN),
            timezone=settings.optional(SCHEDULE_TIMEZONE, "UTC") or "UTC",
            windows=tuple(planning.parse_windows(settings.optional(KEEP_AWAKE_WINDOWS))),
            default_lead=timedelta(minutes=float(settings.optional(WAKE_LEAD_MINUTES, "45") or 45)),
            hibernate_schedule=settings.optional(FIXED_HIBERNATE_SCHEDULE),
            wake_schedule=settings.optional(FIXED_WAKE_SCHEDULE),
        )

    @property
    def adaptive(self) -> bool:
        return self.mode == ADAPTIVE

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)


def now() -> datetime:
    return datetime.now(UTC)


# --- the DAGs' facts, from a snapshot -------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotFacts:
    dags: list[DagFacts]
    timezone: str  # the environment's core.default_timezone (DAGs without their own zone use it)
    environment_class: str | None
    airflow_version: str | None


def _default_timezone(configuration: dict[str, Any] | None) -> str:
    options = (configuration or {}).get("AirflowConfigurationOptions") or {}
    name = str(options.get("core.default_timezone") or "UTC")
    return "UTC" if name.lower() in ("utc", "system") else name


def open_snapshot(*, environment: str, snapshot_id: str, bucket: str, s3: Any = None) -> SnapshotStore:
    return open_store(layout.snapshot_uri(bucket, environment, snapshot_id), s3_client=client("s3", s3))


def snapshot_facts(*, environment: str, snapshot_id: str, bucket: str, s3: Any = None) -> SnapshotFacts:
    """Every DAG's schedule facts from a complete snapshot: its ``dag`` table and its paused-state record (the
    export paused every DAG before exporting, so ``dag.is_paused`` says nothing about them)."""
    s3 = client("s3", s3)
    store = open_snapshot(environment=environment, snapshot_id=snapshot_id, bucket=bucket, s3=s3)
    manifest = load_manifest(store)
    recorded = read_paused_state(store)
    configuration = read_json(s3, bucket, layout.environment_key(environment, snapshot_id))
    dags = []
    for row in read_rows(store, manifest, "dag", DAG_COLUMNS):
        dag_id = row["dag_id"] or ""
        if dag_id in HIBERNATION_DAG_IDS or row["is_active"] == "f":
            continue
        paused = recorded[dag_id] if recorded is not None and dag_id in recorded else row["is_paused"] == "t"
        schedule = schedule_from_column(row["schedule_interval"])
        if schedule is None and row["timetable_summary"]:  # Airflow 3 has no schedule_interval column
            schedule = row["timetable_summary"]
        dags.append(
            classify(
                dag_id,
                paused=paused,
                schedule=schedule,
                next_run=parse_timestamp(row["next_dagrun_create_after"]),
                description=row["timetable_description"],
            )
        )
    return SnapshotFacts(
        dags=sorted(dags, key=lambda d: d.dag_id),
        timezone=_default_timezone(configuration),
        environment_class=(configuration or {}).get("EnvironmentClass") or None,
        airflow_version=manifest.airflow_version,
    )


def run_durations(*, environment: str, snapshot_id: str, bucket: str, s3: Any = None) -> dict[str, timedelta]:
    """Each DAG's median duration over its finished scheduled runs in the snapshot's ``dag_run`` table."""
    store = open_snapshot(environment=environment, snapshot_id=snapshot_id, bucket=bucket, s3=s3)
    durations: dict[str, list[float]] = {}
    for row in read_rows(store, load_manifest(store), "dag_run", RUN_COLUMNS):
        started, ended = parse_timestamp(row["start_date"]), parse_timestamp(row["end_date"])
        if row["run_type"] != "scheduled" or started is None or ended is None or ended < started:
            continue
        durations.setdefault(row["dag_id"] or "", []).append((ended - started).total_seconds())
    return {dag_id: timedelta(seconds=median(values)) for dag_id, values in durations.items()}


# --- history, overrides, decisions ----------------------------------------------------------------------


def read_history(*, environment: str, bucket: str, s3: Any = None) -> dict[str, list[dict[str, Any]]]:
    data = read_json(client("s3", s3), bucket, layout.history_key(environment)) or {}
    return {"wakes": list(data.get("wakes", [])), "hibernations": list(data.get("hibernations", []))}


def wake_records(history: dict[str, list[dict[str, Any]]]) -> list[planning.WakeRecord]:
    records = []
    for item in history.get("wakes", []):
        try:
            records.append(planning.WakeRecord.from_json(item))
        except (KeyError, ValueError, planning.PlanningError):
            logger.warning("Ignoring an unreadable wake record", extra={"record": item})
    return records


def hibernation_time(history: dict[str, list[dict[str, Any]]]) -> timedelta:
    """The median measured hibernation (start to recorded HIBERNATED: export and deletion), or the estimator's
    planning figure before any was measured."""
    seconds = [float(item["seconds"]) for item in history.get("hibernations", []) if "seconds" in item]
    if not seconds:
        return timedelta(minutes=estimate.DEFAULT_DELETE_MINUTES)
    return timedelta(seconds=median(seconds[-planning.WAKE_WINDOW :]))


def record(*, environment: str, bucket: str, kind: str, entry: dict[str, Any], s3: Any = None) -> None:
    """Append a measured wake or hibernation to history.json (the newest KEEP_RECORDS of each kind)."""
    s3 = client("s3", s3)
    history = read_history(environment=environment, bucket=bucket, s3=s3)
    history[kind] = [*history.get(kind, []), entry][-KEEP_RECORDS:]
    write_json(s3, bucket, layout.history_key(environment), history)


def read_override(*, environment: str, bucket: str, s3: Any = None) -> planning.Override | None:
    data = read_json(client("s3", s3), bucket, layout.overrides_key(environment))
    if not data:
        return None
    try:
        return planning.Override.from_json(data)
    except planning.PlanningError:
        logger.warning("The override record is unreadable: ignored", extra={"record": data})
        return None


def write_override(*, environment: str, bucket: str, override: planning.Override, s3: Any = None) -> None:
    write_json(client("s3", s3), bucket, layout.overrides_key(environment), override.to_json())


def clear_override(*, environment: str, bucket: str, s3: Any = None) -> bool:
    """Remove the override; whether there was one."""
    s3 = client("s3", s3)
    existed = read_json(s3, bucket, layout.overrides_key(environment)) is not None
    if existed:
        s3.delete_object(Bucket=bucket, Key=layout.overrides_key(environment))
    return existed


def read_decisions(*, environment: str, bucket: str, s3: Any = None) -> list[dict[str, Any]]:
    return list((read_json(client("s3", s3), bucket, layout.decisions_key(environment)) or {}).get("decisions", []))


def remember(*, environment: str, bucket: str, source: str, decision: planning.Decision, s3: Any = None) -> None:
    """Append a decision (with what made it: plan, idle-check, gate, wake) to decisions.json."""
    s3 = client("s3", s3)
    decisions = read_decisions(environment=environment, bucket=bucket, s3=s3)
    decisions.append({"source": source, **decision.to_json()})
    write_json(s3, bucket, layout.decisions_key(environment), {"decisions": decisions[-KEEP_DECISIONS:]})
    logger.info("Adaptive schedule decided", extra={"source": source, **decision.to_json()})


# --- one-time schedules ---------------------------------------------------------------------------------


def at_expression(moment: datetime) -> str:
    """EventBridge Scheduler's one-time expression, in UTC, at minute precision (rounded down: never late)."""
    return f"at({moment.astimezone(UTC):%Y-%m-%dT%H:%M}:00)"


def put_one_time(
    *,
    name: str,
    moment: datetime,
    target_arn: str,
    payload: dict[str, Any],
    config: AdaptiveSettings,
    description: str,
    scheduler: Any = None,
) -> str:
    """Create or replace a one-time schedule in the stack's group that starts ``target_arn`` with ``payload``."""
    scheduler = client("scheduler", scheduler)
    moment = max(moment, now() + MIN_AHEAD)
    request: dict[str, Any] = {
        "Name": name,
        "GroupName": config.group,
        "ScheduleExpression": at_expression(moment),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
        "Description": description[:512],
        "Target": {
            "Arn": target_arn,
            "RoleArn": config.role_arn,
            "Input": json.dumps(payload),
            "RetryPolicy": {"MaximumRetryAttempts": 2},
        },
    }
    try:
        try:
            scheduler.update_schedule(**request)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            scheduler.create_schedule(**request)
    except ClientError as exc:
        raise_if_transient(exc, f"Scheduling {name}")
        raise
    return request["ScheduleExpression"]


def delete_one_time(*, name: str, config: AdaptiveSettings, scheduler: Any = None) -> bool:
    try:
        client("scheduler", scheduler).delete_schedule(Name=name, GroupName=config.group)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise_if_transient(exc, f"Deleting the schedule {name}")
        raise
    return True


def state_machine_arn(flow: str) -> str:
    return settings.required(
        settings.HIBERNATE_STATE_MACHINE_ARN if flow == "hibernate" else settings.WAKE_STATE_MACHINE_ARN
    )


def wake_payload(decision: planning.Decision) -> dict[str, Any]:
    """The wake execution's input: what the wake is for, read back when it records how it went."""
    return {
        "trigger": "adaptive",
        "due_at": decision.due_at.isoformat() if decision.due_at else None,
        "dag_id": decision.dag_id,
        "runs": decision.details.get("runs", [])[: planning.MAX_RUNS_SHOWN],
    }


def environment_name() -> str:
    return os.environ.get(settings.ENVIRONMENT_NAME, "")


# --- the steps ------------------------------------------------------------------------------------------


def _fixed_state_at(moment: datetime, config: AdaptiveSettings) -> str | None:
    """ "awake" or "asleep": what the fixed schedule pair says at ``moment`` (its latest fire before it)."""
    from mwaa_hibernate.awscron import CronExpressionError, parse_cron

    try:
        tz = config.tz
        last_wake = parse_cron(config.wake_schedule).last_fire_before(moment, tz=tz)
        last_hibernate = parse_cron(config.hibernate_schedule).last_fire_before(moment, tz=tz)
    except CronExpressionError:
        return None  # rate() schedules: no notion of "should be awake now"
    if last_wake is None and last_hibernate is None:
        return None
    return "awake" if (last_hibernate is None or (last_wake and last_wake > last_hibernate)) else "asleep"


def ensure_override_end(*, override: planning.Override | None, config: AdaptiveSettings, scheduler: Any = None) -> str:
    """With a fixed schedule, put the environment back where the schedule wants it when an override ends.

    (The adaptive schedule needs no such step: the idle check and the planned wake take the override's end into
    account.) Returns what was arranged, for the record.
    """
    if override is None or config.adaptive or not config.enabled:
        return ""
    wanted = _fixed_state_at(override.until, config)
    flow = {("AWAKE", "asleep"): "hibernate", ("ASLEEP", "awake"): "wake"}.get((override.kind, wanted or ""))
    if flow is None:
        delete_one_time(name=OVERRIDE_END_SCHEDULE, config=config, scheduler=scheduler)
        return ""
    put_one_time(
        name=OVERRIDE_END_SCHEDULE,
        moment=override.until,
        target_arn=state_machine_arn(flow),
        payload={"trigger": "override-end"},
        config=config,
        description=f"Back to the fixed schedule when the override ends: {flow}",
        scheduler=scheduler,
    )
    return f"{flow} at {override.until:%Y-%m-%d %H:%M} UTC, when the override ends (the fixed schedule's state then)"


def gate(
    *,
    environment: str,
    flow: str,
    trigger: str,
    bucket: str,
    config: AdaptiveSettings,
    s3: Any = None,
    scheduler: Any = None,
) -> dict[str, Any]:
    """Whether this execution goes on, honouring a person's override (planning.gate); a skipped adaptive wake is
    planned again for after the override."""
    moment = now()
    override = read_override(environment=environment, bucket=bucket, s3=s3)
    decision = planning.gate(flow=flow, trigger=trigger, now=moment, override=override)
    arranged = ensure_override_end(
        override=override if override and override.active(moment) else None, config=config, scheduler=scheduler
    )
    if decision.kind == planning.SKIP:
        remember(environment=environment, bucket=bucket, source=f"gate ({flow})", decision=decision, s3=s3)
        if flow == "wake" and config.adaptive:
            latest = _latest(environment=environment, bucket=bucket, s3=s3)
            if latest:
                plan(
                    environment=environment,
                    snapshot_id=latest,
                    bucket=bucket,
                    config=config,
                    s3=s3,
                    scheduler=scheduler,
                )
    return {"proceed": decision.kind == planning.PROCEED, "reason": decision.reason, "arranged": arranged}


def replan(
    *, environment: str, bucket: str, config: AdaptiveSettings, s3: Any = None, scheduler: Any = None
) -> dict[str, Any]:
    """Plan the wake again (after a person changed or removed an override), when hibernated in adaptive mode."""
    state = read_json(client("s3", s3), bucket, layout.state_key(environment)) or {}
    latest = _latest(environment=environment, bucket=bucket, s3=s3)
    if not config.adaptive or state.get("phase") != "HIBERNATED" or not latest:
        return {"planned": False, "reason": f"nothing to plan (mode {config.mode}, recorded {state.get('phase')})"}
    decision = plan(
        environment=environment, snapshot_id=latest, bucket=bucket, config=config, s3=s3, scheduler=scheduler
    )
    return {"planned": decision.kind == planning.WAKE_AT, "reason": decision.reason}


def _latest(*, environment: str, bucket: str, s3: Any = None) -> str | None:
    pointer = read_json(client("s3", s3), bucket, layout.latest_key(environment))
    return pointer.get("snapshot_id") if isinstance(pointer, dict) else None


def plan(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    config: AdaptiveSettings,
    s3: Any = None,
    scheduler: Any = None,
) -> planning.Decision:
    """Plan the next wake from the snapshot just taken and schedule it (adaptive mode, schedules enabled)."""
    s3 = client("s3", s3)
    facts = snapshot_facts(environment=environment, snapshot_id=snapshot_id, bucket=bucket, s3=s3)
    history = read_history(environment=environment, bucket=bucket, s3=s3)
    lead = planning.lead_time(wake_records(history), default=config.default_lead)
    override = read_override(environment=environment, bucket=bucket, s3=s3)
    decision = planning.plan_wake(
        facts.dags, now=now(), lead=lead, windows=config.windows, override=override, tz=config.tz
    )
    if not config.enabled:
        decision = planning.Decision(
            planning.NO_WAKE,
            "SchedulesState is DISABLED: no wake scheduled (" + decision.reason + ")",
            decision.decided_at,
            due_at=decision.due_at,
            dag_id=decision.dag_id,
            details=decision.details,
        )
    if decision.kind == planning.WAKE_AT and decision.at is not None:
        decision.details["schedule"] = put_one_time(
            name=WAKE_SCHEDULE,
            moment=decision.at,
            target_arn=state_machine_arn("wake"),
            payload=wake_payload(decision),
            config=config,
            description=f"Adaptive wake of {environment}: {decision.reason}",
            scheduler=scheduler,
        )
    else:
        delete_one_time(name=WAKE_SCHEDULE, config=config, scheduler=scheduler)
    remember(environment=environment, bucket=bucket, source="plan", decision=decision, s3=s3)
    return decision


def after_hibernation(
    *,
    environment: str,
    snapshot_id: str,
    started_at: str,
    bucket: str,
    config: AdaptiveSettings,
    s3: Any = None,
    scheduler: Any = None,
) -> dict[str, Any]:
    """Measure the hibernation; in adaptive mode, plan and schedule the next wake."""
    started = parse_timestamp(started_at) or now()
    ended = now()
    entry = {
        "started_at": started.isoformat(),
        "hibernated_at": ended.isoformat(),
        "seconds": round((ended - started).total_seconds(), 1),
    }
    record(environment=environment, bucket=bucket, kind="hibernations", entry=entry, s3=s3)
    if not config.adaptive:
        return {"mode": config.mode, "planned": False, "reason": "the fixed schedule decides the next wake"}
    decision = plan(
        environment=environment, snapshot_id=snapshot_id, bucket=bucket, config=config, s3=s3, scheduler=scheduler
    )
    return {
        "mode": config.mode,
        "planned": decision.kind == planning.WAKE_AT,
        "wake_at": decision.at.isoformat() if decision.at else None,
        "due_at": decision.due_at.isoformat() if decision.due_at else None,
        "dag_id": decision.dag_id,
        "reason": decision.reason,
    }


def after_wake(
    *,
    environment: str,
    execution_input: dict[str, Any],
    started_at: str,
    bucket: str,
    config: AdaptiveSettings,
    topic_arn: str = "",
    s3: Any = None,
    sns: Any = None,
) -> dict[str, Any]:
    """Measure the wake (for the lead time); if it ended after the first run it was for, alert and say so."""
    trigger = str(execution_input.get("trigger") or "")
    due = parse_timestamp(execution_input.get("due_at")) if trigger == "adaptive" else None
    wake = planning.WakeRecord(
        started_at=parse_timestamp(started_at) or now(), awake_at=now(), due_at=due, trigger=trigger
    )
    record(environment=environment, bucket=bucket, kind="wakes", entry=wake.to_json(), s3=s3)
    runs = [
        planning.Run(item["dag_id"], parse_timestamp(item["due_at"]) or wake.awake_at)
        for item in execution_input.get("runs") or []
        if isinstance(item, dict) and item.get("dag_id")
    ]
    late, affected = planning.lateness(due_at=due, awake_at=wake.awake_at, runs=runs)
    result = {"seconds": round(wake.duration.total_seconds(), 1), "late_seconds": round(late.total_seconds(), 1)}
    if late <= timedelta(0):
        return result
    history = read_history(environment=environment, bucket=bucket, s3=s3)
    lead = planning.lead_time(wake_records(history), default=config.default_lead)
    names = ", ".join(f"{run.dag_id} (due {run.due_at:%H:%M} UTC)" for run in affected) or str(
        execution_input.get("dag_id")
    )
    reason = (
        f"the wake finished {planning.minutes(late)} after the first run it was for; runs started late: {names}. "
        f"The lead time is now {planning.minutes(lead.value)} ({lead.reason})"
    )
    decision = planning.Decision(
        "LATE",
        reason,
        wake.awake_at,
        due_at=due,
        dag_id=affected[0].dag_id if affected else None,
        details={
            "late_seconds": result["late_seconds"],
            "dags": [run.to_json() for run in affected],
            "lead": lead.to_json(),
        },
    )
    remember(environment=environment, bucket=bucket, source="wake", decision=decision, s3=s3)
    if topic_arn:
        from mwaa_hibernate import notify

        notify.publish(late_alert(environment, wake, late, affected, lead), topic_arn=topic_arn, sns=sns)
    return {**result, "alerted": bool(topic_arn), "dags_late": [run.dag_id for run in affected]}


def late_alert(
    environment: str, wake: planning.WakeRecord, late: timedelta, affected: list[planning.Run], lead: planning.LeadTime
) -> Any:
    from mwaa_hibernate import notify

    lines = [
        ("Environment", environment),
        ("What happened", f"The adaptive wake finished {planning.minutes(late)} after the first run it was for."),
        (
            "Wake",
            f"started {wake.started_at:%Y-%m-%d %H:%M} UTC, awake {wake.awake_at:%H:%M} UTC "
            f"({planning.minutes(wake.duration)})",
        ),
        (
            "Runs that started late",
            "; ".join(f"{run.dag_id}, due {run.due_at:%Y-%m-%d %H:%M} UTC" for run in affected) or "-",
        ),
        ("Done", f"The lead time is lengthened to {planning.minutes(lead.value)} ({lead.reason})."),
        (
            "What to do",
            "Nothing if this was a one-off. If wakes keep getting slower, raise the stack's WakeLeadMinutes, "
            "or add a keep-awake window before the first run.",
        ),
    ]
    return notify.Alert(
        subject=f"mwaa-hibernate: wake of {environment} was {planning.minutes(late)} late"[: notify.MAX_SUBJECT],
        message="\n".join(f"{label}: {value}" for label, value in lines),
    )


def idle_check(
    *,
    environment: str,
    bucket: str,
    config: AdaptiveSettings,
    api_factory: Any,
    s3: Any = None,
    mwaa: Any = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Decide whether the awake environment should hibernate now; start the hibernation if so."""
    from mwaa_hibernate import preflight
    from mwaa_hibernate.environment.status import describe_environment

    if not config.adaptive or not config.enabled:
        return {
            "checked": False,
            "reason": f"schedule mode {config.mode}, schedules {'on' if config.enabled else 'off'}",
        }
    state = read_json(client("s3", s3), bucket, layout.state_key(environment)) or {}
    described = describe_environment(environment, mwaa=mwaa)
    if described is None or described.get("Status") != "AVAILABLE" or state.get("phase") != "AWAKE":
        status = described.get("Status") if described else "absent"
        return {"checked": False, "reason": f"environment {status}, recorded {state.get('phase')}: nothing to check"}
    machines = [state_machine_arn("hibernate"), state_machine_arn("wake")]
    running = preflight.running_executions(state_machine_arns=machines, own_execution_arn="", sfn=sfn)
    if running:
        return {"checked": False, "reason": f"a cycle is running ({running[0]})"}
    api = api_factory(environment, described.get("AirflowVersion"))
    dags, activity = api.schedule_facts(), api.activity()
    history = read_history(environment=environment, bucket=bucket, s3=s3)
    lead = planning.lead_time(wake_records(history), default=config.default_lead)
    hourly = _hourly_rate(described)
    even = estimate.break_even(lead=lead.value, delete=hibernation_time(history), hourly_rate=hourly)
    override = read_override(environment=environment, bucket=bucket, s3=s3)
    decision = planning.check_idle(
        dags, now=now(), activity=activity, break_even=even, windows=config.windows, override=override, tz=config.tz
    )
    decision.details["lead"] = lead.to_json()
    _remember_check(environment=environment, bucket=bucket, decision=decision, s3=s3)
    result = {"checked": True, "decision": decision.kind, "reason": decision.reason}
    if decision.kind == planning.HIBERNATE:
        remember(environment=environment, bucket=bucket, source="idle check", decision=decision, s3=s3)
        name = f"idle-{now():%Y%m%dT%H%M%SZ}"
        started = client("stepfunctions", sfn).start_execution(
            stateMachineArn=machines[0],
            name=name,
            input=json.dumps({"trigger": "idle", "reason": decision.reason[:1000]}),
        )
        result["execution_arn"] = started["executionArn"]
    return result


def _remember_check(*, environment: str, bucket: str, decision: planning.Decision, s3: Any = None) -> None:
    """The latest idle check, kept apart from the decisions list so the checks every few minutes do not push the
    wakes and hibernations out of it."""
    s3 = client("s3", s3)
    document = read_json(s3, bucket, layout.decisions_key(environment)) or {"decisions": []}
    document["last_idle_check"] = {"source": "idle check", **decision.to_json()}
    write_json(s3, bucket, layout.decisions_key(environment), document)


def _hourly_rate(described: dict[str, Any]) -> float | None:
    from mwaa_hibernate.pricing import EstimateError, resolve_prices

    region = str(described.get("Arn", "::::")).split(":")[3] or "us-east-1"
    try:
        return resolve_prices(
            environment_class=described.get("EnvironmentClass", ""), region=region
        ).environment_per_hour
    except EstimateError:
        return None
