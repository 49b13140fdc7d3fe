"""install-dags' logic against moto S3 and the MWAA fake: what is uploaded, .airflowignore, the parse check.

The same flow against a real Airflow behind the MWAA stand-in is in tests/aws/sandbox/test_install_dags.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mwaa_hibernate.exceptions import (
    DagImportFailed,
    DagParseTimeout,
    EnvironmentNotAvailable,
    EnvironmentNotFound,
    UnsupportedAirflowVersion,
)
from mwaa_hibernate_cli import dag_install

from .conftest import ENVIRONMENT, saved_environment

DAG_BUCKET = "my-airflow-bucket"  # saved_environment()'s SourceBucketArn
SINCE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def dag_bucket(aws):
    aws.s3.create_bucket(Bucket=DAG_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    return aws


def _keys(aws) -> set[str]:
    listed = aws.s3.list_objects_v2(Bucket=DAG_BUCKET).get("Contents", [])
    return {o["Key"] for o in listed}


def test_the_files_are_the_dags_and_the_engine_package_without_byte_code() -> None:
    files = [f.relative for f in dag_install.files_to_install()]

    assert files[:3] == ["mwaa_hibernate_export.py", "mwaa_hibernate_import.py", "mwaa_hibernate_probe.py"]
    assert {
        "mwaa_hibernate_engine/__init__.py",
        "mwaa_hibernate_snapshot/verify.py",
        "mwaa_hibernate_runtime/tasks.py",
    } <= set(files)
    assert all(not f.endswith(".pyc") and "__pycache__" not in f for f in files)
    assert dag_install.required_ignore_lines() == [
        "mwaa_hibernate_snapshot/",
        "mwaa_hibernate_engine/",
        "mwaa_hibernate_runtime/",
    ]


@pytest.mark.parametrize(
    ("existing", "action", "expected"),
    [
        pytest.param(None, "create", f"{dag_install.IGNORE_COMMENT}\nmwaa_hibernate_engine/\n", id="none-yet"),
        pytest.param(
            "helpers/\n", "merge", f"helpers/\n{dag_install.IGNORE_COMMENT}\nmwaa_hibernate_engine/\n", id="merge"
        ),
        pytest.param(
            "helpers/", "merge", f"helpers/\n{dag_install.IGNORE_COMMENT}\nmwaa_hibernate_engine/\n", id="no-eol"
        ),
        pytest.param("a/\n  mwaa_hibernate_engine/  \n", "unchanged", None, id="already-there"),
    ],
)
def test_airflowignore_keeps_the_users_lines(existing, action, expected) -> None:
    assert dag_install.merge_airflowignore(existing, ["mwaa_hibernate_engine/"]) == (action, expected)


def test_install_uploads_under_the_dag_folder_merges_airflowignore_and_drops_stale_engine_files(dag_bucket) -> None:
    aws = dag_bucket
    aws.s3.put_object(Bucket=DAG_BUCKET, Key="dags/.airflowignore", Body=b"scratch/\n")
    aws.s3.put_object(Bucket=DAG_BUCKET, Key="dags/team_etl.py", Body=b"# the user's own DAG")
    aws.s3.put_object(Bucket=DAG_BUCKET, Key="dags/mwaa_hibernate_engine/retired.py", Body=b"# from an old version")

    plan = dag_install.plan_install(environment=ENVIRONMENT)
    assert (plan.bucket, plan.prefix, plan.airflowignore) == (DAG_BUCKET, "dags/", "merge")
    assert plan.stale_keys == ("dags/mwaa_hibernate_engine/retired.py",)
    assert _keys(aws) == {"dags/.airflowignore", "dags/team_etl.py", "dags/mwaa_hibernate_engine/retired.py"}

    written: list[str] = []
    dag_install.apply_install(plan, on_file=written.append)

    keys = _keys(aws)
    assert set(plan.keys()) <= keys and "dags/team_etl.py" in keys
    assert "dags/mwaa_hibernate_engine/retired.py" not in keys
    assert written[-3:] == [  # DAGs last
        "dags/mwaa_hibernate_export.py",
        "dags/mwaa_hibernate_import.py",
        "dags/mwaa_hibernate_probe.py",
    ]
    ignore = aws.s3.get_object(Bucket=DAG_BUCKET, Key="dags/.airflowignore")["Body"].read().decode()
    assert ignore.startswith("scratch/\n") and ignore.endswith("mwaa_hibernate_runtime/\n")
    assert dag_install.plan_install(environment=ENVIRONMENT).airflowignore == "unchanged"


def test_an_unknown_environment_is_named(dag_bucket) -> None:
    with pytest.raises(EnvironmentNotFound, match="no MWAA environment nowhere"):
        dag_install.plan_install(environment="nowhere")


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("2.6.3", r"supports Airflow 2\.7 to 2\.11, 3\.0\.6, 3\.2\.1 or 3\.3\.1\. Nothing was uploaded"),
        ("", r"runs Airflow \(unknown\); mwaa-hibernate supports Airflow 2\.7 to 2\.11"),
        (
            "3.1.6",
            r"3\.1\.6, which mwaa-hibernate has not been tested on.*exactly 3\.0\.6, 3\.2\.1, 3\.3\.1.*"
            r"Nothing was uploaded",
        ),
    ],
)
def test_an_unsupported_airflow_is_refused_before_anything_is_uploaded(dag_bucket, version, says) -> None:
    dag_bucket.mwaa.environments[ENVIRONMENT] = saved_environment(AirflowVersion=version)
    with pytest.raises(UnsupportedAirflowVersion, match=says):
        dag_install.plan_install(environment=ENVIRONMENT)
    assert _keys(dag_bucket) == set()


@pytest.mark.parametrize("version", ["3.0.6", "3.2.1", "3.3.1", "2.7.2", "2.11.2"])
def test_every_tested_version_is_accepted(dag_bucket, version) -> None:
    dag_bucket.mwaa.environments[ENVIRONMENT] = saved_environment(AirflowVersion=version)
    assert dag_install.plan_install(environment=ENVIRONMENT).airflow_version == version


def test_the_parse_check_needs_an_available_environment(dag_bucket) -> None:
    dag_bucket.mwaa.environments[ENVIRONMENT] = saved_environment(Status="UPDATING")
    with pytest.raises(EnvironmentNotAvailable, match="is UPDATING"):
        dag_install.check_available(dag_install.plan_install(environment=ENVIRONMENT))


def _dag(dag_id: str, parsed: datetime, active: bool = True) -> dict:
    return {"dag_id": dag_id, "is_active": active, "last_parsed_time": parsed.isoformat()}


def test_parsed_means_parsed_after_the_upload(dag_bucket) -> None:
    answers = dag_bucket.mwaa.rest_answers
    answers[("GET", "/dags/mwaa_hibernate_export")] = (200, _dag("mwaa_hibernate_export", SINCE + timedelta(seconds=5)))
    answers[("GET", "/dags/mwaa_hibernate_import")] = (200, _dag("mwaa_hibernate_import", SINCE - timedelta(hours=1)))
    answers[("GET", "/dags/mwaa_hibernate_probe")] = (200, _dag("mwaa_hibernate_probe", SINCE + timedelta(seconds=9)))
    answers[("GET", "/importErrors")] = (200, {"import_errors": [], "total_entries": 0})

    status = dag_install.parse_status(environment=ENVIRONMENT, since=SINCE)

    assert status.parsed == {
        "mwaa_hibernate_export": True,
        "mwaa_hibernate_import": False,
        "mwaa_hibernate_probe": True,
    }
    assert not status.done
    with pytest.raises(DagParseTimeout, match="had not parsed mwaa_hibernate_import 0 s after the upload"):
        dag_install.wait_until_parsed(environment=ENVIRONMENT, since=SINCE, timeout=0)
    answers[("GET", "/dags/mwaa_hibernate_import")] = (200, _dag("mwaa_hibernate_import", SINCE))
    assert dag_install.wait_until_parsed(environment=ENVIRONMENT, since=SINCE, timeout=0).done


def test_a_dag_airflow_has_never_seen_is_not_parsed(dag_bucket) -> None:
    dag_bucket.mwaa.rest_answers[("GET", "/dags/mwaa_hibernate_export")] = (404, {"title": "DAG not found"})
    assert dag_install.parse_status(environment=ENVIRONMENT, since=SINCE).parsed["mwaa_hibernate_export"] is False


def test_an_import_error_since_the_upload_fails_with_airflows_text(dag_bucket) -> None:
    errors = [
        {"filename": "/usr/local/airflow/dags/mwaa_hibernate_export.py", "timestamp": SINCE.isoformat(),
         "stack_trace": "ModuleNotFoundError: No module named 'cryptography'"},
        {"filename": "/usr/local/airflow/dags/mwaa_hibernate_import.py", "timestamp": "2026-01-01T00:00:00+00:00",
         "stack_trace": "an old error, fixed since"},
        {"filename": "/usr/local/airflow/dags/team_etl.py", "timestamp": SINCE.isoformat(), "stack_trace": "theirs"},
    ]  # fmt: skip
    dag_bucket.mwaa.rest_answers[("GET", "/importErrors")] = (200, {"import_errors": errors, "total_entries": 3})

    with pytest.raises(DagImportFailed) as raised:
        dag_install.wait_until_parsed(environment=ENVIRONMENT, since=SINCE, timeout=60)

    assert raised.value.errors == {"mwaa_hibernate_export.py": "ModuleNotFoundError: No module named 'cryptography'"}
    assert "cannot import mwaa_hibernate_export.py" in str(raised.value)
    assert "No module named 'cryptography'" in str(raised.value) and "install-dags` again" in str(raised.value)
