"""The whole offline sandbox in one process: moto, the MWAA stand-in on real Airflow, and the deployed stack.

`with Sandbox(airflow_bin=...) as sandbox:` starts, in order:

1. moto's server on a free loopback port, in this process (``MOTO_PORT`` set, Step Functions execution
   switched on, the interpreter fixes and the in-process Lambda router applied), and this process's boto3
   pointed at it with dummy credentials;
2. the MWAA stand-in, whose Airflow processes get the same endpoint, credentials and region, and the
   forwarding that sends every MWAA call of this process (the handlers', moto's interpreter's) to it;
3. what template.yaml declares, deployed into moto (``moto_stack.deploy_stack``).

Leaving the block stops Airflow, drops the databases, stops moto and puts this process's environment
variables back. Wait states run on a scaled clock (``WAIT_SCALE``) so the template's real poll interval
and timeouts still count polls as on AWS, in seconds instead of minutes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance, wait_until
from mwaa_hibernate_sandbox.moto_patches import environment_variables, patched_moto
from mwaa_hibernate_sandbox.moto_stack import DeployedStack, deploy_stack
from mwaa_hibernate_sandbox.mwaa_standin import MwaaStandIn, install_forwarding, mwaa_client
from mwaa_hibernate_sandbox.postgres import _free_port
from mwaa_hibernate_sandbox.s3_faults import S3Faults, serve_moto
from mwaa_hibernate_sandbox.seed import EXECUTION_ROLE_NAME
from mwaa_hibernate_sandbox.template import DEFAULT_ACCOUNT_ID

log = logging.getLogger(__name__)

# The demo DAGs every sandbox environment gets beside the repository's dags/ (the hibernation DAGs).
DEMO_DAGS = Path(__file__).resolve().parent / "demo_dags"
DEFAULT_ENVIRONMENT = "demo-airflow"
# Any region works offline; this one has verified prices in the estimator's table (mwaa_hibernate.pricing).
DEFAULT_REGION = "us-east-1"
# Real seconds per state-machine second in Wait states. The template polls every 60 s (its minimum is
# 30): scaled, a poll takes 2 s, so status changes show up at once, and the time budgets the template
# counts in polls (7200 s to create = 120 polls) still leave minutes of real time for a real Airflow to
# start on two busy cores. Task timeouts and Retry intervals are not scaled (they are short or unused).
WAIT_SCALE = 1 / 30
# botocore adds "app/<id>" to the User-Agent of every call made by the Airflow processes (AWS_SDK_UA_APP_ID),
# so an S3 fault can target the environment's execution role alone (s3_faults.S3Faults.deny).
AIRFLOW_APP_ID = "mwaa-sandbox-airflow"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
# The sandbox never reaches AWS: these variables are cleared in this process while it runs.
_CLEARED_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_MWAA")


class SandboxError(RuntimeError):
    """The sandbox cannot start or was asked for something it does not run."""


@dataclass(frozen=True)
class Alert:
    """One message published to the stack's alert topic (read from moto's SNS backend)."""

    subject: str | None
    message: str

    def body(self) -> Any:
        """The message as JSON when it is JSON, else the text."""
        try:
            return json.loads(self.message)
        except ValueError:
            return self.message


@contextlib.contextmanager
def scaled_waits(scale: float) -> Iterator[None]:
    """Wait states sleep ``scale`` of their seconds; stopping an execution still interrupts them."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)

    with mock.patch.object(WaitFunction, "_wait_interval", wait_interval):
        yield


