"""Answer the Step Functions execution that waits for a hibernation DAG: success, failure, heartbeats.

The task token arrives only as KMS ciphertext in the run's conf. It is decrypted here, in memory, when
the first call needs it, and never returned, logged, stored in XCom or written anywhere. Error messages
carry AWS error codes, never request parameters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mwaa_hibernate_snapshot.runconf import CallbackConf, token_encryption_context

from mwaa_hibernate_runtime.errors import CallbackError, CallbackRejected, TokenUnavailable

log = logging.getLogger(__name__)

# Seconds between heartbeats while a task works. It must stay well below the callback states'
# HeartbeatSeconds (template.yaml's CallbackHeartbeatSeconds, at least 120), so that one lost beat, or
# the scheduler's gap between two steps, does not time the execution out.
HEARTBEAT_SECONDS = 60.0
# SendTaskFailure limits (Step Functions API reference): error 256 characters, cause 32,768.
_MAX_ERROR = 256
_MAX_CAUSE = 32_768
# Step Functions' answers that mean "nobody is waiting for this token any more".
_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


class TaskTokenCallback:
    """The callback of one DAG run. Clients are built lazily in the callback's region unless injected."""

    def __init__(
        self,
        *,
        callback: CallbackConf,
        environment: str,
        kms_client: Any = None,
        sfn_client: Any = None,
        mask_secret: Callable[[str], None] | None = None,
    ) -> None:
        self._conf = callback
        self._environment = environment
        self._kms = kms_client
        self._sfn = sfn_client
        self._mask_secret = mask_secret
        self.__token: str | None = None

    def __repr__(self) -> str:
        return f"TaskTokenCallback(environment={self._environment!r}, region={self._conf.region!r})"

    def _client(self, service: str) -> Any:
        import boto3

        new_client: Any = boto3.client  # the service is known only at run time
        return new_client(service, region_name=self._conf.region)

    def _token(self) -> str:
        if self.__token is None:
            from botocore.exceptions import BotoCoreError, ClientError

            if self._kms is None:
                self._kms = self._client("kms")
            try:
                plaintext = self._kms.decrypt(
                    CiphertextBlob=self._conf.token_ciphertext,
                    EncryptionContext=token_encryption_context(self._environment),
                )["Plaintext"]
            except (ClientError, BotoCoreError) as exc:
                raise TokenUnavailable(
                    f"cannot decrypt the task token with KMS in {self._conf.region} ({_code(exc)}): the environment's "
                    f"execution role needs kms:Decrypt on the stack's key for environment {self._environment!r}"
                ) from None  # the KMS request is not chained into tracebacks
            self.__token = plaintext.decode()
            if self._mask_secret is not None:
                # Airflow's log masker then redacts the token even from botocore's own debug logging.
                self._mask_secret(self.__token)
        return self.__token

    def _send(self, operation: str, **params: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        token = self._token()
        if self._sfn is None:
            self._sfn = self._client("stepfunctions")
        try:
            getattr(self._sfn, operation)(taskToken=token, **params)
        except ClientError as exc:
            code = _code(exc)
            if code in _GONE:
                raise CallbackRejected(
                    f"Step Functions refused {operation} ({code}): the hibernation execution stopped waiting for "
                    "this DAG run (timed out or stopped)"
                ) from None
            raise CallbackError(
                f"{operation} failed ({code}): check the execution role's states:SendTask* rights"
            ) from None
        except BotoCoreError as exc:
            raise CallbackError(f"{operation} could not reach Step Functions ({type(exc).__name__})") from None

    def heartbeat(self) -> None:
        self._send("send_task_heartbeat")

    def succeed(self, output: Mapping[str, Any]) -> None:
        self._send("send_task_success", output=json.dumps(dict(output), sort_keys=True))
        log.info("reported success to the waiting state machine: %s", dict(output))

    def fail(self, *, error: str, cause: str) -> None:
        self._send("send_task_failure", error=error[:_MAX_ERROR], cause=cause[:_MAX_CAUSE])
        log.info("reported failure %s to the waiting state machine: %s", error, cause)

    @contextlib.contextmanager
    def heartbeating(self, interval: float = HEARTBEAT_SECONDS) -> Iterator[None]:
        """Beat once now (a bad token fails the task before it changes anything), then every `interval`."""
        self.heartbeat()
        stop = threading.Event()
        thread = threading.Thread(target=self._beat, args=(stop, interval), name="sfn-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=interval)

    def _beat(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            try:
                self.heartbeat()
            except CallbackRejected as exc:
                # The work goes on and the final callback fails; that failure restores the paused states.
                log.warning("heartbeats stop: %s", exc)
                return
            except CallbackError as exc:
                log.warning("heartbeat not sent, will retry in %.0fs: %s", interval, exc)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
