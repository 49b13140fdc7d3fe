"""Test-only fixes for moto 5.2.5's Step Functions interpreter, and an in-process Lambda runtime.

moto ships LocalStack's ASL interpreter with a few pieces stubbed out. Without these fixes the real
state machines of this project cannot run in moto:

- ``StateTaskService._normalise_parameters`` / ``_normalise_response`` are no-ops, so PascalCase ASL
  parameters reach botocore unconverted (``states:startExecution`` fails with ``KeyError
  'StateMachineArn'``), a JSON object as an S3 ``Body`` fails, and any aws-sdk result holding a
  timestamp (GetEnvironment's ``CreatedAt``) makes DescribeExecution crash on ``datetime``.
  We normalise through the botocore service model, and turn timestamps into epoch milliseconds.
- Executions started without a name get the ARN ``...:execution:<machine>:None``; the second one
  collides. We name them with a UUID, as AWS does.
- Wait states really sleep. A test clock makes them return at once (``fast_wait``).
- aws-sdk error names come out as ``mwaa.ResourceNotFoundException``; AWS documents the
  ``ServiceName.ErrorName`` form in PascalCase (``Mwaa.``, ``S3.``), which is what the ASL matches.
- JSONata is wired to a stubbed JVM bridge; we evaluate it with the pure-Python ``jsonata-python``.
- A ``.waitForTaskToken`` task with ``HeartbeatSeconds`` loses a callback that arrives before the wait
  begins (the task's Lambda returns after the DAG already answered): moto only looks at the outcome
  after a heartbeat wakes it, so the task times out although it succeeded. We check the outcome first
  and keep checking while waiting for heartbeats.
- Speed: moto parses the ASL with the pure-Python ANTLR runtime when a state machine is created and again
  at every execution start (about a second for a 30-state machine on a busy 2-core machine). We cache
  the parse tree per definition text; the evaluation components are still built fresh per execution.

moto's Lambda runs functions in Docker, which is not available here. ``LambdaRouter`` replaces
``LambdaFunction._invoke_lambda`` so an invocation (direct, or from a state machine) imports the real
handler module and calls it in this process, with the function's environment variables applied.
Everything else about moto's Lambda (create_function, ARNs, the invoke API) stays real.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session
from botocore import xform_name
from botocore.model import OperationModel

log = logging.getLogger(__name__)

# The Step Functions error prefixes for aws-sdk integrations, as AWS documents them
# ("ServiceName.ErrorName", e.g. S3.NoSuchKeyException; MWAA's is listed as "Mwaa" in the
# supported-services table). moto only knows dynamodb and sfn and falls back to the lower-case name.
AWS_SDK_ERROR_PREFIXES: dict[str, str] = {"mwaa": "Mwaa", "s3": "S3", "sns": "Sns", "kms": "Kms", "lambda": "Lambda"}


class MotoPatchError(RuntimeError):
    """A patch cannot be applied, or an in-process Lambda cannot run."""


class HandlerNotRegistered(MotoPatchError):
    """moto invoked a function that no handler was registered for (deploy it with moto_stack first)."""


# --- Step Functions: parameter and response normalisation -----------------------------------------


@cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _operation_model(service: str, action: str) -> OperationModel | None:
    """The botocore operation for an ASL action name (``getEnvironment`` / ``get_environment``)."""
    try:
        service_model = _botocore_session().get_service_model(service)
    except Exception:  # an unknown service: leave the parameters alone, as moto would
        return None
    wanted = xform_name(action)
    for name in service_model.operation_names:
        if xform_name(name) == wanted:
            return service_model.operation_model(name)
    return None


def _timestamps_to_epoch_millis(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _timestamps_to_epoch_millis(item)
        return value
    if isinstance(value, list):
        return [_timestamps_to_epoch_millis(item) for item in value]
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None) -> None:
    operation = _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation is not None and operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(self, response, boto_service_name=None, service_action_name=None) -> None:
    operation = _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
    )
    if operation is not None and operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)
    _timestamps_to_epoch_millis(response)


def _make_blob_aware(original: Callable[..., Any]) -> Callable[..., Any]:
    """A string for a blob member is sent as its UTF-8 bytes (moto would JSON-quote it first)."""

    def to_boto_request_value(self, request_value, value_shape):
        if value_shape.type_name == "blob" and isinstance(request_value, str):
            return request_value.encode("utf-8")
        return original(self, request_value, value_shape)

    return to_boto_request_value


def _make_named_start(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    return start_execution


def _evaluate_jsonata(expression: str) -> Any:
    import jsonata
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    try:
        return jsonata.Jsonata(expression).evaluate(None)
    except Exception as exc:
        raise moto_jsonata.JSONataException("UNKNOWN", str(exc)) from exc


# How often a callback task waiting for heartbeats looks for an outcome that arrived meanwhile.
_CALLBACK_POLL_SECONDS = 0.05


def _wait_for_task_token_heartbeat(self, env, callback_endpoint, heartbeat_endpoint):
    """Like moto's, but an outcome that is already there (or arrives between heartbeats) is never missed."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimedOut

    beat = heartbeat_endpoint._next_heartbeat_event
    deadline = time.monotonic() + heartbeat_endpoint._heartbeat_seconds
    while env.is_running():
        outcome = callback_endpoint.get_outcome()
        if outcome is not None:
            return outcome
        if beat.wait(timeout=_CALLBACK_POLL_SECONDS):
            beat.clear()
            deadline = time.monotonic() + heartbeat_endpoint._heartbeat_seconds
        elif time.monotonic() >= deadline:
            return HeartbeatTimedOut()
    return None


