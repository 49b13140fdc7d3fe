"""The API-server carrier's routes: a FastAPI app the plugin mounts in Airflow 3's API server.

Every route requires an Airflow user who may edit DAGs (Airflow's own auth dependency, so the bearer JWT
MWAA's web login gives is checked like any REST call; plugin routes are public unless they ask). The
Lambda side logs in with the environment's web login token and calls:

- `GET  /v1/health`: can this API server run the hibernation (database reachable and writable, Fernet key,
  job table)? The probe's answer for the `api-server` carrier.
- `POST /v1/jobs`: start an export or import job with the same run conf the DAGs take; answered at once
  (202) while the job runs on a thread of this API server. The same request again returns the same job.
- `GET  /v1/jobs/{id}`: a job's state, from any API server.

This module has no `from __future__ import annotations`: FastAPI reads the annotations at run time.
"""

import hashlib
import logging
import re
from typing import Any

from mwaa_hibernate_snapshot.carrier import (
    API_SERVER,
    EXPORT,
    IMPORT,
    JOB_KINDS,
    JOB_RUNNING,
    PROTOCOL,
    ProbeResult,
)

log = logging.getLogger(__name__)

_REQUEST_KEY = re.compile(r"^[0-9a-f]{8,64}$")


def _engine() -> Any:
    from airflow import settings

    return settings.engine


def _backend() -> Any:
    from mwaa_hibernate_runtime import compat
    from mwaa_hibernate_runtime.backend import SqlBackend

    return SqlBackend(_engine(), compat.fernet_key())


def job_id(kind: str, snapshot_id: str, request_key: str) -> str:
    """One job per state-machine task: the caller's key is derived from its task token, so a retried request
    finds the job it started, and the next hibernation or wake of the same snapshot starts a new one."""
    return f"{kind}-{snapshot_id}-{request_key[:16]}"


def health() -> ProbeResult:
    from mwaa_hibernate_runtime import compat
    from mwaa_hibernate_runtime.job_store import JobStore
    from mwaa_hibernate_runtime.probe import check_database

    return check_database(API_SERVER, _engine, compat.fernet_key(), extra_check=lambda e: JobStore(e).ensure())


def submit(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for a job request; 202 when started now, 200 when it already existed."""
    from mwaa_hibernate_snapshot.errors import InvalidRunConf
    from mwaa_hibernate_snapshot.runconf import parse_export_conf, parse_import_conf

    from mwaa_hibernate_runtime.job_store import JobStore

    if payload.get("protocol") != PROTOCOL:
        return 409, {
            "detail": f"this plugin speaks protocol {PROTOCOL}, the caller {payload.get('protocol')!r}: install the "
            "same mwaa-hibernate version in the environment and the stack (mwaa-hibernate install-dags)"
        }
    kind, key = payload.get("kind"), str(payload.get("request") or "")
    if kind not in JOB_KINDS or not _REQUEST_KEY.match(key):
        return 400, {"detail": f"kind must be one of {', '.join(JOB_KINDS)} and request a hex key"}
    try:
        conf = (parse_export_conf if kind == EXPORT else parse_import_conf)(payload.get("conf"))
    except InvalidRunConf as exc:
        return 400, {"detail": str(exc)}
    store = JobStore(_engine())
    store.ensure()
    lock_holder, job = store.claim(job_id(kind, conf.snapshot.snapshot_id, key), kind, conf.snapshot.snapshot_id)
    if lock_holder is None:
        if job.id != job_id(kind, conf.snapshot.snapshot_id, key) and job.state == JOB_RUNNING:
            return 409, {"detail": f"another job is running in this environment: {job.id}", "job": job.to_json()}
        return 200, {"started": False, "job": job.to_json()}
    from mwaa_hibernate_runtime.jobs import start_in_background

    start_in_background(store=store, job=job, lock_holder=lock_holder, work=_work(kind, conf))
    return 202, {"started": True, "job": job.to_json()}


def _work(kind: str, conf: Any) -> Any:
    from mwaa_hibernate_snapshot import KmsCipher, open_store

    from mwaa_hibernate_runtime import compat, jobs
    from mwaa_hibernate_runtime.callback import TaskTokenCallback

    def kms() -> Any:
        import boto3

        key = getattr(conf, "kms_key_id", "")
        region = key.split(":")[3] if key.startswith("arn:") else conf.callback.region
        return boto3.client("kms", region_name=region)

    def work(progress: Any) -> dict[str, Any]:
        callback = TaskTokenCallback(
            callback=conf.callback, environment=conf.snapshot.environment, mask_secret=_masker()
        )
        store = open_store(conf.snapshot.uri)
        if kind == EXPORT:
            return jobs.run_export(
                conf=conf,
                backend=_backend,
                callback=callback,
                store=store,
                cipher=lambda: KmsCipher(conf.kms_key_id, client=kms()),
                progress=progress,
            )
        return jobs.run_import(
            conf=conf,
            backend=_backend,
            callback=callback,
            store=store,
            cipher=lambda: KmsCipher(client=kms()),
            lock_budget_seconds=compat.heartbeat_timeout_seconds() / 2,
            progress=progress,
        )

    return work


def _masker() -> Any:
    """Airflow's log masker in this process, if it has one reachable (the API server logs through it)."""
    try:
        from mwaa_hibernate_runtime.compat import mask_secret

        mask_secret("mwaa-hibernate-masker-check")
    except Exception:  # no masker here: the token is still never logged by this code
        return None
    return mask_secret


def request_key_for(token: str) -> str:
    """What the Lambda side sends as `request`: a one-way digest of the task token (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def create_app() -> Any:
    from typing import Annotated

    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi import Body, Depends, FastAPI, HTTPException
    from fastapi.responses import JSONResponse

    def may_edit_dags(user: GetUserDep) -> Any:
        from airflow.api_fastapi.app import get_auth_manager

        if not get_auth_manager().is_authorized_dag(method="PUT", user=user):
            raise HTTPException(status_code=403, detail="mwaa-hibernate needs a user who may edit DAGs (Op or Admin)")
        return user

    app = FastAPI(title="mwaa-hibernate", description=__doc__, docs_url=None, redoc_url=None)
    authorized = [Depends(may_edit_dags)]

    @app.get(f"/v{PROTOCOL}/health", dependencies=authorized)
    def get_health() -> dict[str, Any]:
        from mwaa_hibernate_runtime import compat

        result = health()
        return {**result.to_json(), "protocol": PROTOCOL, "airflow_version": compat.airflow_version()}

    @app.post(f"/v{PROTOCOL}/jobs", dependencies=authorized)
    def post_job(payload: Annotated[dict, Body()]) -> JSONResponse:
        status, body = submit(payload)
        return JSONResponse(status_code=status, content=body)

    @app.get(f"/v{PROTOCOL}/jobs/{{job}}", dependencies=authorized)
    def get_job(job: str) -> dict[str, Any]:
        from mwaa_hibernate_runtime.job_store import JobStore

        store = JobStore(_engine())
        store.ensure()
        found = store.get(job)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no job {job}")
        return store.check_alive(found).to_json()

    return app


__all__ = ["API_SERVER", "EXPORT", "IMPORT", "create_app", "health", "job_id", "request_key_for", "submit"]
