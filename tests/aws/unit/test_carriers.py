"""Choosing the carrier (version guard, probes, record) and reaching the API-server plugin through the web login.

The web server here is a small local HTTP server speaking MWAA's Airflow 3 login exchange: a one-time web
login token posted to /pluginsv2/aws_mwaa/login becomes a `_token` cookie (a JWT), which the plugin's routes
require as a bearer token. The task carrier's probe runs against a fake REST API that plays the probe DAG.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mwaa_hibernate import carriers, layout
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.exceptions import (
    AirflowVersionMismatch,
    DagNotFound,
    NoCarrier,
    UnsupportedAirflowVersion,
    WebServerCallFailed,
)
from mwaa_hibernate.restapi import PACER
from mwaa_hibernate_snapshot.carrier import (
    API_SERVER,
    IN_PROCESS,
    NO_CREDENTIALS,
    NOT_INSTALLED,
    PROBE_DAG_ID,
    PROBE_OUTCOMES,
    PROBE_TASK_ID,
    PROTOCOL,
    TASK,
    UNREACHABLE,
    USABLE,
    ProbeResult,
)

from .conftest import ENVIRONMENT, SNAPSHOT_ID, client_error, saved_environment, write_snapshot

JWT = "eyJhbGciOiJIUzI1NiJ9.session.signature"
WEB_TOKEN = "one-time-web-login-token"
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA-a-task-token" * 4


@pytest.fixture(autouse=True)
def _no_pacing(monkeypatch):
    monkeypatch.setattr(PACER, "sleep", lambda seconds: None)


class WebServer:
    """MWAA's Airflow 3 web server, as far as the functions see it."""

    def __init__(self) -> None:
        self.health: tuple[int, Any] = (200, {"carrier": API_SERVER, "outcome": USABLE, "protocol": PROTOCOL})
        self.job_answer: tuple[int, Any] = (202, {"started": True, "job": {"id": "export-x", "state": "running"}})
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.used_tokens: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> bytes:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                return body

            def do_POST(self) -> None:
                body = self._record()
                if self.path == "/pluginsv2/aws_mwaa/login":
                    token = urllib.parse.parse_qs(body.decode()).get("token", [""])[0]
                    if token != WEB_TOKEN or token in outer.used_tokens:
                        self._send(401, {"detail": "invalid token"})
                        return
                    outer.used_tokens.add(token)
                    self._send(302, {}, {"Location": "/", "Set-Cookie": f"_token={JWT}; Path=/; HttpOnly"})
                    return
                if self.headers.get("Authorization") != f"Bearer {JWT}":
                    self._send(401, {"detail": "Not authenticated"})
                    return
                self._send(*outer.job_answer)

            def do_GET(self) -> None:
                self._record()
                if self.headers.get("Authorization") != f"Bearer {JWT}":
                    self._send(401, {"detail": "Not authenticated"})
                    return
                self._send(*outer.health)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.hostname = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def login_answer(self) -> dict[str, Any]:
        return {"WebToken": WEB_TOKEN, "WebServerHostname": self.hostname}


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.server.shutdown()


