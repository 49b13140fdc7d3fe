"""`make invoke`: run one Lambda handler in this process against a running sandbox, and print its result.

    python -m mwaa_hibernate_sandbox.invoke [--function NAME] EVENT_FILE [--set KEY=VALUE ...] [--as-is]

This is `sam local invoke` without Docker. The sandbox is the one `make demo DEMO_ARGS=--keep` leaves
running: while it waits, it publishes where its endpoints are and what it deployed (physical names and
ARNs) in `.sandbox/running.json` (``RunningSandbox``), and removes the file when it stops. Here the
function is looked up in template.yaml (by logical id, or by handler module name, or from the event
file's name: `events/<module>[.<variant>].json`), its environment variables are resolved against that
deployment exactly as `moto_stack` resolved them when it created the function, and the handler runs
through the same in-process Lambda runtime the sandbox uses (``moto_patches.LambdaRouter``), with every
AWS call sent to the sandbox's moto and MWAA calls to its stand-in.

The sample events name the environment `my-mwaa-environment`; as the state machines do, the event's
`environment_name` is set to the stack's EnvironmentName (`--as-is` keeps the event unchanged). `--set`
changes one top-level field (the value is parsed as JSON when it is JSON), e.g. `--set snapshot_id=...`.

The result is printed on stdout as JSON; the handler's own log lines go to stderr. Exit 0 when the
handler returned, 1 when it raised (the printed result is then Lambda's error payload), 2 when it could
not run (no sandbox, unknown function, unreadable event).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from mwaa_hibernate_sandbox.moto_patches import HandlerLocation, LambdaRouter, environment_variables
from mwaa_hibernate_sandbox.moto_stack import DeployedStack
from mwaa_hibernate_sandbox.mwaa_standin.client import client_environment
from mwaa_hibernate_sandbox.sandbox import DUMMY_CREDENTIALS
from mwaa_hibernate_sandbox.template import DEFAULT_ACCOUNT_ID, PARTITION, Function, Physical, SamTemplate, project_root

if TYPE_CHECKING:
    from mwaa_hibernate_sandbox.sandbox import Sandbox

RUNNING_FILE_NAME = "running.json"
START_ONE = "start one in another terminal with `make demo DEMO_ARGS=--keep` and wait for its 'keeps running' panel"
# The event field the state machines fill from the stack's EnvironmentName parameter.
ENVIRONMENT_FIELD = "environment_name"
# Never reach AWS: these would send calls elsewhere than the sandbox.
_CLEARED_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# Lambda has an X-Ray daemon and no terminal; here the tracer stays off unless the caller says otherwise.
_LOCAL_DEFAULTS = {"AWS_XRAY_SDK_ENABLED": "false", "POWERTOOLS_TRACE_DISABLED": "true"}


class InvokeError(RuntimeError):
    """The handler could not be run as asked; the message says what to do."""


class NoSandbox(InvokeError):
    """No running sandbox published its endpoints."""


def default_sandbox_file() -> Path:
    """`.sandbox/running.json` in the checkout (the demo's state folder, ignored by git)."""
    from mwaa_hibernate_sandbox.demo import STATE_FOLDER  # the demo imports this module: import late

    return project_root() / STATE_FOLDER / RUNNING_FILE_NAME


@dataclass(frozen=True)
class RunningSandbox:
    """What a running sandbox publishes: its endpoints, and the stack it deployed into moto."""

    moto_url: str
    mwaa_url: str | None
    region: str
    stack_name: str
    parameters: Mapping[str, str]
    physical: Mapping[str, Physical]
    functions: Mapping[str, str]  # logical id -> function name
    state_machines: Mapping[str, str] = field(default_factory=dict)
    account_id: str = DEFAULT_ACCOUNT_ID
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def of_stack(cls, stack: DeployedStack, *, moto_url: str, mwaa_url: str | None) -> RunningSandbox:
        return cls(
            moto_url=moto_url,
            mwaa_url=mwaa_url,
            region=stack.region,
            stack_name=stack.stack_name,
            parameters=dict(stack.parameters),
            physical=dict(stack.physical),
            functions=dict(stack.functions),
            state_machines=dict(stack.state_machines),
            account_id=stack.account_id,
        )

    @classmethod
    def of(cls, sandbox: Sandbox) -> RunningSandbox:
        return cls.of_stack(sandbox.stack, moto_url=sandbox.moto_url, mwaa_url=sandbox.mwaa_url)

    @property
    def environment_name(self) -> str:
        return self.parameters["EnvironmentName"]

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "moto_url": self.moto_url,
            "mwaa_url": self.mwaa_url,
            "region": self.region,
            "account_id": self.account_id,
            "stack_name": self.stack_name,
            "parameters": dict(self.parameters),
            # Known attributes only: what a Ref or GetAtt in a function's environment can ask for.
            "physical": {lid: {"ref": p.ref, "attributes": dict(p.attributes)} for lid, p in self.physical.items()},
            "functions": dict(self.functions),
            "state_machines": dict(self.state_machines),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunningSandbox:
        return cls(
            moto_url=data["moto_url"],
            mwaa_url=data.get("mwaa_url"),
            region=data["region"],
            stack_name=data["stack_name"],
            parameters=dict(data["parameters"]),
            physical={lid: Physical(ref=p["ref"], attributes=p["attributes"]) for lid, p in data["physical"].items()},
            functions=dict(data["functions"]),
            state_machines=dict(data.get("state_machines", {})),
            account_id=data.get("account_id", DEFAULT_ACCOUNT_ID),
            pid=int(data["pid"]),
        )

    def write(self, path: Path | None = None) -> Path:
        """Publish (atomically: a reader never sees half a file)."""
        path = path or default_sandbox_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{self.pid}")
        partial.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        partial.replace(path)
        return path

    def stack(self, template: SamTemplate) -> DeployedStack:
        return DeployedStack(
            stack_name=self.stack_name,
            region=self.region,
            account_id=self.account_id,
            parameters=self.parameters,
            physical=self.physical,
            functions=self.functions,
            state_machines=self.state_machines,
            template=template,
        )

    def endpoint_variables(self) -> dict[str, str]:
        """What points boto3 at this sandbox: moto for every service (boto3 >= 1.28), the stand-in for MWAA."""
        variables = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }
        if self.mwaa_url:
            variables.update(client_environment(self.mwaa_url))
        return variables


