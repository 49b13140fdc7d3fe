"""Security properties of the CloudFormation template AWS would run (after the SAM transform).

Checked for every parameter variant in sam_helpers.VARIANTS, with every intrinsic resolved, so a
condition that opens something only for some answers to `sam deploy --guided` is caught too.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from mwaa_hibernate_sandbox.template import SamTemplate
from sam_helpers import Resolved

# Actions that may be granted on Resource "*" because IAM has no resource-level permissions for them
# (Service Authorization Reference, "Resource types" column empty for each).
NO_RESOURCE_LEVEL_ACTIONS = {
    # X-Ray: segments and sampling are not resources (Lambda and state machine tracing).
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # CloudWatch Logs delivery for Step Functions logging: AWS documents these as "*" only.
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # EC2 Describe* calls have no resource-level permissions.
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeNetworkInterfaces",
    # Lambda in a VPC: Lambda creates and deletes the function's network interfaces itself, and checks at
    # CreateFunction that the role may do so on "*" (AWS's AWSLambdaVPCAccessExecutionRole grants them so).
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
}
# Deliberately NOT listed: ec2:AttachNetworkInterface, ec2:CreateNetworkInterfacePermission,
# ec2:CreateVpcEndpoint, ec2:ModifyVpcEndpoint (what CreateEnvironment uses in the environment's VPC). They
# have resource-level permissions (subnet, security-group, vpc, vpc-endpoint ARNs) and can be scoped by
# resource type, as AWS's AmazonMWAAFullConsoleAccess policy does.
KMS_USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt", "kms:GenerateDataKey")
MIN_PYTHON = (3, 13)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_statements(resolved: Resolved) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement of every role and policy in the stack."""
    for logical_id, resource in resolved.resources.items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                    yield f"{logical_id}/{policy['PolicyName']}", statement
        elif resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            for statement in _as_list(props["PolicyDocument"]["Statement"]):
                yield logical_id, statement


def test_no_action_is_granted_on_every_resource_unless_iam_offers_nothing_narrower(resolved: Resolved) -> None:
    offending = []
    for where, statement in iam_statements(resolved):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource", [])):
            continue
        broad = sorted(set(_as_list(statement["Action"])) - NO_RESOURCE_LEVEL_ACTIONS)
        if broad:
            offending.append(f"{where}: {broad}")
    assert not offending, f"[{resolved.name}] Resource '*' for actions that can be scoped:\n" + "\n".join(offending)


def test_no_wildcard_actions(resolved: Resolved) -> None:
    wildcards = [
        f"{where}: {action}"
        for where, statement in iam_statements(resolved)
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement["Action"])
        if action == "*" or action.endswith(":*")
    ]
    assert not wildcards, f"[{resolved.name}] service-wide actions granted: {wildcards}"


def test_pass_role_is_limited_to_mwaa_and_to_the_named_role(resolved: Resolved) -> None:
    grants = []
    for where, statement in iam_statements(resolved):
        if statement.get("Effect") != "Allow" or "iam:PassRole" not in _as_list(statement["Action"]):
            continue
        passed_to = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
        if passed_to == "scheduler.amazonaws.com":
            # The adaptive schedule's one-time schedules run as the stack's own start role, and only it.
            roles = _as_list(statement["Resource"])
            assert all("AdaptiveStartRole" in arn for arn in roles), f"{where}: PassRole to Scheduler on {roles}"
            continue
        grants.append((where, statement))
    if not resolved.parameters.get("ExecutionRoleName"):
        # Invariant 9: without a named role the stack may pass none (it refuses to delete what it cannot recreate).
        assert not grants, f"[{resolved.name}] iam:PassRole granted with no ExecutionRoleName: {grants}"
        return
    assert grants, "CreateEnvironment needs iam:PassRole for the execution role: no statement grants it"
    for where, statement in grants:
        passed_to = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
        assert passed_to == "airflow.amazonaws.com", f"{where}: iam:PassRole without iam:PassedToService"
        if resolved.parameters.get("ExecutionRoleName"):
            role = resolved.parameters["ExecutionRoleName"]
            for arn in _as_list(statement["Resource"]):
                assert arn.endswith(f"/{role}"), f"{where}: PassRole on {arn}, wider than the execution role {role}"


