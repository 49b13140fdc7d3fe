"""The adaptive schedule in `mwaa-hibernate status`: the mode, a person's override, the planned wake, the lead
time, and the last decisions with their reasons and the DAG that drove each (read-only: s3:GetObject on the
schedule/ folder, scheduler:GetSchedule in the stack's group)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from mwaa_hibernate import adaptive, layout, planning
from mwaa_hibernate.aws import error_code, read_json
from rich.console import Console
from rich.table import Table

from mwaa_hibernate_cli.deployment import AwsSession, Deployment

SHOWN_DECISIONS = 5


def collect(session: AwsSession, deployment: Deployment) -> dict[str, Any]:
    s3 = session.client("s3")
    env, bucket = deployment.environment, deployment.bucket
    override = adaptive.read_override(environment=env, bucket=bucket, s3=s3)
    document = read_json(s3, bucket, layout.decisions_key(env)) or {}
    history = adaptive.read_history(environment=env, bucket=bucket, s3=s3)
    lead = planning.lead_time(
        adaptive.wake_records(history), default=timedelta(minutes=float(deployment.wake_lead_minutes or 45))
    )
    return {
        "mode": deployment.schedule_mode,
        "override": override.to_json() if override else None,
        "override_active": bool(override and override.active(adaptive.now())),
        "planned_wake": _planned(session, deployment, adaptive.WAKE_SCHEDULE),
        "override_end": _planned(session, deployment, adaptive.OVERRIDE_END_SCHEDULE),
        "lead": lead.to_json(),
        "decisions": list(document.get("decisions", []))[-SHOWN_DECISIONS:],
        "last_idle_check": document.get("last_idle_check"),
    }


def _planned(session: AwsSession, deployment: Deployment, name: str) -> dict[str, Any] | None:
    if not deployment.adaptive_group:
        return None
    try:
        found = session.client("scheduler").get_schedule(Name=name, GroupName=deployment.adaptive_group)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    expression = found["ScheduleExpression"]
    at = datetime.fromisoformat(expression.removeprefix("at(").removesuffix(")") + "+00:00")
    return {"at": at.isoformat(), "expression": expression, "input": json.loads(found["Target"].get("Input") or "{}")}


def add_rows(facts: Table, view: dict[str, Any], zone: ZoneInfo) -> None:
    if not view:
        return
    facts.add_row("Schedule mode", view["mode"] + ("" if view["mode"] == "ADAPTIVE" else " (the two schedules above)"))
    override = view.get("override")
    if override:
        until = datetime.fromisoformat(override["until"]).astimezone(zone)
        state = "active" if view["override_active"] else "ended"
        facts.add_row(
            "Override",
            f"[magenta]{override['kind'].lower()} until {until:%a %Y-%m-%d %H:%M %Z}[/] ({state}; by {override['by']}; "
            "`mwaa-hibernate resume` removes it)",
        )
    planned = view.get("planned_wake")
    if planned:
        at = datetime.fromisoformat(planned["at"]).astimezone(zone)
        due = planned["input"].get("due_at")
        for_ = f" for {planned['input'].get('dag_id') or 'a keep-awake window'}"
        if due:
            for_ += f" due {datetime.fromisoformat(due).astimezone(zone):%H:%M}"
        facts.add_row("Planned wake", f"{at:%a %Y-%m-%d %H:%M %Z}{for_}")
    elif view["mode"] == "ADAPTIVE":
        facts.add_row("Planned wake", "none scheduled (see the last decisions)")
    if view["mode"] == "ADAPTIVE":
        lead = view["lead"]
        facts.add_row("Lead time", f"{planning.minutes(timedelta(seconds=lead['seconds']))} ({lead['reason']})")


def render_decisions(console: Console, view: dict[str, Any], zone: ZoneInfo) -> None:
    rows = [*view.get("decisions", [])]
    if view.get("last_idle_check"):
        rows.append(view["last_idle_check"])
    if not rows:
        return
    table = Table(title="Last decisions of the schedule", title_justify="left")
    for column in ("When", "By", "Decision", "DAG", "Why"):
        table.add_column(column)
    for decision in sorted(rows, key=lambda d: d.get("decided_at", "")):
        when = datetime.fromisoformat(decision["decided_at"]).astimezone(zone)
        kind = decision["kind"]
        if decision.get("at"):
            kind += f" {datetime.fromisoformat(decision['at']).astimezone(zone):%a %H:%M}"
        table.add_row(
            f"{when:%Y-%m-%d %H:%M}", decision.get("source", ""), kind, decision.get("dag_id") or "", decision["reason"]
        )
    console.print(table)
