"""The MWAA stand-in on Airflow 3 is as strict as MWAA where mwaa-hibernate depends on it.

One environment for the module (Airflow 3 takes a couple of minutes to start here), created with a
plugins.zip in S3 that holds the mwaa-hibernate plugin, as `install-dags --carrier api-server` leaves it:

- InvokeRestApi adds /api/v2 to every path, so a plugin's routes are out of its reach; dot segments are
  refused; more than 10 calls a second are throttled;
- the web login: a one-time token, valid 60 s, traded at /pluginsv2/aws_mwaa/login for a JWT that the
  plugin's routes require (and its health answers through both API servers behind one port);
- the database: owned by adminuser, used by the non-superuser airflow_user, whose credentials every
  component carries under both namings; the probe DAG's task reaches it with its own connection;
- losing one API server keeps the environment answering.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import psycopg2
import pytest
from moto.server import ThreadedMotoServer
from mwaa_hibernate import carriers, weblogin
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate_cli import plugin_install
from mwaa_hibernate_sandbox.airflow_instance import wait_until
from mwaa_hibernate_sandbox.mwaa_standin import MwaaStandIn, environment_details, mwaa_client
from mwaa_hibernate_sandbox.mwaa_standin.airflow3 import web_login_token
from mwaa_hibernate_sandbox.postgres import free_port
from mwaa_hibernate_snapshot.carrier import HEALTH_PATH, PROBE_DAG_ID, USABLE
from standin_support import AIRFLOW_ENV, airflow3_bin_dir, create_request, wait_for_status

ENVIRONMENT = "standin-af3"
BUCKET = "standin-af3-dags"
AVAILABLE_TIMEOUT = 420


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {**AIRFLOW_ENV, "AWS_ENDPOINT_URL": endpoint}
    try:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        body, _, _ = plugin_install.build_zip(None)
        version = s3.put_object(Bucket=BUCKET, Key="plugins.zip", Body=body)["VersionId"]
        with MwaaStandIn(
            airflow_bin=airflow3_bin_dir(), state_dir=tmp_path_factory.mktemp("standin-af3"), airflow_env=env
        ) as standin:
            mwaa = mwaa_client(standin.endpoint_url)
            request = create_request(
                SourceBucketArn=f"arn:aws:s3:::{BUCKET}", PluginsS3Path="plugins.zip", PluginsS3ObjectVersion=version
            )
            mwaa.create_environment(Name=ENVIRONMENT, **request)
            described = wait_for_status(mwaa, ENVIRONMENT, leaving="CREATING", timeout=AVAILABLE_TIMEOUT)
            assert described["Status"] == "AVAILABLE", described.get("LastUpdate")
            yield SimpleNamespace(standin=standin, mwaa=mwaa, described=described)
    finally:
        server.stop()


def _environment(world: SimpleNamespace) -> Any:
    return world.standin.service._get(ENVIRONMENT)  # the stand-in's own record: what MWAA never shows


def test_invoke_rest_api_speaks_v2_and_cannot_reach_a_plugin(world) -> None:
    answer = world.mwaa.invoke_rest_api(Name=ENVIRONMENT, Path="/version", Method="GET")
    assert answer["RestApiResponse"]["version"] == world.described["AirflowVersion"]
    with pytest.raises(world.mwaa.exceptions.RestApiClientException) as refused:
        world.mwaa.invoke_rest_api(Name=ENVIRONMENT, Path=HEALTH_PATH, Method="GET")
    assert refused.value.response["RestApiStatusCode"] == 404
    for path in ("/../mwaa-hibernate/v1/health", "/dags/%2e%2e/x"):
        with pytest.raises(world.mwaa.exceptions.ValidationException):
            world.mwaa.invoke_rest_api(Name=ENVIRONMENT, Path=path, Method="GET")


def test_invoke_rest_api_throttles_above_ten_calls_a_second(world) -> None:
    impatient = world.mwaa  # the sandbox's clients never retry: each answer is seen
    time.sleep(1.2)  # a full bucket
    outcomes = []
    for _ in range(15):
        try:
            impatient.invoke_rest_api(Name=ENVIRONMENT, Path="/version", Method="GET")
            outcomes.append("ok")
        except impatient.exceptions.ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    assert "ThrottlingException" in outcomes and outcomes[:5] == ["ok"] * 5


def test_the_web_login_is_one_time_and_the_plugin_answers_only_with_its_jwt(world) -> None:
    environment = _environment(world)
    hostname = world.mwaa.create_web_login_token(Name=ENVIRONMENT)["WebServerHostname"]
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"http://{hostname}{HEALTH_PATH}", timeout=30)
    assert anonymous.value.code == 401

    session = weblogin.login(ENVIRONMENT, mwaa=world.mwaa)
    before = list(environment._proxy.served)
    for _ in range(4):
        status, body = session.call("GET", HEALTH_PATH)
        assert status == 200 and body["outcome"] == USABLE, body
    assert all(after > earlier for after, earlier in zip(environment._proxy.served, before, strict=True))

    token = web_login_token(environment.login_secret, ENVIRONMENT)
    login = f"http://{hostname}/pluginsv2/aws_mwaa/login"
    for expected in (302, 401):  # a token works once
        request = urllib.request.Request(login, data=f"token={token}".encode(), method="POST")
        try:
            status = urllib.request.build_opener(weblogin._NoRedirect).open(request, timeout=30).status
        except urllib.error.HTTPError as answer:
            status = answer.code
        assert status == expected
    expired = web_login_token(environment.login_secret, ENVIRONMENT, now=time.time() - 61)
    request = urllib.request.Request(login, data=f"token={expired}".encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


def test_airflow_runs_as_a_non_superuser_role_and_components_carry_both_namings(world) -> None:
    details = environment_details(world.standin.endpoint_url, ENVIRONMENT)
    connection = psycopg2.connect(details["DatabaseUrl"].replace("postgresql+psycopg2", "postgresql"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == ("airflow_user", False)
            cursor.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert cursor.fetchone() == ("adminuser",)
    finally:
        connection.close()
    env = _environment(world).instance.env()
    assert {"MWAA__DB__CREDENTIALS", "MWAA__DB__POSTGRES_HOST", "DB_SECRETS", "POSTGRES_HOST"} <= set(env)
    assert env["MWAA_STANDIN_STRIP_WORKER_VARIABLES"] == ""


def test_a_task_reaches_the_database_with_its_own_connection(world) -> None:
    api = AirflowApi(ENVIRONMENT, world.described["AirflowVersion"], mwaa=world.mwaa)
    wait_until(lambda: api.get_dag(PROBE_DAG_ID), timeout=180, interval=2, what="the probe DAG to be parsed")
    result = carriers.probe_task_carrier(api, poll=1)
    assert result.usable, result


def test_losing_one_api_server_keeps_the_environment_answering(world) -> None:
    environment = _environment(world)
    environment.api_servers.stop_one(1)
    for _ in range(4):
        assert world.mwaa.invoke_rest_api(Name=ENVIRONMENT, Path="/version", Method="GET")["RestApiStatusCode"] == 200
