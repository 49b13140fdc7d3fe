"""install-dags against a real Airflow: upload to S3 (moto), the stand-in syncs the DAG folder as MWAA does,
Airflow's DAG processor parses it, and the check reads the result through InvokeRestApi.

The environment starts with an empty DAG folder, so the hibernation DAGs it ends up with came through S3.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto.server import ThreadedMotoServer
from mwaa_hibernate.exceptions import DagImportFailed, DagParseTimeout
from mwaa_hibernate_cli import app, dag_install
from mwaa_hibernate_cli.exits import EXIT_OK
from mwaa_hibernate_sandbox.mwaa_standin import MwaaStandIn, mwaa_client
from mwaa_hibernate_sandbox.mwaa_standin.client import install_forwarding
from mwaa_hibernate_sandbox.postgres import free_port
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS
from standin_support import airflow_bin_dir, create_request, wait_for_status
from typer.testing import CliRunner

ENVIRONMENT = "install-dags-env"
DAG_BUCKET = "install-dags-bucket"
REGION = "us-east-1"
# The stand-in syncs every second here; Airflow lists its DAG folder every 10 s and then parses (FAST_SCHEDULER).
PARSE_TIMEOUT = 240


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    empty = tmp_path_factory.mktemp("no-dags")
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        s3.create_bucket(Bucket=DAG_BUCKET)
        with MwaaStandIn(
            airflow_bin=airflow_bin_dir(),
            state_dir=tmp_path_factory.mktemp("standin"),
            dags_folder=empty,
            airflow_env={"AWS_ENDPOINT_URL": endpoint, **credentials},
            dag_sync_interval=1,
        ) as standin:
            mwaa = mwaa_client(standin.endpoint_url)
            mwaa.create_environment(
                Name=ENVIRONMENT, **create_request(SourceBucketArn=f"arn:aws:s3:::{DAG_BUCKET}", DagS3Path="dags")
            )
            assert wait_for_status(mwaa, ENVIRONMENT, leaving="CREATING")["Status"] == "AVAILABLE"
            # The command's own clients: S3 through boto3's per-service endpoint variable, MWAA forwarded to the
            # stand-in (MWAA's `api.` host prefix cannot resolve on a local endpoint).
            shell = {**credentials, "AWS_ENDPOINT_URL_S3": endpoint}
            yield SimpleNamespace(s3=s3, mwaa=mwaa, shell=shell, mwaa_url=standin.endpoint_url)
    finally:
        server.stop()


def _dags_folder(tmp_path: Path, export_source: str) -> Path:
    """A copy of the project's DAG files with the export DAG's file replaced."""
    folder = tmp_path / "dags"
    packages = [package.__name__ for package in dag_install.PACKAGES]
    shutil.copytree(dag_install.dags_source(), folder, ignore=shutil.ignore_patterns(*packages))
    (folder / "mwaa_hibernate_export.py").write_text(export_source)
    return folder


def _install(world: SimpleNamespace, dags: Path | None = None, timeout: float = PARSE_TIMEOUT):
    plan = dag_install.plan_install(environment=ENVIRONMENT, mwaa=world.mwaa, s3=world.s3, dags=dags)
    dag_install.check_available(plan)
    since = dag_install.utc_now()
    dag_install.apply_install(plan, s3=world.s3)
    return dag_install.wait_until_parsed(
        environment=ENVIRONMENT, since=since, timeout=timeout, interval=2, mwaa=world.mwaa
    )


def test_the_command_lists_then_installs_and_the_environment_parses_them(world) -> None:
    before = dag_install.parse_status(environment=ENVIRONMENT, since=dag_install.utc_now(), mwaa=world.mwaa)
    assert before.parsed == dict.fromkeys(HIBERNATION_DAG_IDS, False)
    runner = CliRunner()

    def install(*args: str):
        undo = install_forwarding(world.mwaa_url)
        try:
            command = ["install-dags", "--environment", ENVIRONMENT, "--json", *args]
            result = runner.invoke(app, command, env=world.shell)
        finally:
            undo()
        assert result.exit_code == EXIT_OK, result.output
        return json.loads(result.stdout)

    planned = install("--dry-run")
    assert world.s3.list_objects_v2(Bucket=DAG_BUCKET).get("KeyCount") == 0, "--dry-run wrote something"
    installed = install("--timeout", str(PARSE_TIMEOUT))

    assert installed["parsed"] == dict.fromkeys(HIBERNATION_DAG_IDS, True)
    assert installed["uploads"] == planned["uploads"] and planned["dry_run"] and not installed["dry_run"]
    keys = {o["Key"] for o in world.s3.list_objects_v2(Bucket=DAG_BUCKET, Prefix="dags/")["Contents"]}
    assert {u["key"] for u in planned["uploads"]} <= keys
    assert {"dags/.airflowignore", "dags/mwaa_hibernate_export.py", "dags/mwaa_hibernate_snapshot/verify.py"} <= keys


def test_an_import_error_comes_back_with_airflows_text(world, tmp_path) -> None:
    broken = "from airflow import DAG  # noqa\nraise RuntimeError('engine unreachable: broken on purpose')\n"

    with pytest.raises(DagImportFailed) as raised:
        _install(world, _dags_folder(tmp_path, broken))

    assert list(raised.value.errors) == ["mwaa_hibernate_export.py"]
    assert "engine unreachable: broken on purpose" in str(raised.value)


def test_a_dag_that_never_appears_times_out_naming_it(world, tmp_path) -> None:
    # Valid Python without the words Airflow's safe mode looks for: the DAG processor never parses it.
    # The other two DAGs may be parsed by then or not (a busy machine): the message names whatever is missing.
    with pytest.raises(DagParseTimeout, match=r"had not parsed (\w+, )*mwaa_hibernate_export(, \w+)* 8 s after"):
        _install(world, _dags_folder(tmp_path, "x = 1\n"), timeout=8)
