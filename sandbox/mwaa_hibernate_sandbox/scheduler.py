"""EventBridge Scheduler's firing, for the sandbox: moto keeps schedules but never fires them.

``ScheduleFirer`` watches moto's schedules and fires them the way EventBridge Scheduler would, strictly when
due: a one-time ``at()`` schedule at its instant (real time: Airflow's own scheduler in the stand-in runs on the
real clock, so the DAG runs the wake is for happen then), then deleted when its ActionAfterCompletion says so;
a ``rate()`` schedule every period scaled like the sandbox's Wait states (``rate(15 minutes)`` every 30 s at the
default 1/30), counted from when it was first seen. ``cron()`` schedules (the fixed pair) are not fired: the demo
and the tests start those executions themselves. Targets: a state machine (StartExecution with the target's
Input) or a Lambda function (a synchronous Invoke, whose answer is kept in ``fired``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass
class Fired:
    """One firing: which schedule, when it was due and fired, what it started and what a function answered."""

    group: str
    name: str
    due: datetime
    fired_at: datetime
    target: str
    execution_arn: str | None = None
    answer: Any = None


@dataclass
class ScheduleFirer:
    """Fire due ``at()`` and ``rate()`` schedules of moto's Scheduler; ``start()`` / ``stop()``."""

    clients: Callable[[str], Any]
    scale: float
    on_fire: Callable[[Fired], None] | None = None
    fired: list[Fired] = field(default_factory=list)
    _first_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _rate_fires: dict[tuple[str, str], int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ScheduleFirer:
        self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.tick()
            except Exception:  # a sandbox thread must not die silently: log and go on
                log.exception("sandbox scheduler tick failed")

    def schedules(self) -> list[dict[str, Any]]:
        scheduler = self.clients("scheduler")
        found = []
        for group in scheduler.list_schedule_groups().get("ScheduleGroups", []):
            for summary in scheduler.list_schedules(GroupName=group["Name"]).get("Schedules", []):
                found.append(scheduler.get_schedule(Name=summary["Name"], GroupName=group["Name"]))
        return found

    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Fire what is due now; return what fired."""
        now = now or datetime.now(UTC)
        fired = []
        for schedule in self.schedules():
            if schedule.get("State", "ENABLED") != "ENABLED":
                continue
            due = self._due(schedule, now)
            if due is not None:
                fired.append(self._fire(schedule, due, now))
        return fired

    def _due(self, schedule: dict[str, Any], now: datetime) -> datetime | None:
        expression = schedule["ScheduleExpression"].strip()
        key = (schedule.get("GroupName", "default"), schedule["Name"])
        if match := _AT.match(expression):
            zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
            due = datetime.fromisoformat(match.group(1)).replace(tzinfo=zone).astimezone(UTC)
            already = any((f.group, f.name, f.due) == (*key, due) for f in self.fired)
            return due if due <= now and not already else None
        if match := _RATE.match(expression):
            period = int(match.group(1)) * _UNIT[match.group(2).rstrip("s")] * self.scale
            first = self._first_seen.setdefault(key, time.monotonic())
            count = self._rate_fires.get(key, 0)
            if time.monotonic() - first >= (count + 1) * period:
                self._rate_fires[key] = count + 1
                return now
        return None

    def _fire(self, schedule: dict[str, Any], due: datetime, now: datetime) -> Fired:
        target = schedule["Target"]
        payload = target.get("Input") or "{}"
        fired = Fired(schedule.get("GroupName", "default"), schedule["Name"], due, now, target["Arn"])
        self.fired.append(fired)
        if ":states:" in target["Arn"]:
            name = f"{schedule['Name']}-{now:%Y%m%dT%H%M%S}"[:80]
            started = self.clients("stepfunctions").start_execution(
                stateMachineArn=target["Arn"], name=name, input=payload
            )
            fired.execution_arn = started["executionArn"]
        elif ":lambda:" in target["Arn"]:
            answer = self.clients("lambda").invoke(FunctionName=target["Arn"], Payload=payload.encode())
            body = answer["Payload"].read()
            fired.answer = json.loads(body) if body else None
        if schedule.get("ActionAfterCompletion") == "DELETE" and _AT.match(schedule["ScheduleExpression"].strip()):
            self.clients("scheduler").delete_schedule(Name=schedule["Name"], GroupName=fired.group)
        log.info("fired %s/%s (due %s): %s", fired.group, fired.name, due, fired.execution_arn or fired.answer)
        if self.on_fire:
            self.on_fire(fired)
        return fired


def wait_for(condition: Callable[[], Any], *, timeout: timedelta, interval: float = 1.0, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout.total_seconds()
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} waiting for {what}")
