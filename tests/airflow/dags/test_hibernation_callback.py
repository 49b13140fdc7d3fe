"""The task-token callback against Step Functions executions that really wait (moto's ASL interpreter)."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

import pytest
from mwaa_hibernate_runtime.callback import TaskTokenCallback
from mwaa_hibernate_runtime.errors import CallbackRejected, TokenUnavailable
from mwaa_hibernate_snapshot.runconf import CallbackConf, token_encryption_context

from .hibernation_support import wait_for_execution

ENVIRONMENT = "analytics-prod"


@pytest.fixture(scope="module")
def aws(moto):
    kms, sqs, sfn = moto.client("kms"), moto.client("sqs"), moto.client("stepfunctions")
    key = kms.create_key(Description="stack key")["KeyMetadata"]["Arn"]
    queue = sqs.create_queue(QueueName=f"tokens-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def machine(heartbeat_seconds: int, timeout_seconds: int) -> str:
        definition = {
            "StartAt": "Wait for the DAG",
            "States": {
                "Wait for the DAG": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                    "HeartbeatSeconds": heartbeat_seconds,
                    "TimeoutSeconds": timeout_seconds,
                    "End": True,
                }
            },
        }
        return sfn.create_state_machine(
            name=f"callback-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]

    return {"kms": kms, "sqs": sqs, "sfn": sfn, "key": key, "queue": queue, "machine": machine}


def _start_waiting(aws, *, heartbeat_seconds: int = 60, timeout_seconds: int = 120) -> tuple[str, str]:
    """Start an execution; return its ARN and the task token it sent to the queue."""
    arn = aws["sfn"].start_execution(
        stateMachineArn=aws["machine"](heartbeat_seconds, timeout_seconds), name=uuid.uuid4().hex, input="{}"
    )["executionArn"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], WaitTimeSeconds=1).get("Messages", [])
        if messages:
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=messages[0]["ReceiptHandle"])
            return arn, json.loads(messages[0]["Body"])["token"]
    raise TimeoutError("the execution never sent its task token")


def _callback(aws, token: str, *, environment: str = ENVIRONMENT, masked: list | None = None) -> TaskTokenCallback:
    ciphertext = aws["kms"].encrypt(
        KeyId=aws["key"], Plaintext=token.encode(), EncryptionContext=token_encryption_context(ENVIRONMENT)
    )["CiphertextBlob"]
    conf = CallbackConf.parse({"token_ciphertext": base64.b64encode(ciphertext).decode(), "region": "eu-west-1"})
    return TaskTokenCallback(
        callback=conf,
        environment=environment,
        kms_client=aws["kms"],
        sfn_client=aws["sfn"],
        mask_secret=masked.append if masked is not None else None,
    )


def test_success_decrypts_the_token_and_completes_the_waiting_execution(aws, caplog):
    arn, token = _start_waiting(aws)
    masked: list[str] = []
    summary = {"snapshot_id": "20261124T190000Z", "tables": 31, "rows": 1200, "bytes": 4096, "seconds": 2.5}

    with caplog.at_level(logging.DEBUG, logger="mwaa_hibernate_runtime"):
        _callback(aws, token, masked=masked).succeed(summary)

    execution = wait_for_execution(aws["sfn"], arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == summary
    assert masked == [token], "the token is registered with Airflow's log masker before it is used"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("mwaa_hibernate_runtime")]
    assert ours and not any(token in message for message in ours)


def test_failure_sends_the_error_name_the_state_machine_catches(aws):
    arn, token = _start_waiting(aws)

    _callback(aws, token).fail(error="DrainTimeout", cause="2 task instance(s) were still running")

    execution = wait_for_execution(aws["sfn"], arn)
    assert (execution["status"], execution.get("error")) == ("FAILED", "DrainTimeout")


def test_heartbeats_keep_an_execution_alive_past_its_heartbeat_timeout(aws):
    arn, token = _start_waiting(aws, heartbeat_seconds=1)
    callback = _callback(aws, token)

    with callback.heartbeating(interval=0.2):
        time.sleep(2.5)  # the work being done: 2.5 heartbeat periods of the state machine
        assert aws["sfn"].describe_execution(executionArn=arn)["status"] == "RUNNING"
    callback.succeed({"ok": True})

    assert wait_for_execution(aws["sfn"], arn)["status"] == "SUCCEEDED"


def test_without_heartbeats_the_same_execution_times_out(aws):
    """The control for the test above: moto really enforces HeartbeatSeconds."""
    arn, token = _start_waiting(aws, heartbeat_seconds=1)

    execution = wait_for_execution(aws["sfn"], arn)

    assert (execution["status"], execution.get("error")) == ("FAILED", "States.Timeout")
    with pytest.raises(CallbackRejected, match="stopped waiting"):
        _callback(aws, token).succeed({"too": "late"})


def test_a_token_encrypted_for_another_environment_is_refused_without_showing_it(aws):
    arn, token = _start_waiting(aws)

    with pytest.raises(TokenUnavailable, match="kms:Decrypt") as caught:
        _callback(aws, token, environment="someone-else").heartbeat()

    assert token not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    aws["sfn"].stop_execution(executionArn=arn)


def test_the_callback_never_shows_its_token_in_repr(aws):
    _, token = _start_waiting(aws)
    callback = _callback(aws, token)
    callback.heartbeat()

    assert token not in repr(callback) and token not in str(callback)
    callback.succeed({})
