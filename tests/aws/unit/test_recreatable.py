"""Invariant 8: never delete an environment that cannot be recreated.

The check builds the wake's CreateEnvironment request from the saved configuration (as the create function does)
and asks IAM, EC2 and S3 (moto) whether what it names still exists, and the dated table whether MWAA still
creates environments on its Airflow version.
"""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from mwaa_hibernate import airflow_support, snapshots
from mwaa_hibernate.environment.recreatable import check_recreatable
from mwaa_hibernate.exceptions import EnvironmentCannotBeRecreated

from .conftest import ENVIRONMENT, REGION, SNAPSHOT_ID, saved_environment

ROLE = "AmazonMWAA-my-mwaa-environment-x1y2z3"
SOURCE = "airflow-my-source-bucket"
TODAY = date(2026, 12, 5)


def _world(aws: SimpleNamespace, **changes: Any) -> dict[str, Any]:
    """The environment's role, network and source bucket in moto, and its configuration saved by the stack."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=ROLE, Path="/service-role/", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName="mwaa", Description="mwaa", VpcId=vpc)["GroupId"]
    aws.s3.create_bucket(Bucket=SOURCE, CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
    version = aws.s3.put_object(Bucket=SOURCE, Key="requirements.txt", Body=b"pandas\n")["VersionId"]
    config = saved_environment(
        ExecutionRoleArn=f"arn:aws:iam::123456789012:role/service-role/{ROLE}",
        SourceBucketArn=f"arn:aws:s3:::{SOURCE}",
        RequirementsS3ObjectVersion=version,
        NetworkConfiguration={"SubnetIds": subnets, "SecurityGroupIds": [group]},
    )
    config.update(changes)
    aws.mwaa.environments[ENVIRONMENT] = config
    saved = snapshots.save_configuration(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    return {"sha256": saved["sha256"], "subnets": subnets, "group": group, "version": version, "vpc": vpc}


def check(aws: SimpleNamespace, sha256: str, *, overrides: str = "", role: str = ROLE, today: date = TODAY):
    return check_recreatable(
        environment=ENVIRONMENT,
        snapshot_id=SNAPSHOT_ID,
        bucket=aws.bucket,
        configuration_sha256=sha256,
        overrides=overrides,
        execution_role_name=role,
        today=today,
    )


def test_an_environment_whose_request_names_only_what_exists_may_be_deleted(aws) -> None:
    world = _world(aws)

    assert check(aws, world["sha256"]) == {"recreatable": True, "warnings": [], "airflow_version": "2.10.3"}


def test_every_missing_piece_is_named(aws) -> None:
    world = _world(aws)
    boto3.client("iam", region_name=REGION).delete_role(RoleName=ROLE)
    aws.s3.delete_object(Bucket=SOURCE, Key="requirements.txt", VersionId=world["version"])
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.delete_security_group(GroupId=world["group"])
    ec2.delete_subnet(SubnetId=world["subnets"][1])

    with pytest.raises(EnvironmentCannotBeRecreated) as refused:
        check(aws, world["sha256"])

    message = str(refused.value)
    assert f"role/service-role/{ROLE} does not exist" in message
    assert "subnet" in message and "security group" in message
    assert f"s3://{SOURCE}/requirements.txt version {world['version']}" in message
    assert "kept (nothing was paused or deleted)" in message


def test_subnets_in_one_availability_zone_are_refused(aws) -> None:
    world = _world(aws)
    ec2 = boto3.client("ec2", region_name=REGION)
    same_zone = ec2.create_subnet(VpcId=world["vpc"], CidrBlock="10.0.9.0/24", AvailabilityZone=f"{REGION}a")
    network = {
        "SubnetIds": [world["subnets"][0], same_zone["Subnet"]["SubnetId"]],
        "SecurityGroupIds": [world["group"]],
    }

    with pytest.raises(EnvironmentCannotBeRecreated, match="not in different Availability Zones"):
        check(aws, world["sha256"], overrides=json.dumps({"NetworkConfiguration": network}))


def test_a_missing_source_bucket_is_refused(aws) -> None:
    world = _world(aws, SourceBucketArn="arn:aws:s3:::airflow-deleted-bucket")

    with pytest.raises(EnvironmentCannotBeRecreated, match="source bucket airflow-deleted-bucket does not exist"):
        check(aws, world["sha256"])


def test_a_role_the_stack_may_not_pass_is_refused(aws) -> None:
    world = _world(aws)

    with pytest.raises(EnvironmentCannotBeRecreated, match="ExecutionRoleName parameter is empty"):
        check(aws, world["sha256"], role="")


def test_a_configuration_rewritten_since_it_was_saved_is_refused(aws) -> None:
    world = _world(aws)
    aws.s3.put_object(
        Bucket=aws.bucket,
        Key=f"{ENVIRONMENT}/snapshots/{SNAPSHOT_ID}/environment.json",
        Body=json.dumps(saved_environment(WebserverAccessMode="PUBLIC_ONLY")).encode(),
    )

    with pytest.raises(EnvironmentCannotBeRecreated, match="not the one this stack saved"):
        check(aws, world["sha256"])


@pytest.mark.parametrize(
    ("today", "outcome"),
    [(date(2025, 9, 1), "fine"), (date(2025, 11, 1), "warns"), (date(2025, 12, 30), "refused"), (TODAY, "refused")],
)
def test_an_airflow_version_past_its_end_of_support_is_refused_and_warned_about_before(aws, today, outcome) -> None:
    world = _world(aws, AirflowVersion="2.6.3")
    if outcome == "refused":
        with pytest.raises(EnvironmentCannotBeRecreated, match=r"2\.6\.3 reached its end of support on 2025-12-30"):
            check(aws, world["sha256"], today=today)
        return
    warnings = check(aws, world["sha256"], today=today)["warnings"]
    assert bool(warnings) == (outcome == "warns")
    if warnings:
        assert "2025-12-30" in warnings[0] and airflow_support.VERSIONS_PAGE in warnings[0]


def test_every_end_of_support_entry_cites_a_public_source() -> None:
    for version, (_, source) in airflow_support.END_OF_SUPPORT.items():
        assert source.startswith("https://docs.aws.amazon.com/mwaa/"), version