def _moto_api(moto_url: str, path: str, payload: Any = None) -> None:
    request = urllib.request.Request(
        f"{moto_url}/moto-api/{path}",
        data=json.dumps(payload or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _prepare_moto(moto_url: str) -> None:
    """Empty moto (its backends live as long as this process, across servers), then switch SFN execution on."""
    _moto_api(moto_url, "reset")
    _moto_api(moto_url, "config", {"stepfunctions": {"execute_state_machine": True}})


class Sandbox:
    """moto + the MWAA stand-in + the deployed stack; a context manager that leaves nothing running."""

    def __init__(
        self,
        *,
        airflow_bin: Path,
        state_dir: Path | None = None,
        environment_name: str = DEFAULT_ENVIRONMENT,
        region: str = DEFAULT_REGION,
        parameter_overrides: Mapping[str, Any] | None = None,
        wait_scale: float = WAIT_SCALE,
        database: str = "auto",
        strip_worker_credentials: bool = False,
        keep_deleted_homes: bool = False,
    ) -> None:
        self.airflow_bin = Path(airflow_bin)
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="mwaa-hibernate-sandbox-"))
        self.environment_name = environment_name
        self.region = region
        # The demo environment's execution role (seed.ENVIRONMENT_REQUEST): the one role the stack may pass to MWAA.
        self.parameter_overrides = {
            "EnvironmentName": environment_name,
            "ExecutionRoleName": EXECUTION_ROLE_NAME,
            **dict(parameter_overrides or {}),
        }
        self.wait_scale = wait_scale
        self.database = database
        # Airflow 3: workers without database credentials (the task carrier fails; the probe picks the plugin).
        self.strip_worker_credentials = strip_worker_credentials
        self.keep_deleted_homes = keep_deleted_homes
        self.s3_faults = S3Faults()
        self._stack: DeployedStack | None = None
        self._standin: MwaaStandIn | None = None
        self._moto_url: str | None = None
        self._exit = contextlib.ExitStack()

    # ----- lifecycle -----

    def start(self) -> Sandbox:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        started = time.monotonic()
        port = _free_port()
        self._moto_url = f"http://127.0.0.1:{port}"
        aws = {
            "MOTO_PORT": str(port),  # moto's interpreter calls other services at localhost:$MOTO_PORT
            "AWS_ENDPOINT_URL": self._moto_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }
        self._exit.enter_context(environment_variables(aws, unset=_CLEARED_VARIABLES))
        self._exit.enter_context(patched_moto(fast_wait=False))
        self._exit.enter_context(scaled_waits(self.wait_scale))
        self._exit.enter_context(serve_moto(port=port, faults=self.s3_faults))
        _prepare_moto(self._moto_url)
        self._standin = MwaaStandIn(
            airflow_bin=self.airflow_bin,
            state_dir=self.state_dir / "mwaa",
            extra_dags=(DEMO_DAGS,),
            airflow_env={
                **{key: value for key, value in aws.items() if key != "MOTO_PORT"},
                "AWS_SDK_UA_APP_ID": AIRFLOW_APP_ID,
            },
            region=self.region,
            account=DEFAULT_ACCOUNT_ID,
            database=self.database,
            strip_worker_credentials=self.strip_worker_credentials,
            keep_deleted_homes=self.keep_deleted_homes,
        )
        self._exit.callback(self._standin.stop)
        self._standin.start()
        self._exit.callback(install_forwarding(self._standin.endpoint_url))
        self._stack = deploy_stack(
            parameter_overrides=self.parameter_overrides, region=self.region, endpoint_url=self._moto_url
        )
        log.info("sandbox ready in %.1fs: moto %s, MWAA %s", time.monotonic() - started, self._moto_url, self.mwaa_url)

    def stop(self) -> None:
        """Stop Airflow, drop the databases, stop moto, undo the patches; safe to call twice."""
        from mwaa_hibernate_sandbox.moto_patches import ROUTER

        try:
            self._exit.close()
        finally:
            ROUTER.clear()
            self._standin = None
            self._stack = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- what runs -----

    @property
    def moto_url(self) -> str:
        if self._moto_url is None:
            raise SandboxError("the sandbox is not running: use it as a context manager or call start()")
        return self._moto_url

    @property
    def standin(self) -> MwaaStandIn:
        if self._standin is None:
            raise SandboxError("the sandbox is not running: use it as a context manager or call start()")
        return self._standin

    @property
    def mwaa_url(self) -> str:
        return self.standin.endpoint_url

    @property
    def stack(self) -> DeployedStack:
        if self._stack is None:
            raise SandboxError("the sandbox is not running: use it as a context manager or call start()")
        return self._stack

    @property
    def airflow_version(self) -> str:
        service = self.standin.service
        assert service is not None
        return service.settings.airflow_version

    def client(self, service: str) -> Any:
        """A boto3 client for moto (or, for ``mwaa``, the stand-in)."""
        import boto3

        if service == "mwaa":
            return mwaa_client(self.mwaa_url, region_name=self.region)
        return boto3.client(service, region_name=self.region, endpoint_url=self.moto_url)

    def state_machine_arn(self, name: str) -> str:
        return self.stack.state_machine_arn(name)

    def airflow(self, environment: str | None = None) -> AirflowInstance:
        """The real Airflow behind a running environment (for the comparison's Fernet key and the UI login).

        Reaches into the in-process stand-in: MWAA itself never shows these.
        """
        service = self.standin.service
        assert service is not None
        instance = service._get(environment or self.environment_name).instance  # private: see docstring
        if instance is None:
            raise SandboxError(f"environment {environment or self.environment_name} has no running Airflow")
        return instance

    def alerts(self) -> list[Alert]:
        """Every message published to the alert topic so far, oldest first."""
        from moto.sns.models import sns_backends

        topic = sns_backends[self.stack.account_id][self.region].topics.get(self.stack.topic_arn)
        if topic is None:
            return []
        return [Alert(subject=sent[2], message=sent[1]) for sent in topic.sent_notifications]

    def environment_status(self, environment: str | None = None) -> str | None:
        """The environment's MWAA status, or None when it does not exist."""
        mwaa = self.client("mwaa")
        try:
            return mwaa.get_environment(Name=environment or self.environment_name)["Environment"]["Status"]
        except mwaa.exceptions.ResourceNotFoundException:
            return None

    def wait_for_status(
        self, wanted: Callable[[str | None], bool], *, timeout: float, what: str, environment: str | None = None
    ) -> str | None:
        """Poll GetEnvironment until ``wanted(status)``; return that status (None: gone)."""
        holder: list[str | None] = []

        def reached() -> bool:
            status = self.environment_status(environment)
            if wanted(status):
                holder.append(status)
                return True
            return False

        wait_until(reached, timeout=timeout, interval=0.5, what=what)
        return holder[0]
