"""Airflow's REST API of one environment, through InvokeRestApi, in the dialect of its Airflow major.

MWAA prefixes a path with /api/v1 on Airflow 2 and /api/v2 on Airflow 3, so the paths are the same; what
differs is the bodies and fields: a v2 trigger must carry `logical_date` (null runs "now"), v2 DAGs say
`is_stale` where v1 said `is_active`, v2 lists exclude stale DAGs unless asked. The environment's
`AirflowVersion` (GetEnvironment) decides, never a guess from an answer. Every path stays within
InvokeRestApi's 64 characters (`restapi.invoke` refuses longer ones).

The adaptive schedule asks two more questions (`schedule_facts`, `activity`); the rules in `planning` see only
their answers, never the REST dialect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mwaa_hibernate_snapshot import versions
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

from mwaa_hibernate import restapi
from mwaa_hibernate.aws import client
from mwaa_hibernate.dagschedule import DagFacts, classify, parse_timestamp, schedule_from_rest
from mwaa_hibernate.environment.status import describe_environment
from mwaa_hibernate.exceptions import DagNotFound, EnvironmentNotFound
from mwaa_hibernate.planning import Activity

# Airflow's REST API page size limit ([api] maximum_page_limit defaults to 100 on both majors).
PAGE_SIZE = 100
BUSY_STATES = ("queued", "running")


@dataclass(frozen=True)
class Dag:
    """A DAG as both majors describe it."""

    dag_id: str
    is_paused: bool
    active: bool
    last_parsed_time: str | None


class AirflowApi:
    """One environment's REST API; `airflow_version` picks v1 (Airflow 2) or v2 (Airflow 3) bodies."""

    def __init__(self, environment: str, airflow_version: str, *, mwaa: Any = None) -> None:
        self.environment = environment
        self.airflow_version = airflow_version
        self.mwaa = client("mwaa", mwaa)

    @classmethod
    def for_environment(cls, environment: str, *, mwaa: Any = None) -> AirflowApi:
        mwaa = client("mwaa", mwaa)
        described = describe_environment(environment, mwaa=mwaa)
        if described is None:
            raise EnvironmentNotFound(f"Environment {environment} does not exist, so its REST API cannot be called.")
        return cls(environment, str(described.get("AirflowVersion", "")), mwaa=mwaa)

    @property
    def airflow3(self) -> bool:
        return versions.is_airflow3(self.airflow_version)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, Any] | None = None,
        dag_id: str | None = None,
    ) -> Any:
        return restapi.invoke(
            environment=self.environment,
            method=method,
            path=path,
            body=body,
            query=query,
            dag_id=dag_id,
            mwaa=self.mwaa,
        )

    # --- DAGs -----------------------------------------------------------------------------------------

    def _dag(self, raw: dict[str, Any]) -> Dag:
        active = not raw.get("is_stale", False) if self.airflow3 else raw.get("is_active", True) is not False
        return Dag(
            dag_id=str(raw.get("dag_id")),
            is_paused=bool(raw.get("is_paused")),
            active=active,
            last_parsed_time=raw.get("last_parsed_time"),
        )

    def get_dag(self, dag_id: str) -> Dag | None:
        try:
            return self._dag(self.call("GET", f"/dags/{dag_id}", dag_id=dag_id) or {})
        except DagNotFound:
            return None

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused}, query=self._paused_mask(), dag_id=dag_id)

    def _paused_mask(self) -> dict[str, Any] | None:
        return {"update_mask": "is_paused"} if self.airflow3 else None

    def _raw_dags(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """GET /dags page by page, as Airflow answers it."""
        offset = 0
        while True:
            query: dict[str, Any] = {"limit": PAGE_SIZE, "offset": offset, "order_by": "dag_id", **filters}
            page = self.call("GET", "/dags", query=query) or {}
            found = page.get("dags", [])
            yield from found
            offset += len(found)
            if not found or offset >= int(page.get("total_entries", 0)):
                return

    def dags(self, *, paused: bool | None = None) -> Iterator[Dag]:
        """Every DAG (stale ones too), page by page."""
        filters: dict[str, Any] = {"exclude_stale": False} if self.airflow3 else {"only_active": False}
        if paused is not None:
            filters["paused"] = paused
        return (self._dag(raw) for raw in self._raw_dags(**filters))

    def patch_matching(self, pattern: str, *, paused: bool) -> dict[str, Any]:
        """One bulk call: set `is_paused` on DAGs whose id contains `pattern` (ILIKE) and (Airflow 3) are not so
        already.

        Airflow 3.0 and 3.2 change at most one page of DAGs per call; callers repeat until nothing matches.
        """
        query: dict[str, Any] = {"dag_id_pattern": pattern, "update_mask": "is_paused", "limit": PAGE_SIZE}
        if self.airflow3:  # Airflow 2's bulk route has no paused filter: it changes every match
            query["paused"] = not paused
        return self.call("PATCH", "/dags", {"is_paused": paused}, query=query) or {}

    # --- runs -----------------------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
        """Create a run of `dag_id` with `conf`; v2 needs `logical_date` (null: a run for "now", not a date)."""
        body: dict[str, Any] = {"conf": conf}
        if run_id:
            body["dag_run_id"] = run_id
        if self.airflow3:
            body["logical_date"] = None
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body, dag_id=dag_id) or {}

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}", dag_id=dag_id) or {}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        page = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", dag_id=dag_id) or {}
        return list(page.get("task_instances", []))

    def import_errors(self, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        while True:
            page = self.call("GET", "/importErrors", query={"limit": page_size, "offset": len(errors)}) or {}
            found = list(page.get("import_errors", []))
            errors.extend(found)
            if len(found) < page_size or len(errors) >= int(page.get("total_entries", 0)):
                return errors

    # --- schedules (what the adaptive schedule asks) --------------------------------------------------

    def schedule_facts(self) -> list[DagFacts]:
        """Each user DAG's schedule facts (v1: `schedule_interval`, `next_dagrun_create_after`; v2:
        `timetable_summary`, `next_dagrun_run_after`); the hibernation DAGs are left out."""
        facts: list[DagFacts] = []
        for raw in self._raw_dags():
            if raw["dag_id"] in HIBERNATION_DAG_IDS:
                continue
            if self.airflow3:
                schedule, next_run = raw.get("timetable_summary"), raw.get("next_dagrun_run_after")
            else:
                schedule = schedule_from_rest(raw.get("schedule_interval"))
                next_run = raw.get("next_dagrun_create_after")
            facts.append(
                classify(
                    raw["dag_id"],
                    paused=bool(raw.get("is_paused")),
                    schedule=schedule,
                    next_run=parse_timestamp(next_run),
                    description=raw.get("timetable_description"),
                )
            )
        return facts

    def activity(self) -> Activity:
        """How many runs are queued and running, and of which DAGs (the first page of each)."""
        counts: dict[str, int] = {}
        dags: list[str] = []
        for state in BUSY_STATES:
            page = self.call("GET", "/dags/~/dagRuns", query={"state": state, "limit": PAGE_SIZE}) or {}
            counts[state] = int(page.get("total_entries", 0))
            dags += [run["dag_id"] for run in page.get("dag_runs", []) if run.get("dag_id") not in dags]
        return Activity(running=counts["running"], queued=counts["queued"], running_dags=tuple(dags))


def for_version(environment: str, airflow_version: str | None, *, mwaa: Any = None) -> AirflowApi:
    """The API of an environment whose version the caller already read (GetEnvironment's AirflowVersion)."""
    return AirflowApi(environment, airflow_version or "", mwaa=mwaa)