def _single(resolved: Resolved, resource_type: str) -> dict[str, Any]:
    found = resolved.of_type(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def test_bucket_is_versioned_kms_encrypted_private_and_expires_old_versions(resolved: Resolved) -> None:
    bucket = _single(resolved, "AWS::S3::Bucket")
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" for rule in rules)
    key = rules[0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert key == resolved.parameters.get("KmsKeyArn") or ":key/" in key
    block = bucket["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    lifecycle = bucket["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("NoncurrentVersionExpiration") and rule["Status"] == "Enabled" for rule in lifecycle)


def test_bucket_policy_refuses_plain_http_for_the_bucket_and_every_object(resolved: Resolved) -> None:
    bucket_id = next(iter(resolved.of_type("AWS::S3::Bucket")))
    bucket_name = resolved.physical[bucket_id].ref
    policy = _single(resolved, "AWS::S3::BucketPolicy")
    assert policy["Bucket"] == bucket_name
    deny_http = [
        statement
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
        if statement["Effect"] == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert deny_http, "no statement denies requests without TLS"
    statement = deny_http[0]
    assert statement["Principal"] in ("*", {"AWS": "*"})
    assert "s3:*" in _as_list(statement["Action"])
    resources = set(_as_list(statement["Resource"]))
    assert {f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/*"} <= resources


def test_alert_topic_is_encrypted(resolved: Resolved) -> None:
    topic = _single(resolved, "AWS::SNS::Topic")
    assert topic.get("KmsMasterKeyId"), "the alert topic carries environment details: encrypt it"


def _kms_use_statements(key_policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in _as_list(key_policy["Statement"]):
        actions = _as_list(statement["Action"])
        if statement["Effect"] == "Allow" and any(a.startswith(KMS_USE_ACTIONS) or a == "kms:*" for a in actions):
            yield statement


def test_key_can_be_used_only_by_the_stack_and_the_execution_role(resolved: Resolved) -> None:
    """The account may administer the key, but using it (decrypting snapshots and task tokens) is limited."""
    keys = resolved.of_type("AWS::KMS::Key")
    if resolved.parameters.get("KmsKeyArn"):
        assert not keys, "an existing key was given: the stack must not create another"
        return
    assert len(keys) == 1
    policy = next(iter(keys.values()))["Properties"]["KeyPolicy"]
    use = list(_kms_use_statements(policy))
    assert use, "nobody may use the key: the functions could not encrypt or decrypt"
    for statement in use:
        principal = statement["Principal"]
        if isinstance(principal, dict) and "Service" in principal:
            _check_service_use(statement)
            continue
        principals = _as_list(principal.get("AWS") if isinstance(principal, dict) else principal)
        account_wide = any(p == "*" or re.fullmatch(r"arn:aws:iam::\d{12}:root|\d{12}", p) for p in principals)
        if not account_wide:
            continue
        allowed = statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn") or statement.get(
            "Condition", {}
        ).get("ArnEquals", {}).get("aws:PrincipalArn")
        assert allowed, f"{statement.get('Sid')}: every principal of the account may use the key"
        too_wide = [arn for arn in _as_list(allowed) if re.fullmatch(r"arn:aws:iam::\d{12}:(role/\*|\*)", arn)]
        assert not too_wide, (
            f"[{resolved.name}] key policy statement {statement.get('Sid')} lets {too_wide} use the key: any role "
            "of the account, not only the stack's functions and the environment's execution role"
        )


# AWS services that may use the key, and for what: CloudWatch delivers alarm notifications to the encrypted alert
# topic (SNS developer guide, "Managing Amazon SNS encryption keys", compatibility with AWS services).
SERVICE_KEY_USE = {"cloudwatch.amazonaws.com": {"kms:Decrypt", "kms:GenerateDataKey*"}}


def _check_service_use(statement: dict[str, Any]) -> None:
    services = _as_list(statement["Principal"]["Service"])
    for service in services:
        assert service in SERVICE_KEY_USE, f"{statement.get('Sid')}: {service} may use the key, and nothing needs it"
        extra = set(_as_list(statement["Action"])) - SERVICE_KEY_USE[service]
        assert not extra, f"{statement.get('Sid')}: {service} may also {sorted(extra)}"
    source = statement.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount")
    assert source and re.fullmatch(r"\d{12}", str(source)), (
        f"{statement.get('Sid')}: a service may use the key on behalf of any account (no aws:SourceAccount)"
    )


def _python_version(runtime: str) -> tuple[int, int]:
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    assert match, f"{runtime} is not a Python runtime"
    return int(match.group(1)), int(match.group(2))


def test_functions_and_layer_use_a_maintained_python(resolved: Resolved) -> None:
    functions = resolved.of_type("AWS::Lambda::Function")
    assert functions
    for logical_id, function in functions.items():
        assert _python_version(function["Properties"]["Runtime"]) >= MIN_PYTHON, logical_id
    for logical_id, layer in resolved.of_type("AWS::Lambda::LayerVersion").items():
        runtimes = layer["Properties"]["CompatibleRuntimes"]
        assert runtimes and all(_python_version(r) >= MIN_PYTHON for r in runtimes), logical_id


def test_tracing_is_on_and_execution_data_stays_out_of_the_logs(resolved: Resolved) -> None:
    for logical_id, function in resolved.of_type("AWS::Lambda::Function").items():
        assert function["Properties"].get("TracingConfig", {}).get("Mode") == "Active", logical_id
    machines = resolved.of_type("AWS::StepFunctions::StateMachine")
    assert len(machines) == 3
    for logical_id, machine in machines.items():
        props = machine["Properties"]
        assert props.get("TracingConfiguration", {}).get("Enabled") is True, logical_id
        logging = props.get("LoggingConfiguration", {})
        assert logging.get("Level") in ("ALL", "ERROR", "FATAL"), f"{logical_id}: logging off"
        # Execution data holds task tokens: they must not be written to CloudWatch Logs.
        assert logging.get("IncludeExecutionData") is False, logical_id


def test_both_main_state_machines_run_on_schedules_with_a_time_zone(resolved: Resolved) -> None:
    schedules = resolved.of_type("AWS::Scheduler::Schedule")
    machines = resolved.of_type("AWS::StepFunctions::StateMachine")
    names = {machine["Properties"]["StateMachineName"] for machine in machines.values()}
    targets = set()
    for logical_id, schedule in schedules.items():
        props = schedule["Properties"]
        timezone = props.get("ScheduleExpressionTimezone")
        assert timezone, f"{logical_id} has no ScheduleExpressionTimezone: it would run in UTC, not local time"
        zoneinfo.ZoneInfo(timezone)  # an IANA name, or this raises
        assert props["ScheduleExpression"].startswith(("cron(", "rate("))
        targets.add(props["Target"]["Arn"])
    scheduled = {name for name in names if any(target.endswith(f":stateMachine:{name}") for target in targets)}
    assert {name for name in names if name.endswith(("-hibernate", "-wake"))} <= scheduled


@pytest.mark.parametrize("timezone", ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"])
def test_schedule_time_zone_parameter_accepts_iana_names(template: SamTemplate, timezone: str) -> None:
    pattern = template.parameters["ScheduleTimezone"].allowed_pattern
    assert re.fullmatch(pattern, timezone)
    zoneinfo.ZoneInfo(template.parameters["ScheduleTimezone"].default)


def test_the_alert_topic_has_a_policy_refusing_plain_http_and_other_accounts_alarms(resolved: Resolved) -> None:
    (policy,) = resolved.of_type("AWS::SNS::TopicPolicy").values()
    statements = _as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    )
    for statement in statements:
        if statement["Effect"] == "Allow":
            assert statement.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount"), statement


def test_every_log_group_keeps_logs_for_a_limited_time(resolved: Resolved) -> None:
    groups = resolved.of_type("AWS::Logs::LogGroup")
    assert all(group["Properties"].get("RetentionInDays") for group in groups.values()), groups
    names = {resolved.physical[logical_id].ref for logical_id in groups}  # what !Ref of each resolves to
    for logical_id, function in resolved.of_type("AWS::Lambda::Function").items():
        assert function["Properties"].get("LoggingConfig", {}).get("LogGroup") in names, logical_id


def test_what_create_environment_does_on_mwaas_behalf_is_allowed_only_through_an_aws_service(
    resolved: Resolved,
) -> None:
    role = resolved.resources["CreateEnvironmentFunctionRole"]["Properties"]
    for policy in role.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            actions = _as_list(statement["Action"])
            if any(a.startswith(("ec2:", "logs:", "s3:GetEncryptionConfiguration")) for a in actions):
                assert statement.get("Condition", {}).get("Bool", {}).get("aws:ViaAWSService") == "true", actions


def test_the_rest_api_is_called_with_the_least_airflow_role(resolved: Resolved) -> None:
    roles = set()
    for where, statement in iam_statements(resolved):
        if "airflow:InvokeRestApi" in _as_list(statement.get("Action", [])):
            roles |= {arn.rsplit("/", 1)[-1] for arn in _as_list(statement["Resource"])}
            assert not {"Admin", "Op"} & {arn.rsplit("/", 1)[-1] for arn in _as_list(statement["Resource"])}, where
    assert roles == {"User", "Viewer"}
