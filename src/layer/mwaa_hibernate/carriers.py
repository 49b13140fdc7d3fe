"""Choose how the hibernation reaches the environment's metadata database, before each hibernation and wake.

The probe (docs/contracts.md, "Carriers"):

1. The version guard: the environment's Airflow must be one mwaa-hibernate was tested on, and on a wake
   the snapshot's Airflow version must equal the environment's.
2. Airflow 2: the DAGs' tasks reach the database in-process; nothing else to check.
3. Airflow 3, the task carrier: trigger the probe DAG through InvokeRestApi and read which outcome task ran
   (a task opened its own connection with the container's credentials, or why it could not).
4. Airflow 3, the API-server carrier: log in to the web server and ask the plugin's health route.
5. Choose the first that works, in `AIRFLOW3_PREFERENCE` order; record the choice and both answers in the
   stack's `<environment>/carrier.json` (written only by the stack's functions); or fail with a sentence
   that says what to do when neither works.

The answers hold sentences and outcomes only, never a credential or a token.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mwaa_hibernate_snapshot import versions
from mwaa_hibernate_snapshot.carrier import (
    AIRFLOW3_PREFERENCE,
    API_SERVER,
    DATABASE_REFUSED,
    HEALTH_PATH,
    IN_PROCESS,
    JOBS_PATH,
    NO_ANSWER,
    NOT_INSTALLED,
    PROBE_DAG_ID,
    PROBE_OUTCOMES,
    PROBE_RUN_PREFIX,
    PROBE_TASK_ID,
    PROTOCOL,
    TASK,
    UNREACHABLE,
    USABLE,
    ProbeResult,
)

from mwaa_hibernate import layout, weblogin
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.aws import client, read_json, write_json
from mwaa_hibernate.environment.status import describe_environment
from mwaa_hibernate.exceptions import (
    AirflowVersionMismatch,
    DagNotFound,
    EnvironmentNotAvailable,
    EnvironmentNotFound,
    MwaaHibernateError,
    NoCarrier,
    TransientAwsError,
    UnsupportedAirflowVersion,
    WebServerCallFailed,
    WebServerUnreachable,
)

logger = logging.getLogger(__name__)

# How long the task carrier's probe may take: MWAA schedules the run, a worker starts the task, it connects.
PROBE_TIMEOUT_SECONDS = 240.0
PROBE_POLL_SECONDS = 3.0
_FINISHED = ("success", "failed")


# --- the task carrier -----------------------------------------------------------------------------------


def probe_task_carrier(
    api: AirflowApi,
    *,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    poll: float = PROBE_POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProbeResult:
    """Run the probe DAG once and read which outcome task it chose."""
    carrier = TASK if api.airflow3 else IN_PROCESS
    run_id = PROBE_RUN_PREFIX + secrets.token_hex(4)
    try:
        api.set_paused(PROBE_DAG_ID, False)
        api.trigger(PROBE_DAG_ID, {}, run_id=run_id)
        started = clock()
        while (state := _run_state(api, run_id)) not in _FINISHED:
            if clock() - started >= timeout:
                return ProbeResult(
                    carrier,
                    NO_ANSWER,
                    f"the probe DAG's run {run_id} had not finished after {timeout:.0f} s (state {state}): the "
                    "scheduler or the workers may be busy or stopped",
                )
            sleep(poll)
        ran = {ti.get("task_id"): ti.get("state") for ti in api.task_instances(PROBE_DAG_ID, run_id)}
    except DagNotFound:
        return ProbeResult(
            carrier,
            NOT_INSTALLED,
            f"the probe DAG {PROBE_DAG_ID} is not in the environment: run `mwaa-hibernate install-dags`",
        )
    except MwaaHibernateError as exc:
        return ProbeResult(carrier, UNREACHABLE, f"the REST API call failed: {exc}")
    outcome = next((name for name in PROBE_OUTCOMES if ran.get(name) == "success"), None)
    if outcome is None:
        return ProbeResult(
            carrier,
            DATABASE_REFUSED,
            f"the probe task {PROBE_TASK_ID} ended {ran.get(PROBE_TASK_ID) or 'without running'} in run {run_id} "
            f"({state}); its log in Airflow says why",
        )
    return ProbeResult(carrier, outcome, f"{PROBE_OUTCOMES[outcome]} (probe run {run_id})")


def _run_state(api: AirflowApi, run_id: str) -> str | None:
    """The probe run's state; None while InvokeRestApi fails temporarily (the wait's timeout still applies)."""
    try:
        return api.dag_run(PROBE_DAG_ID, run_id).get("state")
    except TransientAwsError:
        return None


# --- the API-server carrier ----------------------------------------------------------------------------


def probe_plugin(environment: str, *, mwaa: Any = None) -> ProbeResult:
    """Ask the plugin's health route, through the web login."""
    try:
        session = weblogin.login(environment, mwaa=mwaa)
        status, body = session.call("GET", HEALTH_PATH)
    except WebServerUnreachable as exc:
        return ProbeResult(API_SERVER, UNREACHABLE, str(exc))
    except WebServerCallFailed as exc:
        return ProbeResult(API_SERVER, UNREACHABLE, str(exc))
    if status == 404:
        return ProbeResult(
            API_SERVER,
            NOT_INSTALLED,
            "the API server has no mwaa-hibernate plugin routes (not installed, or MWAA did not mount the plugin's "
            "FastAPI app): `mwaa-hibernate install-dags --carrier api-server` installs it",
        )
    if status != 200:
        detail = body.get("detail") if isinstance(body, dict) else body
        return ProbeResult(API_SERVER, UNREACHABLE, f"the plugin's health route answered {status}: {detail}")
    if body.get("protocol") != PROTOCOL:
        return ProbeResult(
            API_SERVER,
            NOT_INSTALLED,
            f"the plugin in the environment speaks protocol {body.get('protocol')}, this stack {PROTOCOL}: install "
            "the same mwaa-hibernate version in both (`mwaa-hibernate install-dags`)",
        )
    return ProbeResult.from_json(body, API_SERVER)


