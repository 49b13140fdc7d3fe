"""Triggering a hibernation DAG: unpaused first, conf the DAGs accept, task token only as KMS ciphertext."""

from __future__ import annotations

import base64

import pytest
from mwaa_hibernate import trigger
from mwaa_hibernate.exceptions import DagNotFound, EnvironmentNeedsUpdate, RestApiCallFailed
from mwaa_hibernate_snapshot import runconf as dagconf

from .conftest import ENVIRONMENT, REGION, SNAPSHOT_ID, client_error, saved_environment

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAexampleTaskToken" * 8


def run(aws, purpose: str = "export", **kw):
    return trigger.trigger_dag(
        purpose=purpose,
        environment=ENVIRONMENT,
        snapshot_id=SNAPSHOT_ID,
        task_token=TOKEN,
        bucket=aws.bucket,
        kms_key_arn=aws.key_arn,
        region=REGION,
        **kw,
    )


@pytest.fixture
def environment(aws):
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    aws.mwaa.rest_answers[("POST", "/dags/mwaa_hibernate_export/dagRuns")] = (
        200,
        {"dag_run_id": "manual__2026-11-24T19:00:05+00:00", "state": "queued"},
    )
    return aws


def test_the_export_dag_is_unpaused_then_run_with_a_conf_its_parser_accepts(environment) -> None:
    answer = run(environment, retention_days=30, drain_timeout_minutes=45)

    calls = environment.mwaa.rest_calls()
    assert [(m, p) for m, p, _ in calls] == [
        ("PATCH", "/dags/mwaa_hibernate_export"),
        ("POST", "/dags/mwaa_hibernate_export/dagRuns"),
    ]
    assert calls[0][2] == {"is_paused": False}
    conf = dagconf.parse_export_conf(calls[1][2]["conf"])
    assert conf.snapshot.uri == f"s3://{environment.bucket}/{ENVIRONMENT}/snapshots/{SNAPSHOT_ID}/"
    assert (conf.kms_key_id, conf.retention_days, conf.drain_timeout_minutes) == (environment.key_arn, 30, 45)
    assert conf.callback.region == REGION
    assert answer == {
        "dag_id": "mwaa_hibernate_export",
        "dag_run_id": "manual__2026-11-24T19:00:05+00:00",
        "state": "queued",
    }


def test_the_task_token_travels_only_as_ciphertext_bound_to_the_environment(environment) -> None:
    run(environment, retention_days=30, drain_timeout_minutes=30)

    _, _, body = environment.mwaa.rest_calls()[1]
    assert TOKEN not in repr(environment.mwaa.calls)
    ciphertext = base64.b64decode(body["conf"]["callback"]["token_ciphertext"])
    plaintext = environment.kms.decrypt(
        CiphertextBlob=ciphertext, EncryptionContext=dagconf.token_encryption_context(ENVIRONMENT)
    )["Plaintext"]
    assert plaintext.decode() == TOKEN
    with pytest.raises(Exception, match="InvalidCiphertext"):
        environment.kms.decrypt(
            CiphertextBlob=ciphertext, EncryptionContext=dagconf.token_encryption_context("another-environment")
        )


def test_the_import_conf_has_the_snapshot_the_stacks_key_and_the_callback(environment) -> None:
    run(environment, purpose="import")

    (_, p1, _), (_, p2, body) = environment.mwaa.rest_calls()
    assert (p1, p2) == ("/dags/mwaa_hibernate_import", "/dags/mwaa_hibernate_import/dagRuns")
    assert sorted(body["conf"]) == ["callback", "kms_key_id", "snapshot_uri"]
    dagconf.parse_import_conf(body["conf"])


def test_a_missing_dag_says_to_deploy_the_dags(environment) -> None:
    environment.mwaa.rest_answers[("PATCH", "/dags/mwaa_hibernate_export")] = (404, {"title": "DAG not found"})

    with pytest.raises(DagNotFound, match="mwaa_hibernate_export is not in environment my-mwaa-environment"):
        run(environment, retention_days=30, drain_timeout_minutes=30)
    assert len(environment.mwaa.rest_calls()) == 1  # no run was created on a DAG that is not there


@pytest.mark.parametrize(("status", "hint"), [(403, "Airflow role"), (500, "web server")])
def test_other_airflow_errors_name_the_status_and_what_to_check(environment, status: int, hint: str) -> None:
    environment.mwaa.rest_answers[("POST", "/dags/mwaa_hibernate_export/dagRuns")] = (status, {"detail": "nope"})

    with pytest.raises(RestApiCallFailed, match=rf"answered {status} to POST .*{hint}"):
        run(environment, retention_days=30, drain_timeout_minutes=30)


def test_an_environment_that_needs_an_update_first_is_told_so(environment) -> None:
    environment.mwaa.errors["InvokeRestApi"] = client_error(
        "ValidationException", "Update your environment to use InvokeRestApi."
    )

    with pytest.raises(EnvironmentNeedsUpdate, match="must be updated before InvokeRestApi works"):
        run(environment, retention_days=30, drain_timeout_minutes=30)


def test_a_conf_the_dag_would_refuse_fails_before_anything_is_triggered(environment) -> None:
    with pytest.raises(dagconf.InvalidRunConf, match="retention_days"):
        run(environment, retention_days=99999, drain_timeout_minutes=30)
    assert environment.mwaa.rest_calls() == []