class ProbeDag:
    """The probe DAG behind the REST API: each trigger's run ends with `outcome`'s task, after `polls` looks."""

    def __init__(self, outcome: str | None = USABLE, polls: int = 1, present: bool = True) -> None:
        self.outcome, self.polls, self.present = outcome, polls, present
        self.runs: dict[str, int] = {}

    def handle(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        if not self.present and path.startswith(f"/dags/{PROBE_DAG_ID}"):
            return 404, {"detail": "not found"}
        if method == "POST" and path == f"/dags/{PROBE_DAG_ID}/dagRuns":
            self.runs[body["dag_run_id"]] = 0
            return 200, {"dag_run_id": body["dag_run_id"], "state": "queued"}
        if method == "GET" and path.endswith("/taskInstances"):
            run_id = path.split("/")[4]
            ran = {PROBE_TASK_ID: "success" if self.outcome else "failed"}
            ran |= {name: ("success" if name == self.outcome else "skipped") for name in PROBE_OUTCOMES}
            return 200, {"task_instances": [{"task_id": t, "state": s, "run_id": run_id} for t, s in ran.items()]}
        if method == "GET" and "/dagRuns/" in path:
            run_id = path.rsplit("/", 1)[1]
            self.runs[run_id] += 1
            return 200, {"state": "success" if self.runs[run_id] >= self.polls else "running"}
        return 200, {"dag_id": PROBE_DAG_ID, "is_paused": False}


def api3(aws, dag: ProbeDag) -> AirflowApi:
    aws.mwaa.rest_handler = dag.handle
    return AirflowApi(ENVIRONMENT, "3.3.1", mwaa=aws.mwaa)


def test_the_probe_dag_reports_its_outcome_and_paths_fit_invoke_rest_api(aws) -> None:
    result = carriers.probe_task_carrier(api3(aws, ProbeDag(USABLE, polls=3)), poll=0)
    assert result.usable and result.carrier == TASK and "probe run probe-" in result.detail
    assert max(len(p) for _, p, _ in aws.mwaa.rest_calls()) <= 64


def test_a_worker_without_credentials_is_told_apart(aws) -> None:
    result = carriers.probe_task_carrier(api3(aws, ProbeDag(NO_CREDENTIALS)), poll=0)
    assert not result.usable and result.outcome == NO_CREDENTIALS and "MWAA__DB__" in result.detail


def test_a_poll_that_fails_temporarily_is_waited_through(aws) -> None:
    """InvokeRestApi answering InternalServerException once (a busy web server) does not make the carrier unusable."""
    dag = ProbeDag(USABLE, polls=2)
    failed: list[str] = []

    def flaky(method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        if method == "GET" and "/dagRuns/" in path and not failed:
            failed.append(path)
            raise client_error("InternalServerException", "the Airflow REST API did not answer within 10s")
        return dag.handle(method, path, query, body)

    aws.mwaa.rest_handler = flaky
    result = carriers.probe_task_carrier(AirflowApi(ENVIRONMENT, "3.3.1", mwaa=aws.mwaa), poll=0)
    assert failed and result.usable, result


def test_a_probe_that_never_finishes_says_so(aws) -> None:
    clock = iter(range(0, 1000, 100))
    result = carriers.probe_task_carrier(
        api3(aws, ProbeDag(USABLE, polls=99)), timeout=250, poll=0, clock=lambda: next(clock), sleep=lambda s: None
    )
    assert not result.usable and "had not finished after 250 s" in result.detail


def test_the_plugin_is_reached_through_the_web_login_and_never_sees_the_token_twice(aws, web) -> None:
    aws.mwaa.web_login_tokens = [web.login_answer()]
    assert carriers.probe_plugin(ENVIRONMENT, mwaa=aws.mwaa).usable
    login, health = web.requests
    assert login[1] == "/pluginsv2/aws_mwaa/login" and health[1] == f"/mwaa-hibernate/v{PROTOCOL}/health"
    assert health[2]["Authorization"] == f"Bearer {JWT}"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [((404, {"detail": "Not Found"}), NOT_INSTALLED), ((200, {"outcome": USABLE, "protocol": 99}), NOT_INSTALLED)],
)
def test_a_missing_or_mismatched_plugin_is_not_usable(aws, web, answer, outcome) -> None:
    aws.mwaa.web_login_tokens = [web.login_answer()]
    web.health = answer
    assert carriers.probe_plugin(ENVIRONMENT, mwaa=aws.mwaa).outcome == outcome


def test_an_unreachable_web_server_names_the_vpc(aws) -> None:
    aws.mwaa.web_login_tokens = [{"WebToken": WEB_TOKEN, "WebServerHostname": "127.0.0.1:9"}]
    result = carriers.probe_plugin(ENVIRONMENT, mwaa=aws.mwaa)
    assert result.outcome == UNREACHABLE and "FunctionSubnetIds" in result.detail
    assert WEB_TOKEN not in result.detail


def test_a_job_request_carries_a_digest_of_the_task_token_never_the_token(aws, web) -> None:
    aws.mwaa.web_login_tokens = [web.login_answer()]
    job = carriers.submit_job(
        environment=ENVIRONMENT, kind="export", conf={"snapshot_uri": "s3://b/x"}, task_token=TASK_TOKEN, mwaa=aws.mwaa
    )
    assert job["started"] is True
    sent = web.requests[-1][3]
    assert TASK_TOKEN.encode() not in sent
    assert json.loads(sent)["request"] == carriers.request_key(TASK_TOKEN)


def test_a_refused_job_is_an_error_with_the_plugins_reason(aws, web) -> None:
    aws.mwaa.web_login_tokens = [web.login_answer()]
    web.job_answer = (409, {"detail": "another job is running in this environment: import-x"})
    with pytest.raises(WebServerCallFailed, match="another job is running"):
        carriers.submit_job(environment=ENVIRONMENT, kind="export", conf={}, task_token=TASK_TOKEN, mwaa=aws.mwaa)


# --- choose --------------------------------------------------------------------------------------------


def choose(aws, version: str, *, task: ProbeResult | None = None, plugin: ProbeResult | None = None, **kw):
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(AirflowVersion=version)
    return carriers.choose(
        environment=ENVIRONMENT,
        bucket=aws.bucket,
        mwaa=aws.mwaa,
        s3=aws.s3,
        probe_task=lambda api: task,
        probe_api_server=lambda env: plugin,
        **{"purpose": "hibernate", **kw},
    )


def recorded(aws) -> dict:
    return json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=layout.carrier_key(ENVIRONMENT))["Body"].read())