_PARSE_TREES: dict[str, Any] = {}
_PARSE_LOCK = threading.Lock()


def _make_cached_parse(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    def parse(definition: str) -> tuple[Any, Any]:
        with _PARSE_LOCK:
            tree = _PARSE_TREES.get(definition)
        if tree is None:
            program, tree = original(definition)  # raises ASLParserException for a bad definition, uncached
            with _PARSE_LOCK:
                _PARSE_TREES[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    return staticmethod(parse)


@contextlib.contextmanager
def patched_step_functions(*, fast_wait: bool = True) -> Iterator[None]:
    """Apply the interpreter fixes for the duration of the block (a test, or a sandbox's lifetime)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    with contextlib.ExitStack() as stack:
        patch = stack.enter_context
        patch(mock.patch.object(StateTaskService, "_normalise_parameters", _normalise_parameters))
        patch(mock.patch.object(StateTaskService, "_normalise_response", _normalise_response))
        patch(
            mock.patch.object(
                StateTaskService,
                "_to_boto_request_value",
                _make_blob_aware(StateTaskService._to_boto_request_value),
            )
        )
        patch(
            mock.patch.object(
                StepFunctionsParserBackend,
                "start_execution",
                _make_named_start(StepFunctionsParserBackend.start_execution),
            )
        )
        patch(
            mock.patch.object(
                StateTaskServiceCallback, "_wait_for_task_token_heartbeat", _wait_for_task_token_heartbeat
            )
        )
        patch(mock.patch.dict(aws_sdk._SERVICE_ERROR_NAMES, AWS_SDK_ERROR_PREFIXES))
        patch(mock.patch.object(moto_jsonata, "_eval_jsonata", _evaluate_jsonata))
        patch(
            mock.patch.object(AmazonStateLanguageParser, "parse", _make_cached_parse(AmazonStateLanguageParser.parse))
        )
        if fast_wait:
            patch(mock.patch.object(WaitFunction, "_wait_interval", lambda self, env, wait_seconds: None))
        yield


# --- Lambda: run the real handlers in this process ------------------------------------------------


@dataclass(frozen=True)
class HandlerLocation:
    """Where a function's code lives: Lambda puts ``code_dir`` and the layers on sys.path, then
    imports ``module`` and calls ``function``."""

    code_dir: Path
    module: str
    function: str
    layer_dirs: tuple[Path, ...] = ()


@dataclass
class _LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_stream_name: str = "in-process"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


class LambdaRouter:
    """Route moto Lambda invocations to in-process handlers, by function name.

    Invocations are serialised with one lock: handlers run with their function's environment
    variables set in ``os.environ``, which is process-wide. Handlers are short (the long waits are
    Step Functions callbacks, not Lambda calls), so this costs nothing in practice.
    """

    def __init__(self) -> None:
        # Variables every invocation gets on top of its function's own, e.g. AWS_ENDPOINT_URL for a moto
        # server: the handlers run in this process, and only a mock_aws context intercepts their calls.
        self.environment: dict[str, str] = {}
        self._locations: dict[str, HandlerLocation] = {}
        self._lock = threading.RLock()
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        # What each invocation wrote to stdout, which Lambda sends to the function's log: (function name, text).
        # The functions' embedded-metric-format records are read from here.
        self.logs: list[tuple[str, str]] = []

    def register(self, function_name: str, location: HandlerLocation) -> None:
        self._locations[function_name] = location

    def clear(self) -> None:
        """Forget every route, recorded call and extra variable (a later stack may point elsewhere)."""
        self._locations.clear()
        self.invocations.clear()
        self.logs.clear()
        self.environment.clear()

    def invocations_of(self, function_name: str) -> list[dict[str, Any]]:
        return [event for name, event in self.invocations if name == function_name]

    def metric_records(self) -> list[tuple[str, dict[str, Any]]]:
        """(function name, record) for every embedded-metric-format record the functions logged, in order."""
        records = []
        for name, text in self.logs:
            for line in text.splitlines():
                if line.startswith("{") and '"_aws"' in line:
                    records.append((name, json.loads(line)))
        return records

    def _handler(self, location: HandlerLocation) -> Callable[[Any, Any], Any]:
        for path in (*location.layer_dirs, location.code_dir):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        module = importlib.import_module(location.module)
        return getattr(module, location.function)

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        """Replacement for ``LambdaFunction._invoke_lambda``: (payload, errored, log tail)."""
        location = self._locations.get(function.function_name)
        if location is None:
            raise HandlerNotRegistered(
                f"no in-process handler for Lambda function {function.function_name!r}: deploy it with "
                "moto_stack.deploy_stack() (or LambdaRouter.register) before invoking it"
            )
        event = {} if event is None else event
        variables = {
            **self.environment,
            **{key: str(value) for key, value in (function.environment_vars or {}).items()},
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_REGION": function.region,
        }
        context = _LambdaContext(
            function_name=function.function_name,
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            timeout_seconds=int(function.timeout),
        )
        with self._lock, environment_variables(variables), self._function_log(function.function_name):
            self.invocations.append((function.function_name, event))
            try:
                result = self._handler(location)(event, context)
                return json.dumps(result), False, "in-process invocation succeeded"
            except Exception as exc:  # the Lambda runtime turns any exception into this payload
                log.info("in-process Lambda %s raised %s: %s", function.function_name, type(exc).__name__, exc)
                payload = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
                return json.dumps(payload), True, "in-process invocation failed"

    @contextlib.contextmanager
    def _function_log(self, function_name: str) -> Iterator[None]:
        """Keep what the handler prints (as Lambda would in its log) and still show it on this process's stdout."""
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                yield
        finally:
            self.logs.append((function_name, captured.getvalue()))
            sys.stdout.write(captured.getvalue())

    @contextlib.contextmanager
    def installed(self) -> Iterator[LambdaRouter]:
        from moto.awslambda.models import LambdaFunction

        router = self

        def invoke_lambda(function, event=None):
            return router.invoke(function, event)

        with mock.patch.object(LambdaFunction, "_invoke_lambda", invoke_lambda):
            yield self


@contextlib.contextmanager
def environment_variables(variables: Mapping[str, str], *, unset: Iterable[str] = ()) -> Iterator[None]:
    """Set `variables` (and remove `unset`) in os.environ; put back exactly what was there, only for those keys."""
    unset = tuple(unset)
    saved = {key: os.environ.get(key) for key in (*variables, *unset)}
    for key in unset:
        os.environ.pop(key, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# The one router of this process: moto's server threads and the test thread share it.
ROUTER = LambdaRouter()


@contextlib.contextmanager
def patched_moto(*, fast_wait: bool = True) -> Iterator[LambdaRouter]:
    """Everything the project needs from moto: the Step Functions fixes and the in-process Lambdas."""
    with patched_step_functions(fast_wait=fast_wait), ROUTER.installed() as router:
        yield router
