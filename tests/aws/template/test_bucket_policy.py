"""Who may write, read and delete what in the snapshot bucket (docs/design.md, invariant 9; docs/security.md).

moto does not enforce bucket policies. Each outcome below is decided by `policy_evaluation.decide` over the
transformed template's own documents: the bucket policy, the stack roles' policies and the execution-role policy
the stack attaches, for every parameter variant. The execution role is also tried with a careless extra grant
(s3:* on everything, as some execution roles have): the bucket policy must hold against that too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from policy_evaluation import ALLOW, DENY, Request, decide
from sam_helpers import ENVIRONMENT, Resolved

ACCOUNT = "123456789012"
SNAPSHOT = "20261124T190000Z"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Administrator"
EVERYTHING_IN_S3 = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
# Request contexts (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html):
# PutObject and CompleteMultipartUpload are object creations and carry s3:if-none-match when the request has
# If-None-Match; CreateMultipartUpload and UploadPart are s3:PutObject too, but not object creations.
CREATE_ONCE = {"s3:ObjectCreationOperation": "true", "s3:if-none-match": "*"}
OVERWRITE = {"s3:ObjectCreationOperation": "true"}
UPLOAD_PART = {"s3:ObjectCreationOperation": "false"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _bucket(resolved: Resolved) -> str:
    return resolved.physical[next(iter(resolved.of_type("AWS::S3::Bucket")))].ref


def _bucket_policy(resolved: Resolved) -> list[dict[str, Any]]:
    (policy,) = resolved.of_type("AWS::S3::BucketPolicy").values()
    return _as_list(policy["Properties"]["PolicyDocument"]["Statement"])


def _role_policy(resolved: Resolved, role_id: str) -> list[dict[str, Any]]:
    props = resolved.resources[role_id]["Properties"]
    return [s for p in props.get("Policies", []) for s in _as_list(p["PolicyDocument"]["Statement"])]


def _role_arn(resolved: Resolved, role_id: str) -> str:
    return resolved.physical[role_id].attributes["Arn"]


def _execution_role_policy(resolved: Resolved) -> list[dict[str, Any]]:
    (policy,) = resolved.of_type("AWS::IAM::ManagedPolicy").values()
    return _as_list(policy["Properties"]["PolicyDocument"]["Statement"])


class Bucket:
    def __init__(self, resolved: Resolved) -> None:
        self.resolved = resolved
        self.name = _bucket(resolved)
        self.policy = _bucket_policy(resolved)

    def arn(self, key: str) -> str:
        return f"arn:aws:s3:::{self.name}/{key}"

    def snapshot(self, name: str, snapshot_id: str = SNAPSHOT) -> str:
        return self.arn(f"{ENVIRONMENT}/snapshots/{snapshot_id}/{name}")

    def decide(self, principal: str, identity: list[dict[str, Any]], action: str, resource: str, **context: str) -> str:
        return decide(Request(principal, action, resource, context), identity=identity, bucket_policy=self.policy)

    def stack_role(self, role_id: str) -> tuple[str, list[dict[str, Any]]]:
        return _role_arn(self.resolved, role_id), _role_policy(self.resolved, role_id)


@pytest.fixture
def bucket(resolved: Resolved) -> Bucket:
    return Bucket(resolved)


def _execution_roles(resolved: Resolved) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    role = resolved.parameters.get("ExecutionRoleName")
    if not role:
        return
    arn = f"arn:aws:iam::{ACCOUNT}:role/service-role/{role}"
    yield "its policy", arn, _execution_role_policy(resolved)
    yield "its policy and s3:*", arn, _execution_role_policy(resolved) + EVERYTHING_IN_S3


def test_only_the_stack_writes_what_it_decides_with(bucket: Bucket) -> None:
    """latest.json, state.json and every saved configuration: no administrator, no execution role."""
    decided = [
        bucket.arn(f"{ENVIRONMENT}/latest.json"),
        bucket.arn(f"{ENVIRONMENT}/state.json"),
        bucket.arn(f"{ENVIRONMENT}/lock.json"),
        bucket.snapshot("environment.json"),
    ]
    principals = [("an administrator", ADMIN, EVERYTHING_IN_S3)]
    principals += [
        (f"the execution role with {what}", arn, policy) for what, arn, policy in _execution_roles(bucket.resolved)
    ]
    for who, arn, identity in principals:
        for resource in decided:
            for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"):
                outcome = bucket.decide(arn, identity, action, resource, **CREATE_ONCE)
                assert outcome == DENY, f"[{bucket.resolved.name}] {who} may {action} {resource}: {outcome}"


def test_the_stack_roles_write_what_they_own(bucket: Bucket) -> None:
    owners = {
        "SaveConfigurationFunctionRole": ("s3:PutObject", bucket.snapshot("environment.json")),
        "CommitSnapshotFunctionRole": ("s3:PutObject", bucket.arn(f"{ENVIRONMENT}/latest.json")),
        "RecordStateFunctionRole": ("s3:PutObject", bucket.arn(f"{ENVIRONMENT}/state.json")),
        "PreflightFunctionRole": ("s3:PutObject", bucket.arn(f"{ENVIRONMENT}/lock.json")),
        "PruneSnapshotsFunctionRole": ("s3:DeleteObject", bucket.snapshot("environment.json")),
    }
    for role_id, (action, resource) in owners.items():
        arn, identity = bucket.stack_role(role_id)
        assert bucket.decide(arn, identity, action, resource, **CREATE_ONCE) == ALLOW, (role_id, action, resource)


def test_snapshot_objects_are_created_once_by_everyone(bucket: Bucket) -> None:
    arn, identity = bucket.stack_role("SaveConfigurationFunctionRole")
    assert bucket.decide(arn, identity, "s3:PutObject", bucket.snapshot("environment.json"), **OVERWRITE) == DENY
    for name in ("tables/dag_run.csv.gz", "manifest.json"):
        assert bucket.decide(ADMIN, EVERYTHING_IN_S3, "s3:PutObject", bucket.snapshot(name), **OVERWRITE) == DENY
        assert bucket.decide(ADMIN, EVERYTHING_IN_S3, "s3:PutObject", bucket.snapshot(name), **CREATE_ONCE) == ALLOW


def test_the_execution_role_creates_its_snapshot_data_once_and_nothing_else(bucket: Bucket) -> None:
    data = [bucket.snapshot("tables/dag_run.csv.gz"), bucket.snapshot("manifest.json")]
    data.append(bucket.snapshot("dag_paused_state.json"))
    for what, arn, identity in _execution_roles(bucket.resolved):
        where = f"[{bucket.resolved.name}] the execution role with {what}"
        for resource in data:
            assert bucket.decide(arn, identity, "s3:PutObject", resource, **CREATE_ONCE) == ALLOW, (where, resource)
            assert bucket.decide(arn, identity, "s3:PutObject", resource, **UPLOAD_PART) == ALLOW, (where, resource)
            assert bucket.decide(arn, identity, "s3:PutObject", resource, **OVERWRITE) == DENY, (where, resource)
            assert bucket.decide(arn, identity, "s3:GetObject", resource) == ALLOW, (where, resource)
            for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
                assert bucket.decide(arn, identity, action, resource) == DENY, (where, action, resource)
        configuration = bucket.snapshot("environment.json")
        assert bucket.decide(arn, identity, "s3:GetObject", configuration) != ALLOW, (where, "reads", configuration)
        for elsewhere in (bucket.arn("other-environment/snapshots/x/manifest.json"), bucket.arn("anything")):
            assert bucket.decide(arn, identity, "s3:PutObject", elsewhere, **CREATE_ONCE) != ALLOW, (where, elsewhere)


def test_plain_http_is_refused_to_everyone(bucket: Bucket) -> None:
    arn, identity = bucket.stack_role("CommitSnapshotFunctionRole")
    resource = bucket.arn(f"{ENVIRONMENT}/latest.json")
    assert bucket.decide(arn, identity, "s3:GetObject", resource, **{"aws:SecureTransport": "false"}) == DENY


def test_uploads_with_another_algorithm_or_key_are_refused(bucket: Bucket) -> None:
    key = bucket.resolved.parameters.get("KmsKeyArn") or next(
        iter(bucket.resolved.physical[lid].attributes["Arn"] for lid in bucket.resolved.of_type("AWS::KMS::Key"))
    )
    arn, identity = bucket.stack_role("SaveConfigurationFunctionRole")
    resource = bucket.snapshot("environment.json")
    other = "arn:aws:kms:eu-west-1:123456789012:key/99999999-9999-9999-9999-999999999999"
    headers = {"s3:x-amz-server-side-encryption": "aws:kms"}
    assert bucket.decide(arn, identity, "s3:PutObject", resource, **CREATE_ONCE) == ALLOW  # the bucket's default
    assert bucket.decide(arn, identity, "s3:PutObject", resource, **CREATE_ONCE, **headers) == ALLOW
    ours = {**headers, "s3:x-amz-server-side-encryption-aws-kms-key-id": key}
    assert bucket.decide(arn, identity, "s3:PutObject", resource, **CREATE_ONCE, **ours) == ALLOW
    theirs = {**headers, "s3:x-amz-server-side-encryption-aws-kms-key-id": other}
    assert bucket.decide(arn, identity, "s3:PutObject", resource, **CREATE_ONCE, **theirs) == DENY
    plain = {"s3:x-amz-server-side-encryption": "AES256"}
    assert bucket.decide(arn, identity, "s3:PutObject", resource, **CREATE_ONCE, **plain) == DENY