def test_airflow_2_needs_no_probe(aws) -> None:
    answer = choose(aws, "2.10.3")
    assert answer["carrier"] == IN_PROCESS and recorded(aws)["carrier"] == IN_PROCESS
    assert not aws.mwaa.rest_calls()


def test_airflow_3_prefers_the_task_carrier_and_asks_the_plugin_only_when_needed(aws) -> None:
    answer = choose(aws, "3.3.1", task=ProbeResult(TASK, USABLE), plugin=None)
    assert answer["carrier"] == TASK and set(answer["probes"]) == {TASK}

    answer = choose(aws, "3.0.6", task=ProbeResult(TASK, NO_CREDENTIALS), plugin=ProbeResult(API_SERVER, USABLE))
    assert answer["carrier"] == API_SERVER
    assert recorded(aws)["probes"][TASK]["outcome"] == NO_CREDENTIALS


def test_neither_carrier_working_fails_with_what_to_do_and_is_recorded(aws) -> None:
    with pytest.raises(NoCarrier, match=r"install-dags --carrier api-server.*10 to 30 minutes"):
        choose(aws, "3.2.1", task=ProbeResult(TASK, NO_CREDENTIALS), plugin=ProbeResult(API_SERVER, NOT_INSTALLED))
    assert recorded(aws)["carrier"] is None


def test_a_probe_dag_not_parsed_yet_is_retried_by_the_wake(aws) -> None:
    with pytest.raises(DagNotFound):
        choose(aws, "3.3.1", task=ProbeResult(TASK, NOT_INSTALLED), plugin=ProbeResult(API_SERVER, NOT_INSTALLED))


def test_an_untested_version_is_refused_before_any_probe(aws) -> None:
    with pytest.raises(UnsupportedAirflowVersion, match=r"3\.1\.6, which mwaa-hibernate has not been tested on"):
        choose(aws, "3.1.6", task=ProbeResult(TASK, USABLE))


def test_a_wake_refuses_a_snapshot_of_another_airflow_version(aws) -> None:
    write_snapshot(aws)  # its manifest says Airflow 2.10.3
    with pytest.raises(AirflowVersionMismatch, match=r"taken on Airflow 2\.10\.3"):
        choose(aws, "2.11.2", purpose="wake", snapshot_id=SNAPSHOT_ID)
    assert choose(aws, "2.10.3", purpose="wake", snapshot_id=SNAPSHOT_ID)["carrier"] == IN_PROCESS
