"""What an emulated Airflow 3 environment runs beyond `AirflowInstance`, and how strictly it mirrors MWAA.

- Two API servers (MWAA's MinWebservers is 2) behind a round-robin proxy on the environment's web server
  port: REST calls, the web login, plugin routes and the tasks' execution API all go through it, so a job
  started on one API server is looked up on the other.
- The database credentials in every component's environment, under both namings seen on MWAA
  (`MWAA__DB__*` from MWAA's image, `DB_SECRETS` with `POSTGRES_*` reported on the service), and a switch
  that strips them from workers (`airflow_side/mwaa_standin_executor.py`).
- The web login of MWAA on Airflow 3: `CreateWebLoginToken` returns a signed one-time token valid 60 s that
  `/pluginsv2/aws_mwaa/login` trades for the JWT (`airflow_side/aws_mwaa_login.py`).
- The environment's plugins.zip (PluginsS3Path at PluginsS3ObjectVersion) extracted into its plugins folder
  before Airflow starts, as MWAA does on every component; a requirements file must exist (not installed).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import io
import itertools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..airflow_instance import AirflowInstance, wait_until
from ..postgres import free_port
from .errors import AirflowSideError

logger = logging.getLogger(__name__)

AIRFLOW_SIDE = Path(__file__).resolve().parent / "airflow_side"
LOGIN_PLUGIN = "aws_mwaa_login.py"
EXECUTOR_MODULE = "mwaa_standin_executor"
WEB_LOGIN_SECRET = "MWAA_STANDIN_WEB_LOGIN_SECRET"
STRIP_VARIABLE = "MWAA_STANDIN_STRIP_WORKER_VARIABLES"
WEB_TOKEN_SECONDS = 60
API_SERVERS = 2
# The Airflow role the stand-in acts as. MWAA picks the role from the caller's IAM policy, which the stand-in
# cannot see, and the seed (a person) fills variables and connections, which User may not: InvokeRestApi and the
# web login both act as Op, one sign-in user as on MWAA. That the stack's functions need no more than the User
# role their policies name is therefore not proven here (docs/development.md).
INVOKE_REST_ROLE = "Op"
WEB_LOGIN_ROLE = INVOKE_REST_ROLE
PROXY_TIMEOUT_SECONDS = 120
# Every variable name the task carrier may read (mwaa_hibernate_runtime.connection.NAMINGS), stripped together.
CREDENTIAL_VARIABLES = (
    "DB_SECRETS",
    "MWAA__DB__CREDENTIALS",
    "MWAA__DB__POSTGRES_DB",
    "MWAA__DB__POSTGRES_HOST",
    "MWAA__DB__POSTGRES_PASSWORD",
    "MWAA__DB__POSTGRES_PORT",
    "MWAA__DB__POSTGRES_SSLMODE",
    "MWAA__DB__POSTGRES_USER",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_SSLMODE",
)


def service_credentials(mwaa_db_env: Mapping[str, str]) -> dict[str, str]:
    """The service's naming (`DB_SECRETS`, `POSTGRES_*`) of the same credentials as MWAA's image naming."""
    if "MWAA__DB__CREDENTIALS" not in mwaa_db_env:
        return {}
    return {
        "DB_SECRETS": mwaa_db_env["MWAA__DB__CREDENTIALS"],
        "POSTGRES_HOST": mwaa_db_env["MWAA__DB__POSTGRES_HOST"],
        "POSTGRES_PORT": mwaa_db_env["MWAA__DB__POSTGRES_PORT"],
        "POSTGRES_DB": mwaa_db_env["MWAA__DB__POSTGRES_DB"],
        # The stand-in's database has no TLS; MWAA's requires it (the carrier's default is sslmode=require).
        "POSTGRES_SSLMODE": mwaa_db_env.get("MWAA__DB__POSTGRES_SSLMODE", "disable"),
    }


def component_env(home: Path, *, strip_worker_credentials: bool, login_secret: str) -> dict[str, str]:
    """What every Airflow 3 component of an environment gets on top of `AirflowInstance.env()`."""
    return {
        "AIRFLOW__CORE__EXECUTOR": f"{EXECUTOR_MODULE}.LocalExecutor",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        STRIP_VARIABLE: ",".join(CREDENTIAL_VARIABLES) if strip_worker_credentials else "",
        WEB_LOGIN_SECRET: login_secret,
    }


def install_airflow_side(home: Path) -> Path:
    """Copy the stand-in's executor next to the environment (its folder goes on PYTHONPATH); return the folder."""
    folder = home / "standin"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(AIRFLOW_SIDE / f"{EXECUTOR_MODULE}.py", folder / f"{EXECUTOR_MODULE}.py")
    return folder


