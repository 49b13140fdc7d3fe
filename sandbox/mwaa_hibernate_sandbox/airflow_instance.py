"""Run a real Airflow installation from its own virtual environment: CLI, scheduler and web server.

Used by the engine and DAG tests (one instance per test database), the benchmark, and the MWAA
stand-in (one instance per emulated environment). Airflow always runs in child processes with their
own environment variables, so the caller needs neither Airflow installed nor its configuration.
"""

from __future__ import annotations

import base64
import contextlib
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

from cryptography.fernet import Fernet

# Scheduler settings that make a local instance react in seconds rather than minutes, on two cores.
FAST_SCHEDULER = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
    "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
}


# REST API authentication: HTTP basic auth against a FAB user that `create_api_user()` makes. The
# "default" backend with a public Admin role answers /health but refuses (403) or fails (500) on
# /dags in Airflow 2.10, because the FAB auth manager ignores [webserver] auth_role_public. The
# session backend keeps the web UI usable for a person looking at a kept sandbox.
API_AUTH_BACKENDS = (
    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
    "airflow.providers.fab.auth_manager.api.auth.backend.session"
)
API_USER = "admin"
# What gunicorn logs when it gives up binding its port.
GUNICORN_BIND_FAILED = b"Can't connect to ("


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
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    _logs: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def executor(self) -> str:
        return "SequentialExecutor" if self.db_url.startswith("sqlite") else "LocalExecutor"

    def env(self) -> dict[str, str]:
        home = str(self.home)
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Loopback only, basic auth as the Admin user from create_api_user() (InvokeRestApi acts as Admin on MWAA).
            "AIRFLOW__API__AUTH_BACKENDS": API_AUTH_BACKENDS,
            "AIRFLOW__WEBSERVER__WORKERS": "1",
            "AIRFLOW__WEBSERVER__SECRET_KEY": "mwaa-hibernate-local",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": f"{home}/logs",
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            **FAST_SCHEDULER,
            **self.extra_env,
        }
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `airflow <args>`; on failure raise with Airflow's own output."""
        self.home.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.bin_dir / "airflow"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def migrate(self) -> None:
        self.cli("db", "migrate")

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
        """HTTP headers that authenticate a REST API call as the user from `create_api_user()`."""
        token = base64.b64encode(f"{API_USER}:{self.api_password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

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
        """Start a long-running Airflow component (`scheduler`, `webserver`, `triggerer`) in its own group."""
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

    def start_webserver(self, port: int, *, timeout: float = 120) -> str:
        """Start the web server on loopback and wait until its REST API answers; return the API base URL.

        Raises PortInUse at once when gunicorn cannot bind the port (Airflow itself would wait two more
        minutes before exiting), so the caller can pick another port.
        """
        log_path = self.home / "webserver.out"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        self.start("webserver", "--port", str(port), "--hostname", "127.0.0.1", "--workers", "1")
        base = f"http://127.0.0.1:{port}/api/v1"

        def healthy() -> bool:
            proc = self._procs["webserver"]
            if proc.poll() is not None:
                raise RuntimeError(f"webserver exited ({proc.returncode}); see {log_path}")
            with open(log_path, "rb") as log:
                log.seek(log_start)
                if GUNICORN_BIND_FAILED in log.read():
                    self.stop_component("webserver")
                    raise PortInUse(f"port {port} is in use by another process; start the web server on another")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_until(healthy, timeout=timeout, what=f"the Airflow web server on port {port}")
        return base

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
