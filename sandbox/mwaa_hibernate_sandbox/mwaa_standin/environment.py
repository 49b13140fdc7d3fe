"""One emulated MWAA environment: its stored configuration, its status, and the real Airflow behind it.

The slow work (database, `airflow db migrate`, scheduler, web server) runs in a worker thread per
operation, so the API answers at once and GetEnvironment reports the status as it moves:
CREATING -> AVAILABLE | CREATE_FAILED, UPDATING -> AVAILABLE | UPDATE_FAILED, DELETING -> gone.

Airflow 2 runs a scheduler and a web server on a plain PostgreSQL database. Airflow 3 runs as MWAA runs it
(`airflow3`): two API servers behind one port, a scheduler, a DAG processor and a triggerer, on a database
owned by `adminuser` and used by the non-superuser `airflow_user`, with the database credentials in every
component (stripped from workers on request), plugins.zip from S3, and a new Fernet key and JWT secret per
environment; the environment is AVAILABLE once the API servers answer and the DAG processor heartbeats.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import secrets
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..airflow_instance import AirflowInstance, PortInUse, _mwaa_db_env, wait_until
from ..postgres import free_port
from . import airflow3
from .dag_sync import DEFAULT_INTERVAL_SECONDS, S3DagSync
from .databases import Databases
from .errors import AirflowSideError

logger = logging.getLogger(__name__)

# The repository's DAG folder, the default content of every environment's DAG folder.
REPOSITORY_DAGS = Path(__file__).resolve().parents[3] / "dags"
# Generous for two shared cores: migrate (~6 s), the admin user (~5 s), web server start (~12 s).
STARTUP_TIMEOUT_SECONDS = 300
# Values MWAA fills in when CreateEnvironment leaves them out (MWAA API reference, CreateEnvironment);
# MWAA picks a maintenance window itself, this one is the stand-in's choice.
CREATE_DEFAULTS: dict[str, Any] = {
    "EnvironmentClass": "mw1.small",
    "MaxWorkers": 10,
    "MinWorkers": 1,
    "Schedulers": 2,
    "MinWebservers": 2,
    "MaxWebservers": 2,
    "WebserverAccessMode": "PRIVATE_ONLY",
    "EndpointManagement": "SERVICE",
    "WeeklyMaintenanceWindowStart": "SUN:03:30",
}
# LoggingConfiguration modules and the suffix of the CloudWatch log group MWAA creates for each.
LOG_MODULES = {
    "DagProcessingLogs": "DAGProcessing",
    "SchedulerLogs": "Scheduler",
    "TaskLogs": "Task",
    "WebserverLogs": "WebServer",
    "WorkerLogs": "Worker",
}
# LastUpdate.Error.ErrorMessage keeps the end of Airflow's output, where the cause is; alerts quote it.
ERROR_MESSAGE_CHARS = 2000
# A web server that cannot bind its port (taken meanwhile by another process) is retried on a new one.
WEBSERVER_START_ATTEMPTS = 3
# Airflow settings the stand-in owns; AirflowConfigurationOptions cannot override them (MWAA blocks them too).
PROTECTED_OPTIONS = ("database.", "core.dags_folder", "core.executor", "core.fernet_key", "api.auth_backends")


@dataclass
class StandInSettings:
    """What every environment of one stand-in shares."""

    airflow_bin: Path
    state_dir: Path
    airflow_version: str
    dags_folder: Path = REPOSITORY_DAGS
    extra_dags: tuple[Path, ...] = ()
    # Environment for the Airflow processes: typically moto's AWS_ENDPOINT_URL, dummy credentials, a region.
    airflow_env: Mapping[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    account: str = "123456789012"
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS
    # How often each environment copies its DAG folder from S3 (when airflow_env names an S3 endpoint).
    dag_sync_interval: float = DEFAULT_INTERVAL_SECONDS
    # Airflow 3: remove the database credentials from workers (the task carrier then has none, as it would if
    # AWS stopped shipping them to worker containers).
    strip_worker_credentials: bool = False
    # Move a deleted environment's Airflow home (logs included) to <state_dir>/deleted/ instead of removing it.
    keep_deleted_homes: bool = False

    @property
    def airflow3(self) -> bool:
        return int(self.airflow_version.split(".", 1)[0]) >= 3


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Environment:
    """An environment's record and lifecycle; the slow methods run in the environment's worker thread."""

    def __init__(
        self,
        name: str,
        request: Mapping[str, Any],
        settings: StandInSettings,
        databases: Databases,
        *,
        strip_worker_credentials: bool = False,
    ) -> None:
        self.name = name
        self.strip_worker_credentials = strip_worker_credentials or settings.strip_worker_credentials
        self.settings = settings
        self.databases = databases
        self.config: dict[str, Any] = {**CREATE_DEFAULTS, **copy.deepcopy(dict(request))}
        self.config.setdefault("AirflowVersion", settings.airflow_version)
        self.status = "CREATING"
        self.created_at = utc_now()
        self.last_update: dict[str, Any] = {
            "Status": "PENDING",
            "CreatedAt": self.created_at,
            "Source": "CreateEnvironment",
        }
        suffix = uuid.uuid4().hex[:8]
        self.database_name = f"mwaa_{name.lower().replace('-', '_')}_{suffix}"
        self.home = settings.state_dir / "environments" / f"{name}-{suffix}"
        self.instance: AirflowInstance | None = None
        self.database_url: str | None = None
        self.webserver_port = free_port()
        self.log_ports = (free_port(), free_port())
        self.queue_id = uuid.uuid4().hex[:12]
        self._closing = threading.Event()
        self._worker: threading.Thread | None = None
        self._dag_sync: S3DagSync | None = None
        # Airflow 3 only: the API servers, the proxy in front of them, and the secrets of the web login and REST user.
        self.api_servers: airflow3.ApiServers | None = None
        self._proxy: airflow3.RoundRobinProxy | None = None
        self.login_secret = secrets.token_urlsafe(32)
        self._rest_token: tuple[float, str] | None = None

    # ----- what GetEnvironment shows -----

    @property
    def arn(self) -> str:
        return f"arn:aws:airflow:{self.settings.region}:{self.settings.account}:environment/{self.name}"

    @property
    def airflow3(self) -> bool:
        return self.settings.airflow3

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}/api/{'v2' if self.airflow3 else 'v1'}"

    def rest_headers(self) -> dict[str, str]:
        """How InvokeRestApi authenticates to Airflow: Airflow 2 as the admin (basic auth), Airflow 3 as an Op
        user (a JWT from FAB's /auth/token, renewed hourly; see airflow3.INVOKE_REST_ROLE)."""
        instance = self._airflow()
        if not self.airflow3:
            return instance.api_headers()
        if self._rest_token is None or time.monotonic() - self._rest_token[0] > 3600:
            token = airflow3.web_login_token(self.login_secret, self.name, airflow3.INVOKE_REST_ROLE)
            self._rest_token = (time.monotonic(), airflow3.login(instance.api_root, token))
        return {"Authorization": f"Bearer {self._rest_token[1]}"}

    def describe(self) -> dict[str, Any]:
        region, account = self.settings.region, self.settings.account
        described = copy.deepcopy(self.config)
        described["LoggingConfiguration"] = self._logging_output()
        described.setdefault("Tags", {})
        described.update(
            Name=self.name,
            Arn=self.arn,
            Status=self.status,
            CreatedAt=self.created_at,
            LastUpdate=copy.deepcopy(self.last_update),
            # A URL a person can open while the sandbox runs (MWAA gives its own hostname here).
            WebserverUrl=f"http://127.0.0.1:{self.webserver_port}",
            ServiceRoleArn=f"arn:aws:iam::{account}:role/aws-service-role/airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA",
            CeleryExecutorQueue=f"arn:aws:sqs:{region}:{account}:airflow-celery-{self.queue_id}",
        )
        return described

    def _logging_output(self) -> dict[str, Any]:
        given = self.config.get("LoggingConfiguration") or {}
        output = {}
        for module, suffix in LOG_MODULES.items():
            settings = {"Enabled": False, "LogLevel": "INFO", **given.get(module, {})}
            group = (
                f"arn:aws:logs:{self.settings.region}:{self.settings.account}:log-group:airflow-{self.name}-{suffix}"
            )
            output[module] = {**settings, "CloudWatchLogGroupArn": group}
        return output

    # ----- lifecycle (each runs in a worker thread) -----

    def run_in_background(self, work: Callable[[], None]) -> None:
        self._worker = threading.Thread(target=work, name=f"mwaa-standin-{self.name}", daemon=True)
        self._worker.start()

    def provision(self, failure: str | None) -> None:
        """CreateEnvironment's work: database, DAG folder, migrate, scheduler, web server; then AVAILABLE."""
        timings = _Timings()
        try:
            if failure is not None:
                raise AirflowSideError(failure)
            migrate_url, self.database_url = self.databases.create_migrated(
                self.database_name, mwaa=self.airflow3, key=self._migration_key(), migrate=self._migrate
            )
            timings.mark("migrated database")
            self.instance = AirflowInstance(
                home=self.home,
                db_url=self.database_url,
                dags_folder=self.home / "dags",
                bin_dir=self.settings.airflow_bin,
                extra_env=self.airflow_env(),
                migrate_url=migrate_url,
                api_port=self.webserver_port,
            )
            self._sync_dags()
            self._start_dag_sync()
            self._install_plugins()
            timings.mark("folders")
            self._check_open()
            self.instance.create_api_user()
            timings.mark("admin user")
            self._start_airflow()
            timings.mark("components ready")
        except Exception as error:  # any failure becomes CREATE_FAILED, as on MWAA
            self._fail("CREATE_FAILED", error, injected=failure is not None)
            return
        logger.info("environment %s created: %s", self.name, timings)
        self._succeed()

    def _migrate(self, owner_url: str | None, url: str) -> None:
        """`airflow db migrate` on a new database, as this environment's Airflow and options would run it."""
        home = self.settings.state_dir / "migrations" / self.database_name
        AirflowInstance(
            home=home,
            db_url=url,
            dags_folder=home / "dags",
            bin_dir=self.settings.airflow_bin,
            extra_env=self.airflow_env(),
            migrate_url=owner_url,
        ).migrate()
        shutil.rmtree(home, ignore_errors=True)

    def _migration_key(self) -> str:
        """What a migration's result depends on: the Airflow installation and the log templates it records."""
        env = self.airflow_env()
        read = ("AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE", "AIRFLOW__ELASTICSEARCH__LOG_ID_TEMPLATE")
        return "|".join([str(self.settings.airflow_bin), *(env.get(name, "") for name in read)])

    def restart(self, changes: Mapping[str, Any], failure: str | None) -> None:
        """UpdateEnvironment's work: apply the changes, re-sync DAGs and plugins, restart every component."""
        try:
            if failure is not None:
                raise AirflowSideError(failure)
            if self.instance is None:
                raise AirflowSideError("the environment has no Airflow to restart; delete and create it again")
            self._stop_airflow()
            self._merge(changes)
            self.instance.extra_env = self.airflow_env()
            self._sync_dags()
            self._install_plugins()
            self._check_open()
            self._start_airflow()
        except Exception as error:  # any failure becomes UPDATE_FAILED, as on MWAA
            self._fail("UPDATE_FAILED", error, injected=failure is not None)
            return
        self._succeed()

    def teardown(self) -> None:
        """DeleteEnvironment's work (and the stand-in's shutdown): stop Airflow, drop the database, remove files."""
        self._closing.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=self.settings.startup_timeout)
        if self._dag_sync is not None:
            self._dag_sync.stop()
        self._stop_airflow()
        if self.database_url is not None:
            self.databases.drop(self.database_name)
        if self.settings.keep_deleted_homes and self.home.exists():  # for tests that read every log afterwards
            (self.settings.state_dir / "deleted").mkdir(exist_ok=True)
            shutil.move(self.home, self.settings.state_dir / "deleted" / self.home.name)
        shutil.rmtree(self.home, ignore_errors=True)

    # ----- helpers -----

    def airflow_env(self) -> dict[str, str]:
        env = dict(self.settings.airflow_env)
        for key, value in (self.config.get("AirflowConfigurationOptions") or {}).items():
            if key.startswith(PROTECTED_OPTIONS) or "." not in key:
                logger.warning("environment %s: Airflow option %s is managed by the stand-in; ignored", self.name, key)
                continue
            section, option = key.split(".", 1)
            env[f"AIRFLOW__{section.upper()}__{option.upper()}"] = str(value)
        env["AIRFLOW_ENV_NAME"] = self.name
        # The log servers of the workers and the triggerer listen on fixed ports by default (8793, 8794): every
        # environment on this machine gets its own, or the second one to start cannot serve its task logs.
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(self.log_ports[0])
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(self.log_ports[1])
        # Modules beside the DAGs (the snapshot engine) come from this environment's copy, as on MWAA,
        # not from a development install of the same package: the copy is what was "deployed".
        env["PYTHONPATH"] = str(self.home / "dags")
        if self.airflow3:
            env.update(
                airflow3.component_env(
                    self.home,
                    strip_worker_credentials=self.strip_worker_credentials,
                    login_secret=self.login_secret,
                )
            )
            env["PYTHONPATH"] = os.pathsep.join([str(self.home / "dags"), str(self.home / "standin")])
            if self.database_url is not None:  # both namings of the database credentials seen on MWAA
                env.update(airflow3.service_credentials(_mwaa_db_env(self.database_url)))
        return env

    def _merge(self, changes: Mapping[str, Any]) -> None:
        for key, value in changes.items():
            if key == "NetworkConfiguration":
                self.config[key] = {**self.config.get(key, {}), **value}
            elif key == "LoggingConfiguration":
                self.config[key] = {**self.config.get(key, {}), **copy.deepcopy(value)}
            elif key != "WorkerReplacementStrategy":
                self.config[key] = copy.deepcopy(value)

    def _sync_dags(self) -> None:
        """Copy the local DAG folders in (a sandbox convenience), then what MWAA would sync from DagS3Path."""
        target = self.home / "dags"
        target.mkdir(parents=True, exist_ok=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for source in (self.settings.dags_folder, *self.settings.extra_dags):
            if source.is_dir():
                shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        if self._dag_sync is not None:  # an update: the local copy may have overwritten synced files
            self._dag_sync.forget()
            self._dag_sync.sync_once()

    def _start_dag_sync(self) -> None:
        """Keep the DAG folder in step with S3 while the environment lives, as MWAA does."""
        self._dag_sync = S3DagSync.for_environment(
            self.config, self.settings.airflow_env, self.home / "dags", self.settings.dag_sync_interval
        )
        if self._dag_sync is not None:
            self._dag_sync.sync_once()
            self._dag_sync.start()

    def _install_plugins(self) -> None:
        """Airflow 3: plugins.zip from S3 and the stand-in's login and executor (MWAA does this at every start)."""
        if not self.airflow3:
            return
        airflow3.install_airflow_side(self.home)
        entries = airflow3.install_plugins(self.home, self.config, self._s3())
        if entries:
            logger.info("environment %s: plugins.zip has %d files", self.name, len(entries))

    def _s3(self) -> Any:
        endpoint = self.settings.airflow_env.get("AWS_ENDPOINT_URL_S3") or self.settings.airflow_env.get(
            "AWS_ENDPOINT_URL"
        )
        if not endpoint:
            return None
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.settings.airflow_env.get("AWS_DEFAULT_REGION", self.settings.region),
            aws_access_key_id=self.settings.airflow_env.get("AWS_ACCESS_KEY_ID", "sandbox"),
            aws_secret_access_key=self.settings.airflow_env.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
        )

    def _stop_airflow(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self.api_servers is not None:
            self.api_servers.stop()
            self.api_servers = None
        if self.instance is not None:
            self.instance.stop()

    def _start_airflow(self) -> None:
        if self.airflow3:
            self._start_airflow3()
            return
        instance = self._airflow()
        instance.start_scheduler()
        self._check_open()
        for attempt in range(1, WEBSERVER_START_ATTEMPTS + 1):
            if not _port_is_free(self.webserver_port):
                logger.info("environment %s: port %d is taken, moving its web server", self.name, self.webserver_port)
                self.webserver_port = free_port()
            try:
                instance.start_webserver(self.webserver_port, timeout=self.settings.startup_timeout)
                break
            except PortInUse:
                if attempt == WEBSERVER_START_ATTEMPTS:
                    raise
        wait_until(self._ready, timeout=self.settings.startup_timeout, what=f"environment {self.name} to be ready")

    def _start_airflow3(self) -> None:
        instance = self._airflow()
        self.api_servers = airflow3.ApiServers(instance)
        try:  # the web server keeps its port across updates (MWAA keeps its hostname)
            self._proxy = airflow3.RoundRobinProxy(self.webserver_port, self.api_servers.ports)
        except OSError:
            logger.info("environment %s: port %d is taken, moving its web server", self.name, self.webserver_port)
            self.webserver_port = instance.api_port = free_port()
            instance.extra_env = self.airflow_env()
            self._proxy = airflow3.RoundRobinProxy(self.webserver_port, self.api_servers.ports)
        self._proxy.start()
        self.api_servers.start(timeout=self.settings.startup_timeout)
        for component in ("scheduler", "dag-processor", "triggerer"):
            self._check_open()
            instance.start(component)
        wait_until(self._ready3, timeout=self.settings.startup_timeout, what=f"environment {self.name} to be ready")

    def _ready3(self) -> bool:
        """Both API servers answer through the proxy, and the scheduler, DAG processor and triggerer heartbeat."""
        self._check_open()
        instance = self._airflow()
        for component in ("scheduler", "dag-processor", "triggerer"):
            if not instance.running(component):
                raise AirflowSideError(f"the {component} exited; see {instance.home / (component + '.out')}")
        if self.api_servers is None or self.api_servers.running() < airflow3.API_SERVERS:
            raise AirflowSideError(f"an API server exited; see {instance.home}/api-server-*.out")
        try:
            with urllib.request.urlopen(f"{self.api_url}/monitor/health", timeout=5) as response:
                health = json.load(response)
            dags = urllib.request.Request(f"{self.api_url}/dags?limit=1", headers=self.rest_headers())
            with urllib.request.urlopen(dags, timeout=5) as response:
                api_ok = response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False
        healthy = all((health.get(part) or {}).get("status") == "healthy" for part in ("scheduler", "dag_processor"))
        return api_ok and healthy and (health.get("triggerer") or {}).get("status") == "healthy"

    def _ready(self) -> bool:
        """The scheduler heartbeats and the REST API answers an authenticated call, as MWAA's health checks need."""
        self._check_open()
        instance = self._airflow()
        if not instance.running("scheduler"):
            raise AirflowSideError(f"the scheduler exited; see {instance.home / 'scheduler.out'}")
        request = urllib.request.Request(f"{self.api_url}/health", headers=instance.api_headers())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                health = json.load(response)
            dags = urllib.request.Request(f"{self.api_url}/dags?limit=1", headers=instance.api_headers())
            with urllib.request.urlopen(dags, timeout=5) as response:
                api_ok = response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return api_ok and health.get("scheduler", {}).get("status") == "healthy"

    def _airflow(self) -> AirflowInstance:
        if self.instance is None:
            raise AirflowSideError(f"environment {self.name} has no Airflow instance yet")
        return self.instance

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise AirflowSideError("the environment is being deleted")

    def _succeed(self) -> None:
        self.status = "AVAILABLE"
        self.last_update = {**self.last_update, "Status": "SUCCESS"}
        logger.info("environment %s is AVAILABLE (Airflow REST API %s)", self.name, self.api_url)

    def _fail(self, status: str, error: Exception, *, injected: bool) -> None:
        if status == "CREATE_FAILED":
            self._stop_airflow()
        if self._closing.is_set():
            return
        code = "INCORRECT_CONFIGURATION" if injected else "INTERNAL_ERROR"
        self.status = status
        self.last_update = {
            **self.last_update,
            "Status": "FAILED",
            "Error": {"ErrorCode": code, "ErrorMessage": str(error)[-ERROR_MESSAGE_CHARS:]},
        }
        logger.warning("environment %s is %s: %s", self.name, status, error)


class _Timings:
    """Seconds each stage of an environment's creation took, for the log."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._stages: list[str] = []

    def mark(self, stage: str) -> None:
        now = time.monotonic()
        self._stages.append(f"{stage} {now - self._last:.1f}s")
        self._last = now

    def __str__(self) -> str:
        return ", ".join(self._stages)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