def install_plugins(home: Path, config: Mapping[str, Any], s3: Any | None) -> list[str]:
    """Extract the environment's plugins.zip (the version its configuration names) and the login plugin.

    Raises AirflowSideError when the configuration names a plugins.zip or requirements file S3 does not have,
    or a zip that is not one (MWAA fails the environment then too); returns the extracted entries.
    """
    folder = home / "plugins"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    entries: list[str] = []
    bucket = str(config.get("SourceBucketArn", "")).rsplit(":", 1)[-1]
    if config.get("PluginsS3Path"):
        body = _s3_object(s3, bucket, config["PluginsS3Path"], config.get("PluginsS3ObjectVersion"), "plugins")
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as zipped:
                for name in zipped.namelist():
                    if name.startswith("/") or ".." in Path(name).parts:
                        raise AirflowSideError(f"plugins.zip entry {name!r} points outside the plugins folder")
                zipped.extractall(folder)
                entries = [n for n in zipped.namelist() if not n.endswith("/")]
        except zipfile.BadZipFile:
            raise AirflowSideError(f"s3://{bucket}/{config['PluginsS3Path']} is not a zip file") from None
    if config.get("RequirementsS3Path"):  # MWAA installs it; the stand-in only checks it is there
        _s3_object(s3, bucket, config["RequirementsS3Path"], config.get("RequirementsS3ObjectVersion"), "requirements")
    shutil.copy2(AIRFLOW_SIDE / LOGIN_PLUGIN, folder / f"zz_{LOGIN_PLUGIN}")
    return entries


def _s3_object(s3: Any | None, bucket: str, key: str, version: str | None, what: str) -> bytes:
    if s3 is None:
        raise AirflowSideError(f"the {what} file s3://{bucket}/{key} cannot be read: the stand-in has no S3")
    try:
        kwargs = {"VersionId": version} if version else {}
        return s3.get_object(Bucket=bucket, Key=key.lstrip("/"), **kwargs)["Body"].read()
    except Exception as error:
        raise AirflowSideError(
            f"the {what} file s3://{bucket}/{key} (version {version or 'latest'}) cannot be read: {error}"
        ) from None


# ----- the web login ---------------------------------------------------------------------------------------


def web_login_token(secret: str, environment: str, role: str = WEB_LOGIN_ROLE, *, now: float | None = None) -> str:
    """A one-time token the login plugin accepts for WEB_TOKEN_SECONDS (signed with the environment's secret)."""
    claims = {
        "env": environment,
        "role": role,
        "nonce": secrets.token_hex(12),
        "exp": (now or time.time()) + WEB_TOKEN_SECONDS,
    }
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()
    return f"{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


# ----- two API servers behind one port --------------------------------------------------------------------


class RoundRobinProxy:
    """A reverse proxy on `port` that sends each request to the next live backend, as MWAA's load balancer."""

    def __init__(self, port: int, backends: list[int]) -> None:
        self.port = port
        self.backends = backends
        self._turn = itertools.cycle(range(len(backends)))
        self._lock = threading.Lock()
        self.served: list[int] = [0] * len(backends)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                last: Exception | None = None
                for index in proxy._order():
                    try:
                        status, reason, answer_headers, data = _send(
                            proxy.backends[index], self.command, self.path, body, headers
                        )
                    except OSError as error:  # that API server is down: try the other, as a load balancer does
                        last = error
                        continue
                    proxy.served[index] += 1
                    self.send_response(status, reason)
                    for key, value in answer_headers:
                        if key.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_error(502, f"no API server answered: {last}")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"api-proxy-{port}", daemon=True)

    def _order(self) -> list[int]:
        with self._lock:
            first = next(self._turn)
        return [first, *[i for i in range(len(self.backends)) if i != first]]

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _send(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROXY_TIMEOUT_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.reason, response.getheaders(), response.read()
    finally:
        connection.close()


class ApiServers:
    """`API_SERVERS` `airflow api-server` processes of one instance, each on a port of its own."""

    def __init__(self, instance: AirflowInstance, count: int = API_SERVERS) -> None:
        self.instance = instance
        self.ports = [free_port() for _ in range(count)]
        self._procs: list[subprocess.Popen] = []
        self._logs: list[Any] = []

    def start(self, timeout: float) -> None:
        for number, port in enumerate(self.ports, 1):
            log = open(self.instance.home / f"api-server-{number}.out", "ab")  # noqa: SIM115 - closed by stop()
            self._logs.append(log)
            self._procs.append(
                subprocess.Popen(
                    [str(self.instance.bin_dir / "airflow"), "api-server", "--port", str(port), "--host", "127.0.0.1"],
                    env=self.instance.env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        for number, port in enumerate(self.ports, 1):
            wait_until(
                lambda n=number, p=port: self._healthy(n, p),
                timeout=timeout,
                what=f"API server {number} of {self.instance.home.name} on port {port}",
            )

    def _healthy(self, number: int, port: int) -> bool:
        proc = self._procs[number - 1]
        if proc.poll() is not None:
            raise AirflowSideError(
                f"API server {number} exited ({proc.returncode}); see {self.instance.home}/api-server-{number}.out"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def running(self) -> int:
        return sum(1 for proc in self._procs if proc.poll() is None)

    def stop_one(self, number: int) -> None:
        """Kill one API server (a scale-in or a crash on MWAA); the proxy sends everything to the other."""
        proc = self._procs[number - 1]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self, timeout: float = 20) -> None:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def login(api_root: str, web_token: str) -> str:
    """The JWT `/pluginsv2/aws_mwaa/login` gives for a web login token (what InvokeRestApi acts with, as Op)."""
    request = urllib.request.Request(
        f"{api_root}/pluginsv2/aws_mwaa/login",
        data=urllib.parse.urlencode({"token": web_token}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as answer:
            cookies = answer.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as answer:  # the 302 with the cookie
        cookies = answer.headers.get_all("Set-Cookie") or []
    for header in cookies:
        name, _, rest = header.partition("=")
        if name.strip() == "_token":
            return rest.split(";", 1)[0]
    raise AirflowSideError("the stand-in's web login gave no _token cookie; see the API servers' logs")