def withdraw(path: Path | None = None, *, pid: int | None = None) -> None:
    """Remove the published file if this process (or ``pid``) wrote it."""
    path = path or default_sandbox_file()
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if int(json.loads(path.read_text())["pid"]) == (pid or os.getpid()):
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _reachable(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


def find_running(path: Path | None = None) -> RunningSandbox:
    """The sandbox that published ``path``, if it still runs; NoSandbox with what to do otherwise."""
    path = path or default_sandbox_file()
    try:
        running = RunningSandbox.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise NoSandbox(f"No sandbox is running (nothing published {path}): {START_ONE}.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise NoSandbox(f"{path} is not a running sandbox's file ({exc!r}): {START_ONE}.") from exc
    if not _alive(running.pid) or not _reachable(running.moto_url):
        raise NoSandbox(
            f"The sandbox that wrote {path} (process {running.pid}, moto at {running.moto_url}) has stopped: "
            f"{START_ONE}."
        )
    return running


def find_function(template: SamTemplate, name: str | None, event_file: Path) -> Function:
    """By logical id (any case), by handler module (`preflight`), or from the event file's name."""
    functions = template.functions
    wanted = name or event_file.name.split(".", 1)[0]
    for function in functions.values():
        if wanted.lower() in (function.logical_id.lower(), function.handler_module.lower()):
            return function
    known = ", ".join(f"{f.logical_id} ({f.handler_module})" for f in functions.values())
    if name is None and event_file.name.startswith("statemachine."):
        raise InvokeError(
            f"{event_file} is a state machine's input, not a function's event: start an execution with it "
            f"(aws stepfunctions start-execution). Functions: {known}"
        )
    raise InvokeError(f"No function {wanted!r} in {template.path.name}. Functions: {known}")


def read_event(
    event_file: Path, running: RunningSandbox, *, overrides: Sequence[str] = (), as_is: bool = False
) -> dict[str, Any]:
    try:
        event = json.loads(event_file.read_text())
    except (OSError, ValueError) as exc:
        raise InvokeError(f"Cannot read the event {event_file}: {exc}") from exc
    if not isinstance(event, dict):
        raise InvokeError(f"{event_file} holds {type(event).__name__}, not a JSON object")
    if not as_is and ENVIRONMENT_FIELD in event and event[ENVIRONMENT_FIELD] != running.environment_name:
        print(
            f"event: {ENVIRONMENT_FIELD} {event[ENVIRONMENT_FIELD]!r} -> {running.environment_name!r} (the sandbox "
            "stack's EnvironmentName, as the state machines pass it; --as-is keeps the event unchanged)",
            file=sys.stderr,
        )
        event[ENVIRONMENT_FIELD] = running.environment_name
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InvokeError(f"--set takes KEY=VALUE, not {item!r}")
        try:
            event[key] = json.loads(text)
        except ValueError:
            event[key] = text
    return event


def function_variables(running: RunningSandbox, template: SamTemplate, function: Function) -> dict[str, str]:
    """The function's environment variables, resolved as moto_stack resolved them when it created the function."""
    resolved = running.stack(template).resolver().resolve(dict(function.environment))
    return {key: str(value) for key, value in resolved.items()}


def invoke(
    event_file: Path,
    *,
    function_name: str | None = None,
    sandbox_file: Path | None = None,
    overrides: Sequence[str] = (),
    as_is: bool = False,
) -> tuple[Any, bool]:
    """Run the handler once; return (its result or Lambda's error payload, whether it raised)."""
    template = SamTemplate.load()
    running = find_running(sandbox_file)
    function = find_function(template, function_name, event_file)
    physical_name = running.functions.get(function.logical_id)
    if physical_name is None:
        raise InvokeError(f"The sandbox did not deploy {function.logical_id} (its Condition was false?)")
    event = read_event(event_file, running, overrides=overrides, as_is=as_is)
    stack = running.stack(template)
    resolver = stack.resolver()
    router = LambdaRouter()
    router.environment.update(running.endpoint_variables())
    layer_ids = [ref.get("Ref") for ref in function.properties.get("Layers", []) if isinstance(ref, dict)]
    router.register(
        physical_name,
        HandlerLocation(
            code_dir=function.code_dir,
            module=function.handler_module,
            function=function.handler_function,
            layer_dirs=tuple(template.layer_dirs[lid] for lid in layer_ids if lid in template.layer_dirs),
        ),
    )
    # What moto's Lambda would hand the router for this function (LambdaFunction's attributes it reads).
    deployed = SimpleNamespace(
        function_name=physical_name,
        function_arn=f"arn:{PARTITION}:lambda:{running.region}:{running.account_id}:function:{physical_name}",
        environment_vars=function_variables(running, template, function),
        memory_size=int(resolver.resolve(function.memory_size)),
        timeout=int(resolver.resolve(function.timeout)),
        region=running.region,
    )
    others = tuple(key for key in os.environ if key.startswith("AWS_ENDPOINT_URL_"))
    with (
        environment_variables({key: os.environ.get(key, value) for key, value in _LOCAL_DEFAULTS.items()}),
        environment_variables({}, unset=(*_CLEARED_VARIABLES, *others)),
        contextlib.redirect_stdout(sys.stderr),  # the handler's log lines; stdout carries the result only
    ):
        payload, errored, _ = router.invoke(deployed, event)
    return json.loads(payload), errored


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mwaa_hibernate_sandbox.invoke",
        description="Run one Lambda handler against the running sandbox and print its result as JSON.",
    )
    parser.add_argument("event", type=Path, help="the event file, e.g. events/preflight.hibernate.json")
    parser.add_argument("--function", help="logical id (PreflightFunction) or handler module (preflight)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change one event field")
    parser.add_argument("--as-is", action="store_true", help="keep the event's environment_name")
    parser.add_argument("--sandbox-file", type=Path, help="what the sandbox published (default: .sandbox/running.json)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result, errored = invoke(
            args.event,
            function_name=args.function,
            sandbox_file=args.sandbox_file,
            overrides=args.set,
            as_is=args.as_is,
        )
    except InvokeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 1 if errored else 0


if __name__ == "__main__":
    raise SystemExit(main())
