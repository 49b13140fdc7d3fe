"""install-dags on Airflow 3: the API-server plugin in plugins.zip, beside the user's own plugins, and the update."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from mwaa_hibernate.exceptions import EnvironmentFailed, EnvironmentNotAvailable
from mwaa_hibernate_cli import plugin_install
from mwaa_hibernate_snapshot.carrier import PLUGIN_LOADER

from .conftest import ENVIRONMENT, saved_environment

DAG_BUCKET = "my-airflow-bucket"  # saved_environment()'s SourceBucketArn


@pytest.fixture
def env3(aws):
    aws.s3.create_bucket(Bucket=DAG_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    aws.s3.put_bucket_versioning(Bucket=DAG_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(AirflowVersion="3.3.1")
    return aws


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, body in files.items():
            out.writestr(name, body)
    return buffer.getvalue()


def _entries(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def test_a_first_install_creates_plugins_zip_and_updates_the_environment(env3) -> None:
    plan = plugin_install.plan_plugin(environment=ENVIRONMENT)
    assert plan.changed and plan.key == "plugins.zip" and plan.user_entries == ()
    entries = _entries(plan.body)
    assert b"MwaaHibernatePlugin" in entries[PLUGIN_LOADER]
    assert "mwaa_hibernate_runtime/api_server.py" in entries and "mwaa_hibernate_engine/restore.py" in entries
    assert entries[".airflowignore"].decode().splitlines()[-3:] == [
        "mwaa_hibernate_snapshot/",
        "mwaa_hibernate_engine/",
        "mwaa_hibernate_runtime/",
    ]
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in entries)

    version = plugin_install.apply_plugin(plan)

    (operation, params) = env3.mwaa.calls[-1]
    assert operation == "UpdateEnvironment"
    assert params == {"Name": ENVIRONMENT, "PluginsS3Path": "plugins.zip", "PluginsS3ObjectVersion": version}


def test_the_users_plugins_are_kept_and_an_unchanged_install_changes_nothing(env3) -> None:
    theirs = _zip({
        "team_plugin.py": b"# theirs",
        ".airflowignore": b"scratch/\n",
        "mwaa_hibernate_engine/retired.py": b"# from an older mwaa-hibernate",
    })  # fmt: skip
    version = env3.s3.put_object(Bucket=DAG_BUCKET, Key="plugins/plugins.zip", Body=theirs)["VersionId"]
    env3.mwaa.environments[ENVIRONMENT].update(PluginsS3Path="plugins/plugins.zip", PluginsS3ObjectVersion=version)

    plan = plugin_install.plan_plugin(environment=ENVIRONMENT)
    entries = _entries(plan.body)
    assert entries["team_plugin.py"] == b"# theirs" and plan.user_entries == ("team_plugin.py",)
    assert entries[".airflowignore"].decode().startswith("scratch/\n")
    assert "mwaa_hibernate_engine/retired.py" not in entries
    new_version = plugin_install.apply_plugin(plan)
    env3.mwaa.environments[ENVIRONMENT].update(PluginsS3ObjectVersion=new_version, Status="AVAILABLE")

    again = plugin_install.plan_plugin(environment=ENVIRONMENT)
    assert not again.changed and plugin_install.apply_plugin(again) is None


def test_an_unversioned_source_bucket_is_refused_with_what_to_do(aws) -> None:
    aws.s3.create_bucket(Bucket=DAG_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(AirflowVersion="3.3.1")
    with pytest.raises(EnvironmentNotAvailable, match="needs versioning on the environment's source bucket"):
        plugin_install.apply_plugin(plugin_install.plan_plugin(environment=ENVIRONMENT))


def test_waiting_for_the_update_ends_available_or_with_mwaas_error(env3) -> None:
    environment = env3.mwaa.environments[ENVIRONMENT]
    statuses = iter(["UPDATING", "UPDATING", "AVAILABLE"])

    def describe(**_):
        environment["Status"] = next(statuses)
        return {"Environment": dict(environment)}

    env3.mwaa.get_environment = describe
    seen: list[str] = []
    plugin_install.wait_for_update(
        environment=ENVIRONMENT, since=datetime.now(UTC), on_poll=lambda s, _: seen.append(s), sleep=lambda s: None
    )
    assert seen == ["UPDATING", "UPDATING", "AVAILABLE"]

    environment.update(
        Status="UPDATE_FAILED",
        LastUpdate={"Status": "FAILED", "Error": {"ErrorCode": "PLUGIN_ERROR", "ErrorMessage": "bad zip"}},
    )
    env3.mwaa.get_environment = lambda **_: {"Environment": dict(environment)}
    with pytest.raises(EnvironmentFailed, match="PLUGIN_ERROR: bad zip"):
        plugin_install.wait_for_update(environment=ENVIRONMENT, since=datetime.now(UTC), sleep=lambda s: None)
