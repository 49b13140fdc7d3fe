"""How the hibernation reaches an environment's metadata database: the carriers, and what the Lambda side
and the runtime inside Airflow agree on about them (docs/contracts.md, "Carriers").

- `in-process` (Airflow 2): the hibernation DAGs' tasks use Airflow's own database engine.
- `task` (Airflow 3): the same DAGs, but each task opens its own connection from the database credentials
  MWAA's containers carry (Airflow 3 blocks the ORM in task processes; the block is code, not network).
- `api-server` (Airflow 3): an Airflow plugin in the API server (which keeps database access by design) runs
  the same steps as a job, started by a Lambda function that logs in with the environment's web login token.

The probe DAG tells whether the `task` carrier works; the plugin's health route whether `api-server` does.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IN_PROCESS = "in-process"
TASK = "task"
API_SERVER = "api-server"
CARRIERS = (IN_PROCESS, TASK, API_SERVER)
# The order the probe prefers when more than one works on Airflow 3: the task carrier runs the same DAGs as on
# Airflow 2 (runs, logs and failure handling in Airflow's UI) and needs no environment update to install.
AIRFLOW3_PREFERENCE = (TASK, API_SERVER)

# The probe DAG. Its first task tries the task carrier and branches to the one outcome task named after what it
# found; that outcome task is all the Lambda side reads back. InvokeRestApi paths are at most 64 characters, too
# short to read an XCom value of this DAG, but its run's task instances fit: /dags/<id>/dagRuns/<run>/taskInstances.
PROBE_DAG_ID = "mwaa_hibernate_probe"
PROBE_TASK_ID = "probe_database_access"
USABLE = "usable"
NO_CREDENTIALS = "no_credentials"
DATABASE_REFUSED = "database_refused"
NOT_ALLOWED = "not_allowed"
NO_FERNET_KEY = "no_fernet_key"
# Outcome (task id of the probe DAG) -> what it means, for a person.
PROBE_OUTCOMES = {
    USABLE: "reached the metadata database with rights to change DAGs, and a Fernet key is configured",
    NO_CREDENTIALS: "the task's environment carries no database credentials (neither MWAA__DB__* nor DB_SECRETS "
    "with POSTGRES_*): MWAA may have stopped giving them to workers",
    DATABASE_REFUSED: "the metadata database refused the connection or the first query",
    NOT_ALLOWED: "the database role may not change DAGs or read task instances",
    NO_FERNET_KEY: "no Fernet key is configured, so the snapshot's secrets could not be decrypted",
}
# Outcomes the Lambda side finds itself when it cannot ask the carrier at all.
NOT_INSTALLED = "not_installed"
UNREACHABLE = "unreachable"
NO_ANSWER = "no_answer"
OUTCOMES = {
    **PROBE_OUTCOMES,
    NOT_INSTALLED: "not installed in the environment",
    UNREACHABLE: "the environment could not be reached",
    NO_ANSWER: "gave no answer in time",
}
# The probe's run ids are short so every path stays within InvokeRestApi's 64 characters.
PROBE_RUN_PREFIX = "probe-"

# The plugin's FastAPI app, mounted by the API server under this prefix (never reachable through
# InvokeRestApi, which only proxies /api/v2). Bump PROTOCOL when a route or body changes incompatibly: the
# plugin refuses a caller that speaks another one.
PLUGIN_NAME = "mwaa_hibernate"
PLUGIN_PREFIX = "/mwaa-hibernate"
PROTOCOL = 1
HEALTH_PATH = f"{PLUGIN_PREFIX}/v{PROTOCOL}/health"
JOBS_PATH = f"{PLUGIN_PREFIX}/v{PROTOCOL}/jobs"
# The file install-dags writes at the top of plugins.zip: Airflow loads every .py file there as a plugin module,
# so the plugin itself stays in the runtime package (kept out of that scan by the zip's .airflowignore).
PLUGIN_LOADER = "mwaa_hibernate_plugin.py"
PLUGIN_LOADER_SOURCE = (
    '"""mwaa-hibernate: the API-server carrier (written by mwaa-hibernate install-dags)."""\n'
    "from mwaa_hibernate_runtime.plugin import MwaaHibernatePlugin  # noqa: F401\n"
)
# Job kinds and states (the plugin's job table and its answers).
EXPORT = "export"
IMPORT = "import"
JOB_KINDS = (EXPORT, IMPORT)
JOB_RUNNING = "running"
JOB_SUCCEEDED = "succeeded"
JOB_FAILED = "failed"


class ProbeResult:
    """Whether one carrier can reach the database: an outcome from OUTCOMES and a sentence (never a credential)."""

    __slots__ = ("carrier", "detail", "outcome")

    def __init__(self, carrier: str, outcome: str, detail: str = "") -> None:
        self.carrier = carrier
        self.outcome = outcome if outcome in OUTCOMES else DATABASE_REFUSED
        self.detail = detail or OUTCOMES[self.outcome]

    @property
    def usable(self) -> bool:
        return self.outcome == USABLE

    def __repr__(self) -> str:
        return f"ProbeResult({self.carrier!r}, {self.outcome!r}, {self.detail!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProbeResult) and self.to_json() == other.to_json()

    def to_json(self) -> dict[str, Any]:
        return {"carrier": self.carrier, "usable": self.usable, "outcome": self.outcome, "detail": self.detail}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None, carrier: str) -> ProbeResult:
        if not isinstance(raw, Mapping):
            return cls(carrier, DATABASE_REFUSED, "the probe returned nothing")
        return cls(str(raw.get("carrier") or carrier), str(raw.get("outcome") or ""), str(raw.get("detail") or ""))