def request_key(task_token: str) -> str:
    """A one-way digest of the task token naming the job (a retried request finds its job; never the token)."""
    return hashlib.sha256(task_token.encode()).hexdigest()[:16]


def submit_job(*, environment: str, kind: str, conf: dict[str, Any], task_token: str, mwaa: Any = None) -> dict:
    """Start an export or import job in the API server; return the job as the plugin describes it."""
    session = weblogin.login(environment, mwaa=mwaa)
    payload = {"protocol": PROTOCOL, "kind": kind, "request": request_key(task_token), "conf": conf}
    status, body = session.call("POST", JOBS_PATH, payload)
    if status in (200, 202):
        return dict(body.get("job") or {}) | {"started": bool(body.get("started"))}
    detail = body.get("detail") if isinstance(body, dict) else body
    if status == 404:
        raise WebServerCallFailed(
            f"{environment}'s API server has no mwaa-hibernate plugin (404): install it with `mwaa-hibernate "
            "install-dags --carrier api-server`, or let the probe choose the task carrier."
        )
    raise WebServerCallFailed(f"The mwaa-hibernate plugin in {environment} refused the {kind} job ({status}): {detail}")


# --- choosing ------------------------------------------------------------------------------------------


def choose(
    *,
    environment: str,
    bucket: str,
    purpose: str,
    snapshot_id: str | None = None,
    mwaa: Any = None,
    s3: Any = None,
    probe_task: Callable[[AirflowApi], ProbeResult] = probe_task_carrier,
    probe_api_server: Callable[[str], ProbeResult] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Probe, record and return {"carrier", "airflow_version", "probes"}; raise NoCarrier when none works."""
    mwaa = client("mwaa", mwaa)
    s3 = client("s3", s3)
    described = describe_environment(environment, mwaa=mwaa)
    if described is None:
        raise EnvironmentNotFound(f"Environment {environment} does not exist: there is nothing to reach.")
    if described.get("Status") != "AVAILABLE":
        raise EnvironmentNotAvailable(
            f"Environment {environment} is {described.get('Status')}; its database can be reached only when it is "
            "AVAILABLE. Nothing was touched."
        )
    version = str(described.get("AirflowVersion", ""))
    refused = versions.refusal(version, environment)
    if refused:
        raise UnsupportedAirflowVersion(refused)
    if purpose == "wake" and snapshot_id:
        check_snapshot_version(environment=environment, bucket=bucket, snapshot_id=snapshot_id, target=version, s3=s3)
    api = AirflowApi(environment, version, mwaa=mwaa)
    if not versions.is_airflow3(version):
        probes = {IN_PROCESS: ProbeResult(IN_PROCESS, USABLE, "Airflow 2 tasks reach the database in-process")}
        chosen: str | None = IN_PROCESS
    else:
        probes = {TASK: probe_task(api)}
        if not probes[TASK].usable:  # the plugin is asked only when it is needed: it costs a web login
            probes[API_SERVER] = (probe_api_server or (lambda env: probe_plugin(env, mwaa=mwaa)))(environment)
        chosen = next((name for name in AIRFLOW3_PREFERENCE if name in probes and probes[name].usable), None)
    record = {
        "environment": environment,
        "airflow_version": version,
        "carrier": chosen,
        "purpose": purpose,
        "checked_at": now().isoformat(timespec="seconds"),
        "probes": {name: result.to_json() for name, result in probes.items()},
    }
    write_json(s3, bucket, layout.carrier_key(environment), record)
    if chosen is None and probes.get(TASK) and probes[TASK].outcome == NOT_INSTALLED:
        # A new environment parses its DAG folder for a minute or two after it is AVAILABLE: the wake retries this.
        raise DagNotFound(no_carrier_text(environment, version, probes))
    if chosen is None:
        raise NoCarrier(no_carrier_text(environment, version, probes))
    logger.info("carrier for %s: %s", environment, chosen, extra={"airflow_version": version})
    return {"carrier": chosen, "airflow_version": version, "probes": record["probes"]}


def no_carrier_text(environment: str, version: str, probes: dict[str, ProbeResult]) -> str:
    found = "; ".join(f"the {name} carrier: {result.detail}" for name, result in probes.items())
    return (
        f"Neither way of reaching {environment}'s metadata database works on Airflow {version} ({found}). Nothing was "
        "touched. Install the API-server plugin with `mwaa-hibernate install-dags --carrier api-server` (MWAA takes 10 "
        "to 30 minutes to apply it) and make sure the stack's functions reach the web server (a public web server, "
        "or FunctionSubnetIds in its VPC for a private one), then run again."
    )


def check_snapshot_version(*, environment: str, bucket: str, snapshot_id: str, target: str, s3: Any) -> None:
    manifest = read_json(s3, bucket, layout.manifest_key(environment, snapshot_id)) or {}
    problem = versions.mismatch(manifest.get("airflow_version"), target, environment)
    if problem:
        raise AirflowVersionMismatch(problem)


def recorded(*, environment: str, bucket: str, s3: Any = None) -> dict[str, Any] | None:
    """The last probe's record, or None."""
    return read_json(client("s3", s3), bucket, layout.carrier_key(environment))
