"""Both state machines on an Airflow 3 environment, executed in moto: the real ASL and handlers, an MWAA double.

The double speaks REST API v2 (a trigger without `logical_date` is refused as Airflow 3 refuses it) and the
probe DAG; a local web server plays MWAA's Airflow 3 web login and the API-server plugin, whose jobs do what
the simulated DAGs do. Each test names the invariant it keeps (docs/design.md).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dag_simulation import probe
from mwaa_double import DagRun, MwaaDouble
from mwaa_hibernate_snapshot.carrier import (
    API_SERVER,
    JOBS_PATH,
    NO_CREDENTIALS,
    PROBE_DAG_ID,
    PROTOCOL,
    TASK,
    USABLE,
)
from world import ENVIRONMENT, EXPORT_DAG, HIBERNATION_DAGS, IMPORT_DAG, USER_DAGS, World

VERSION = "3.3.1"
JWT = "eyJhbGciOiJIUzI1NiJ9.af3.sig"
COMPENSATE = "Restore the DAGs' paused states"
CHOOSE = "Choose how to reach the metadata database"


class PluginWebServer:
    """MWAA's Airflow 3 web server: the login exchange and the mwaa-hibernate plugin's routes."""

    def __init__(self, double: MwaaDouble, runners: dict[str, Callable[[DagRun, MwaaDouble], None]]) -> None:
        self.installed = True
        self.jobs: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {JWT}":
                    return True
                self._send(401, {"detail": "Not authenticated"})
                return False

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/pluginsv2/aws_mwaa/login":
                    token = urllib.parse.parse_qs(raw.decode())["token"][0]
                    if token not in outer.tokens:
                        self._send(401, {"detail": "unknown or used token"})
                        return
                    outer.tokens.discard(token)  # one use only, as MWAA's
                    self._send(302, {}, {"Set-Cookie": f"_token={JWT}; Path=/; Secure; HttpOnly"})
                    return
                if not self._authorized():
                    return
                if self.path != JOBS_PATH or not outer.installed:
                    self._send(404, {"detail": "Not Found"})
                    return
                payload = json.loads(raw)
                outer.jobs.append(payload)
                dag_id = EXPORT_DAG if payload["kind"] == "export" else IMPORT_DAG
                run = DagRun(ENVIRONMENT, dag_id, f"job-{payload['request']}", payload["conf"])
                runners[dag_id](run, double)
                self._send(202, {"started": True, "job": {"id": run.dag_run_id, "state": "running"}})

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if not outer.installed:
                    self._send(404, {"detail": "Not Found"})
                    return
                self._send(200, {"carrier": API_SERVER, "outcome": USABLE, "detail": "ok", "protocol": PROTOCOL})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.hostname = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def web_login(self, name: str) -> dict[str, Any]:
        token = f"web-login-{len(self.tokens)}-{name}"
        self.tokens.add(token)
        return {"WebToken": token, "WebServerHostname": self.hostname}


@pytest.fixture
def af3(make_world: Callable[..., World]) -> Iterator[tuple[World, PluginWebServer]]:
    world = make_world()
    # The world's environment names a role, network and bucket that exist (the recreatability check asks them).
    config = {**world.mwaa.environments[ENVIRONMENT].config, "AirflowVersion": VERSION}
    dags = {**USER_DAGS, **HIBERNATION_DAGS, PROBE_DAG_ID: True}
    world.mwaa.add_environment(ENVIRONMENT, dags=dags, config=config, region=world.region)
    world.mwaa.dag_ids_for_new_environments = tuple(dags)
    world.mwaa.on_trigger(PROBE_DAG_ID, probe(USABLE))
    web = PluginWebServer(world.mwaa, world.mwaa.runners)
    world.mwaa.web_login = web.web_login
    yield world, web
    web.server.shutdown()


def test_the_task_carrier_runs_the_dags_with_v2_bodies_through_a_full_cycle(af3) -> None:
    world, web = af3

    hibernated = world.run("hibernate")
    assert hibernated.status == "SUCCEEDED", hibernated
    assert hibernated.output["carrier"] == {"carrier": TASK, "airflow_version": VERSION}
    (trigger,) = world.mwaa.rest_calls("POST", f"/dags/{EXPORT_DAG}/dagRuns")
    assert trigger["Body"]["logical_date"] is None
    assert world.read_json(f"{ENVIRONMENT}/carrier.json")["carrier"] == TASK
    assert not world.mwaa.calls_of("CreateWebLoginToken") and not web.jobs

    woken = world.run("wake")
    assert woken.status == "SUCCEEDED", woken
    assert woken.states.index(CHOOSE) < woken.states.index("Run the import DAG and wait for its callback")
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS


def test_without_worker_credentials_the_api_server_plugin_carries_the_cycle(af3) -> None:
    world, web = af3
    world.mwaa.on_trigger(PROBE_DAG_ID, probe(NO_CREDENTIALS))

    hibernated = world.run("hibernate")
    assert hibernated.status == "SUCCEEDED", hibernated
    assert hibernated.output["carrier"]["carrier"] == API_SERVER
    assert [job["kind"] for job in web.jobs] == ["export"]
    assert not world.mwaa.rest_calls("POST", f"/dags/{EXPORT_DAG}/dagRuns"), "the export DAG ran as well"
    record = world.read_json(f"{ENVIRONMENT}/carrier.json")
    assert record["probes"][TASK]["outcome"] == NO_CREDENTIALS and record["probes"][API_SERVER]["usable"]

    woken = world.run("wake")
    assert woken.status == "SUCCEEDED", woken
    assert [job["kind"] for job in web.jobs] == ["export", "import"]
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS
    # The task token reached the plugin only as KMS ciphertext and a one-way digest.
    history = world.client("stepfunctions").get_execution_history(executionArn=hibernated.arn)["events"]
    tokens = {
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]["task_token"]
        for e in history
        if "taskScheduledEventDetails" in e and "task_token" in e["taskScheduledEventDetails"]["parameters"]
    }
    assert tokens and not any(token in json.dumps(web.jobs) for token in tokens)


def test_neither_carrier_working_touches_nothing_and_says_what_to_do(af3) -> None:
    """Invariants 1 and 2: nothing paused, nothing exported, nothing deleted; the alert names the fix."""
    world, web = af3
    world.mwaa.on_trigger(PROBE_DAG_ID, probe(NO_CREDENTIALS))
    web.installed = False

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited("Alert that hibernation was refused")
    assert not outcome.visited("Save the environment configuration")
    assert not world.mwaa.rest_calls("POST", f"/dags/{EXPORT_DAG}/dagRuns") and not web.jobs
    assert not world.mwaa.calls_of("DeleteEnvironment")
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS
    (alert,) = world.alerts()
    assert "NoCarrier" in alert["message"] and "install-dags --carrier api-server" in alert["message"]
    assert "choosing how to reach the metadata database" in alert["subject"] + alert["message"]


def test_an_untested_airflow_3_version_is_refused_before_anything_runs(af3) -> None:
    world, _ = af3
    world.mwaa.environments[ENVIRONMENT].config["AirflowVersion"] = "3.1.6"

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited("Alert that hibernation was refused")
    assert world.mwaa.rest_calls() == []
    (alert,) = world.alerts()
    assert "UnsupportedAirflowVersion" in alert["message"] and "3.1.6" in alert["message"]


def test_a_failed_export_unpauses_exactly_the_active_dags_through_v2(af3) -> None:
    """Invariant 2 on Airflow 3: the compensation speaks v2 and leaves the team's paused DAG paused."""
    world, _ = af3
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("fail"))

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited(COMPENSATE)
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS
    unpaused = [c for c in world.mwaa.rest_calls("PATCH") if c.get("Body") == {"is_paused": False}]
    assert all("legacy_backfill" not in c["Path"] for c in unpaused)
