"""What the adaptive schedule asks a live Airflow, behind one small adapter.

The rules (``planning``) need two answers: each DAG's schedule facts, and whether runs are queued or running.
``AirflowApi`` is that interface; ``RestApiV1`` answers it through MWAA's InvokeRestApi and Airflow 2's
``/api/v1`` (InvokeRestApi maps the version-less path to the environment's version). Airflow 3's ``/api/v2``
names some fields differently (``timetable_summary``, ``logical_date``): a ``RestApiV2`` beside this one is all it
takes, and ``for_version`` picks it, without touching the rules.
"""

from __future__ import annotations

from typing import Any, Protocol

from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

from mwaa_hibernate import restapi
from mwaa_hibernate.dagschedule import DagFacts, classify, parse_timestamp, schedule_from_rest
from mwaa_hibernate.exceptions import RestApiCallFailed
from mwaa_hibernate.planning import Activity

PAGE = 100
BUSY_STATES = ("queued", "running")


class AirflowApi(Protocol):
    def dags(self) -> list[DagFacts]: ...

    def activity(self) -> Activity: ...


class RestApiV1:
    """Airflow 2's REST API through InvokeRestApi (read-only calls)."""

    def __init__(self, environment: str, *, mwaa: Any = None) -> None:
        self.environment = environment
        self.mwaa = mwaa

    def _get(self, path: str, query: dict[str, Any]) -> Any:
        return restapi.invoke(environment=self.environment, method="GET", path=path, query=query, mwaa=self.mwaa)

    def dags(self) -> list[DagFacts]:
        facts, offset = [], 0
        while True:
            page = self._get("/dags", {"limit": PAGE, "offset": offset}) or {}
            for dag in page.get("dags", []):
                if dag["dag_id"] in HIBERNATION_DAG_IDS:
                    continue
                facts.append(
                    classify(
                        dag["dag_id"],
                        paused=bool(dag.get("is_paused")),
                        schedule=schedule_from_rest(dag.get("schedule_interval")),
                        next_run=parse_timestamp(dag.get("next_dagrun_create_after")),
                        description=dag.get("timetable_description"),
                    )
                )
            offset += PAGE
            if offset >= page.get("total_entries", 0) or not page.get("dags"):
                return facts

    def activity(self) -> Activity:
        counts: dict[str, int] = {}
        dags: list[str] = []
        for state in BUSY_STATES:
            page = self._get("/dags/~/dagRuns", {"state": state, "limit": PAGE}) or {}
            counts[state] = int(page.get("total_entries", 0))
            dags += [run["dag_id"] for run in page.get("dag_runs", []) if run.get("dag_id") not in dags]
        return Activity(running=counts["running"], queued=counts["queued"], running_dags=tuple(dags))


def for_version(environment: str, airflow_version: str | None, *, mwaa: Any = None) -> AirflowApi:
    """The adapter for the environment's Airflow version (Airflow 3's is not written yet)."""
    if airflow_version and airflow_version.split(".", 1)[0] not in ("", "2"):
        raise RestApiCallFailed(
            f"Airflow {airflow_version}: the adaptive schedule reads Airflow 2's REST API only so far"
        )
    return RestApiV1(environment, mwaa=mwaa)
