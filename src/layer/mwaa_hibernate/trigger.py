"""Start the export or import that calls the state machine back (docs/contracts.md, "The hibernation DAGs").

With the `in-process` and `task` carriers that is a run of a hibernation DAG: the DAG itself is unpaused
first (a run created on a paused DAG waits forever), and the REST API's dialect follows the environment's
Airflow major. With the `api-server` carrier it is a job of the plugin in the API server, started through
the web login; the job answers the state machine exactly as the DAG would. The Step Functions task token
travels only as KMS ciphertext, bound to the environment by the encryption context, so it is never in
plaintext in the run's conf, the job request, the metadata database, a snapshot or a log.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError
from mwaa_hibernate_snapshot import runconf as dagconf
from mwaa_hibernate_snapshot.carrier import API_SERVER, CARRIERS, EXPORT, IMPORT

from mwaa_hibernate import carriers, layout
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.aws import client, raise_if_transient

logger = logging.getLogger(__name__)

# Which DAG each purpose runs; the ids belong to the DAGs (mwaa_hibernate_snapshot.runconf).
DAG_IDS = {"export": dagconf.EXPORT_DAG_ID, "import": dagconf.IMPORT_DAG_ID}


def encrypt_task_token(*, task_token: str, environment: str, kms_key_arn: str, kms: Any = None) -> bytes:
    """KMS ciphertext of the task token, bound to its purpose and environment by the encryption context."""
    try:
        return client("kms", kms).encrypt(
            KeyId=kms_key_arn,
            Plaintext=task_token.encode(),
            EncryptionContext=dagconf.token_encryption_context(environment),
        )["CiphertextBlob"]
    except ClientError as exc:
        raise_if_transient(exc, "Encrypting the task token")
        raise


def build_conf(
    *,
    purpose: str,
    environment: str,
    snapshot_id: str,
    bucket: str,
    kms_key_arn: str,
    token_ciphertext: bytes,
    region: str,
    retention_days: int | None = None,
    drain_timeout_minutes: int | None = None,
) -> dict[str, Any]:
    """The run's conf, validated by the DAGs' own parser so a bad value fails here, not inside Airflow.

    Both get the stack's key (the import opens the data key with it only); the export also the trimming and drain
    settings.
    """
    conf: dict[str, Any] = {
        "snapshot_uri": layout.snapshot_uri(bucket, environment, snapshot_id),
        "kms_key_id": kms_key_arn,
        "callback": dagconf.CallbackConf(token_ciphertext=token_ciphertext, region=region).to_conf(),
    }
    if purpose == "import":
        return dagconf.parse_import_conf(conf).to_conf()
    conf["retention_days"] = int(retention_days or 0)
    conf["drain_timeout_minutes"] = int(drain_timeout_minutes or 0)
    return dagconf.parse_export_conf(conf).to_conf()


def trigger_dag(
    *,
    purpose: str,
    environment: str,
    snapshot_id: str,
    task_token: str,
    bucket: str,
    kms_key_arn: str,
    region: str,
    retention_days: int | None = None,
    drain_timeout_minutes: int | None = None,
    carrier: str | None = None,
    airflow_version: str | None = None,
    mwaa: Any = None,
    kms: Any = None,
) -> dict[str, Any]:
    """Start the export or import for `purpose` ("export" or "import") through `carrier` (default: the DAG)."""
    if purpose not in DAG_IDS:
        raise ValueError(f"purpose must be one of {sorted(DAG_IDS)}, not {purpose!r}")
    if carrier is not None and carrier not in CARRIERS:
        raise ValueError(f"carrier must be one of {', '.join(CARRIERS)}, not {carrier!r}")
    dag_id = DAG_IDS[purpose]
    mwaa = client("mwaa", mwaa)
    conf = build_conf(
        purpose=purpose,
        environment=environment,
        snapshot_id=snapshot_id,
        bucket=bucket,
        kms_key_arn=kms_key_arn,
        token_ciphertext=encrypt_task_token(
            task_token=task_token, environment=environment, kms_key_arn=kms_key_arn, kms=kms
        ),
        region=region,
        retention_days=retention_days,
        drain_timeout_minutes=drain_timeout_minutes,
    )
    if carrier == API_SERVER:
        kind = EXPORT if purpose == "export" else IMPORT
        job = carriers.submit_job(environment=environment, kind=kind, conf=conf, task_token=task_token, mwaa=mwaa)
        logger.info(
            "Started the %s job in the API server", kind, extra={"environment": environment, "job": job.get("id")}
        )
        return {"carrier": API_SERVER, "job_id": job.get("id"), "state": job.get("state")}
    if airflow_version:
        api = AirflowApi(environment, airflow_version, mwaa=mwaa)
    else:
        api = AirflowApi.for_environment(environment, mwaa=mwaa)
    api.set_paused(dag_id, False)
    run = api.trigger(dag_id, conf)
    logger.info("Triggered %s", dag_id, extra={"environment": environment, "dag_run_id": run.get("dag_run_id")})
    return {"dag_id": dag_id, "dag_run_id": run.get("dag_run_id"), "state": run.get("state")}
