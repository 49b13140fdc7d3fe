"""Run a real Airflow installation from its own virtual environment: CLI, scheduler and web server.

Used by the engine and DAG tests (one instance per test database), the benchmark, and the MWAA
stand-in (one instance per emulated environment). Airflow always runs in child processes with their
own environment variables, so the caller needs neither Airflow installed nor its configuration.

Airflow 2 runs a scheduler and a web server (REST API v1, basic auth). Airflow 3 runs what MWAA runs
(aws/amazon-mwaa-docker-images, python/mwaa/config/airflow.py): an API server (REST API v2 and the
execution API tasks talk to), a scheduler, a standalone DAG processor and a triggerer, with the FAB auth
manager (REST calls carry a JWT from FAB's `/auth/token`), one JWT secret shared by every process, and
LocalExecutor. Which one an instance is follows from the Airflow installed in `bin_dir`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet

from .postgres import free_port

# Scheduler settings that make a local instance react in seconds rather than minutes, on two cores.
FAST_SCHEDULER = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    # Airflow's default: a new or changed file is parsed at once anyway; re-parsing unchanged files every 5 s kept
    # about a quarter of a core busy per environment (measured on Airflow 3: 0.40 cores idle at 5 s, 0.14 at 30 s).
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
    "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
    "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
}


# The same for Airflow 3, where the DAG processor is a process of its own and the scheduler's options moved.
FAST_AIRFLOW3 = {
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",  # lists the DAG folder (default 300 s)
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",  # the default, as above (FAST_SCHEDULER)
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__CORE__PARALLELISM": "4",  # LocalExecutor forks this many workers (32 by default: 7 GB here)
    "AIRFLOW__API__WORKERS": "1",
}
# What MWAA sets for every Airflow 3 process that matters to a local instance (python/mwaa/config/airflow.py).
MWAA_AIRFLOW3 = {
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
    "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
    "AIRFLOW__API_AUTH__JWT_ALGORITHM": "HS256",
    "AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME": "86400",
    "AIRFLOW__SCHEDULER__SCHEDULE_AFTER_TASK_EXECUTION": "False",
    "AIRFLOW__CORE__MULTI_TEAM": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
}
# The components an Airflow 3 environment runs, in the order they are started (the API server first: the
# others need the execution API it serves).
AIRFLOW3_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

# REST API authentication: HTTP basic auth against a FAB user that `create_api_user()` makes. The
# "default" backend with a public Admin role answers /health but refuses (403) or fails (500) on
# /dags in Airflow 2.10, because the FAB auth manager ignores [webserver] auth_role_public. The
# session backend keeps the web UI usable for a person looking at a kept sandbox.
API_AUTH_BACKENDS = (
    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
    "airflow.providers.fab.auth_manager.api.auth.backend.session"
)
API_USER = "admin"
# What gunicorn logs when it gives up binding its port, and what uvicorn (Airflow 3's default) logs at once.
GUNICORN_BIND_FAILED = b"Can't connect to ("
UVICORN_BIND_FAILED = b"address already in use"
# Airflow 3's API tokens live 24 hours by default; fetch a new one well before.
TOKEN_LIFETIME = 3600.0


class PortInUse(RuntimeError):
    """The web server's port is taken by another process: start it again on a free port."""


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll `condition` until it returns something truthy; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class AirflowInstance:
    """One Airflow home with its metadata database. Processes started here are stopped by `stop()`."""

    home: Path
    db_url: str
    dags_folder: Path
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # A fresh password per instance: the web server listens on loopback only, but other local users exist.
    api_password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    # The database URL `migrate()` uses when it must differ from `db_url` (MWAA migrates as the database owner).
    migrate_url: str | None = field(default=None, repr=False)
    # Airflow 3: the API server's port, known before any component starts (tasks reach the execution API there).
    api_port: int = field(default_factory=free_port)
    # Airflow 3: signs and checks every JWT (task tokens, API tokens); the same in every process of the instance.
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    _logs: dict[str, object] = field(default_factory=dict, repr=False)
    _token: tuple[float, str] | None = field(default=None, repr=False)

    @functools.cached_property
    def airflow_version(self) -> str:
        """The version of the Airflow installed beside `bin_dir` (read from its metadata, not by importing it)."""
        result = subprocess.run(
            [str(self.bin_dir / "python"), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()

    @property
    def airflow3(self) -> bool:
        return int(self.airflow_version.split(".")[0]) >= 3

    @property
    def executor(self) -> str:
        if self.airflow3:  # Airflow 3 has no SequentialExecutor; LocalExecutor runs on SQLite too
            return "LocalExecutor"
        return "SequentialExecutor" if self.db_url.startswith("sqlite") else "LocalExecutor"

    @property
    def api_root(self) -> str:
        """Where the web server (Airflow 2) or the API server (Airflow 3) listens."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def api_base(self) -> str:
        """The REST API's base URL: /api/v1 on Airflow 2, /api/v2 on Airflow 3."""
        return f"{self.api_root}/api/{'v2' if self.airflow3 else 'v1'}"

    def env(self, *, db_url: str | None = None) -> dict[str, str]:
        home = str(self.home)
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url or self.db_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": f"{home}/logs",
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        if self.airflow3:
            env |= self._airflow3_env()
        else:
            env |= {
                # Loopback only, basic auth as the Admin user from create_api_user() (InvokeRestApi acts as Admin).
                "AIRFLOW__API__AUTH_BACKENDS": API_AUTH_BACKENDS,
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__WEBSERVER__SECRET_KEY": "mwaa-hibernate-local",
                **FAST_SCHEDULER,
            }
        return env | dict(self.extra_env)

    def _airflow3_env(self) -> dict[str, str]:
        env = {
            **MWAA_AIRFLOW3,
            **FAST_AIRFLOW3,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_root}/execution/",
            "AIRFLOW__API__SECRET_KEY": "mwaa-hibernate-local",
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
        }
        minor = tuple(int(p) for p in self.airflow_version.split(".")[:2])
        if minor >= (3, 2):  # MWAA serves the API with gunicorn from 3.2 on (the option exists from then)
            env["AIRFLOW__API__SERVER_TYPE"] = "gunicorn"
        return env | _mwaa_db_env(self.db_url)

    def _run(self, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.home.mkdir(parents=True, exist_ok=True)
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `airflow <args>`; on failure raise with Airflow's own output."""
        result = self._run([str(self.bin_dir / "airflow"), *args], self.env(), timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def migrate(self) -> None:
        """`airflow db migrate` (as `migrate_url`'s role if set). On Airflow 3 it creates FAB's tables too."""
        result = self._run([str(self.bin_dir / "airflow"), "db", "migrate"], self.env(db_url=self.migrate_url), 600)
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({result.returncode}):\n{result.stderr[-4000:]}")

    def create_api_user(self) -> None:
        """Create the Admin user the REST API is called as (after `migrate()`; `api_headers()` carries it)."""
        result = self.cli(
            # `--password=` form: a generated password may start with "-", which argparse reads as an option.
            "users", "create", "--username", API_USER, f"--password={self.api_password}", "--role", "Admin",
            "--email", "admin@localhost", "--firstname", "Local", "--lastname", "Admin", check=False,
        )  # fmt: skip
        if result.returncode != 0:  # reported without the command line, which holds the password
            raise RuntimeError(f"airflow users create failed ({result.returncode}):\n{result.stderr[-4000:]}")

    def api_headers(self) -> dict[str, str]:
        """HTTP headers that authenticate a REST API call as the user from `create_api_user()`.

        Airflow 2: basic auth. Airflow 3: a bearer token from `api_token()` (the API server must be up).
        """
        if self.airflow3:
            return {"Authorization": f"Bearer {self.api_token()}"}
        token = base64.b64encode(f"{API_USER}:{self.api_password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def api_token(self) -> str:
        """Airflow 3: a JWT for the user from `create_api_user()`, from FAB's `POST /auth/token` (kept an hour)."""
        if self._token is not None and time.monotonic() - self._token[0] < TOKEN_LIFETIME:
            return self._token[1]
        body = json.dumps({"username": API_USER, "password": self.api_password}).encode()
        request = urllib.request.Request(
            f"{self.api_root}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)["access_token"]
        self._token = (time.monotonic(), token)
        return token

    def python(self, code: str, *, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run Python code in this instance's interpreter and environment (for seeding with Airflow's ORM)."""
        result = subprocess.run(
            [str(self.bin_dir / "python"), "-c", code],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"python snippet failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Start a long-running Airflow component (`scheduler`, `webserver`, `triggerer`, `api-server`,
        `dag-processor`) in its own process group."""
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / f"{name}.out", "ab")  # noqa: SIM115 - kept open for the child's lifetime, closed by stop()
        proc = subprocess.Popen(
            [str(self.bin_dir / "airflow"), name, *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs[name] = proc
        self._logs[name] = log
        return proc

    def start_scheduler(self) -> subprocess.Popen:
        return self.start("scheduler")

    def start_dag_processor(self) -> subprocess.Popen:
        """Airflow 3: the standalone DAG processor (the scheduler parses nothing itself there)."""
        return self.start("dag-processor")

    def start_triggerer(self) -> subprocess.Popen:
        return self.start("triggerer")

    def start_webserver(self, port: int, *, timeout: float = 120) -> str:
        """Start the web server on loopback and wait until its REST API answers; return the API base URL.

        On Airflow 3 this starts the API server (`start_api_server`). Raises PortInUse at once when the port
        cannot be bound (Airflow 2's gunicorn would wait two more minutes before exiting), so the caller can
        pick another port.
        """
        if self.airflow3:
            return self.start_api_server(port, timeout=timeout)
        self.api_port = port
        self._start_http("webserver", ["--port", str(port), "--hostname", "127.0.0.1", "--workers", "1"], timeout)
        return self.api_base

    def start_api_server(self, port: int | None = None, *, timeout: float = 180) -> str:
        """Airflow 3: start the API server on loopback (`api_port`, or `port`) and wait until it answers.

        Start it before the other components, or keep `api_port`: they reach the execution API at the
        address they were started with. Returns the REST API base URL (`api_base`).
        """
        if not self.airflow3:
            return self.start_webserver(port or self.api_port, timeout=timeout)
        if port is not None and port != self.api_port:
            if self._procs:
                raise RuntimeError(
                    f"components already run with the execution API on port {self.api_port}; "
                    f"start the API server first to move it to {port}"
                )
            self.api_port = port
        self._start_http("api-server", ["--port", str(self.api_port), "--host", "127.0.0.1"], timeout)
        return self.api_base

    def start_all(self, *, timeout: float = 180) -> str:
        """Every component this Airflow runs on MWAA, the API server first; returns the REST API base URL.

        Airflow 2: scheduler and web server. Airflow 3: API server, scheduler, DAG processor, triggerer.
        """
        if not self.airflow3:
            self.start_scheduler()
            return self.start_webserver(self.api_port, timeout=timeout)
        base = self.start_api_server(timeout=timeout)
        for name in AIRFLOW3_COMPONENTS[1:]:
            self.start(name)
        return base

    def _start_http(self, name: str, args: list[str], timeout: float) -> None:
        log_path = self.home / f"{name}.out"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        self.start(name, *args)
        health = f"{self.api_base}/monitor/health" if self.airflow3 else f"{self.api_base}/health"

        def healthy() -> bool:
            proc = self._procs[name]
            with open(log_path, "rb") as log:
                log.seek(log_start)
                output = log.read()
            if GUNICORN_BIND_FAILED in output or UVICORN_BIND_FAILED in output.lower():
                self.stop_component(name)
                raise PortInUse(f"port {self.api_port} is in use by another process; start the {name} on another")
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}); see {log_path}")
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_until(healthy, timeout=timeout, what=f"the Airflow {name} on port {self.api_port}")

    def stop_component(self, name: str) -> None:
        """Kill one component's whole process group at once (used when it cannot work, e.g. no port)."""
        proc = self._procs.pop(name, None)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    def stop(self, timeout: float = 20) -> None:
        """Stop every component started here: the whole process group, gunicorn workers and task runners included.

        A group leader that exits on SIGTERM can leave children behind (a task runner mid-task), so each
        group gets a final SIGKILL once its leader is gone.
        """
        for proc in self._procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._procs.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def running(self, name: str) -> bool:
        """Whether the component started as `name` is still alive."""
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None


def _mwaa_db_env(db_url: str) -> dict[str, str]:
    """The variables MWAA's image gives every Airflow process to reach the metadata database itself
    (python/mwaa/config/database.py: MWAA__DB__CREDENTIALS and MWAA__DB__POSTGRES_*); PostgreSQL only."""
    if not db_url.startswith("postgresql"):
        return {}
    url = urlsplit(db_url)
    credentials = {"username": unquote(url.username or ""), "password": unquote(url.password or "")}
    return {
        "MWAA__DB__CREDENTIALS": json.dumps(credentials),
        "MWAA__DB__POSTGRES_HOST": url.hostname or "127.0.0.1",
        "MWAA__DB__POSTGRES_PORT": str(url.port or 5432),
        "MWAA__DB__POSTGRES_DB": url.path.lstrip("/"),
        "MWAA__DB__POSTGRES_SSLMODE": "disable",
    }
