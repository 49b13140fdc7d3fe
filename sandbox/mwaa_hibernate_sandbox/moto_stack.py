"""Deploy what template.yaml declares into moto, the way CloudFormation would, minus the parts moto lacks.

Works in decorator mode (``mock_aws``) and against a moto server running in this process (pass an
``endpoint_url``): the Lambda functions are registered with ``moto_patches.ROUTER`` so their
invocations run the real handlers from ``src/functions/`` in this process, with the layer on
sys.path and the environment variables the template gives them (resolved to the moto names).

Deployed: S3 buckets, KMS keys and aliases, SNS topics, the Lambda functions, the state machines
(their ASL from ``statemachine/`` with DefinitionSubstitutions resolved) and their schedules (moto
keeps them for GetSchedule; it never fires them). Every other resource (IAM roles and policies, rules,
alarms, log groups, layers) gets a deterministic physical name and ARN so references to it resolve,
but nothing is created: moto would not enforce or fire them. Resources whose Condition is false are
skipped, as in CloudFormation.

The stack itself is then registered in moto's CloudFormation under its name, with its parameters and
its Outputs resolved to the physical ids above, so DescribeStacks finds it as it would in AWS. The
registered template holds a single no-op resource (moto ignores WaitConditionHandle), so nothing is
created twice.
"""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mwaa_hibernate_sandbox.moto_patches import ROUTER, HandlerLocation, LambdaRouter
from mwaa_hibernate_sandbox.template import (
    DEFAULT_ACCOUNT_ID,
    FUNCTION_TYPE,
    LAYER_TYPE,
    PARTITION,
    SCHEDULE_GROUP_TYPE,
    SCHEDULE_TYPE,
    STATE_MACHINE_TYPE,
    Physical,
    Resolver,
    SamTemplate,
    TemplateError,
)

log = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "mwaa-hibernate"
# moto does not check what a role allows; one role stands in for every role the template declares.
SANDBOX_ROLE_NAME = "mwaa-hibernate-sandbox"
_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}
# Lambda and Step Functions name limits (64 and 80 characters); S3 bucket names are at most 63.
_MAX_NAME = {"lambda": 64, "states": 80, "s3": 63, "sns": 256, "scheduler": 64}
# SAM creates its schedules in the default group (the template sets no GroupName).
SCHEDULE_GROUP = "default"
# The registered stack's only resource: moto's CloudFormation creates nothing for it.
_NO_OP_RESOURCE = {"Registered": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

ClientFactory = Callable[[str], Any]


class StackDeployError(TemplateError):
    """The template cannot be deployed into moto as written (say which resource and why)."""


@dataclass(frozen=True)
class DeployedStack:
    """Physical names and ARNs of a stack deployed into moto."""

    stack_name: str
    region: str
    account_id: str
    parameters: Mapping[str, str]
    physical: Mapping[str, Physical]
    functions: Mapping[str, str]  # logical id -> function name
    state_machines: Mapping[str, str]  # logical id -> state machine ARN
    template: SamTemplate = field(repr=False)
    outputs: Mapping[str, str] = field(default_factory=dict)  # what DescribeStacks returns as Outputs

    @property
    def bucket(self) -> str:
        return self.physical[self.template.bucket_id].ref

    @property
    def topic_arn(self) -> str:
        return self.physical[self.template.topic_id].ref

    @property
    def kms_key_arn(self) -> str:
        """The stack's key, or the existing key named by a parameter when the template creates none."""
        key_ids = [lid for lid in self.template.resources_of_type("AWS::KMS::Key") if lid in self.physical]
        if len(key_ids) != 1:
            raise StackDeployError(f"expected one deployed KMS key, found {key_ids}")
        return self.physical[key_ids[0]].attributes["Arn"]

    def state_machine_arn(self, name: str) -> str:
        """By logical id, or by ASL file stem (``hibernate``, ``wake``, ``wait-for-environment``)."""
        if name in self.state_machines:
            return self.state_machines[name]
        for logical_id, machine in self.template.state_machines.items():
            if machine.definition_path.name in (name, f"{name}.asl.json") and logical_id in self.state_machines:
                return self.state_machines[logical_id]
        raise StackDeployError(f"no deployed state machine {name!r}; deployed: {sorted(self.state_machines)}")

    def function_name(self, logical_id: str) -> str:
        return self.functions[logical_id]

    def resolver(self) -> Resolver:
        return self.template.resolver(
            physical=self.physical,
            parameter_values=self.parameters,
            region=self.region,
            account_id=self.account_id,
            stack_name=self.stack_name,
        )


def _boto3_factory(region: str, endpoint_url: str | None) -> ClientFactory:
    import boto3

    def make(service: str) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=endpoint_url)

    return make


def _name(stack_name: str, logical_id: str, limit: int, *, lower: bool = False) -> str:
    name = f"{stack_name}-{logical_id}"
    return (name.lower() if lower else name)[:limit]


class _Attributes(Mapping[str, Any]):
    """Attributes of a resource the sandbox does not create: any attribute resolves to a stable ARN-like value."""

    def __init__(self, arn: str, known: Mapping[str, Any]) -> None:
        self._arn = arn
        self._known = dict(known)

    def __getitem__(self, key: str) -> Any:
        return self._known.get(key, self._arn if key == "Arn" else f"{self._arn}/{key}")

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


class _Deployer:
    def __init__(
        self,
        *,
        template: SamTemplate,
        stack_name: str,
        region: str,
        account_id: str,
        parameters: Mapping[str, str],
        clients: ClientFactory,
        router: LambdaRouter,
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters = parameters
        self.clients = clients
        self.router = router
        self.physical: dict[str, Physical] = {}
        self.resolver = template.resolver(
            physical=self.physical,
            parameter_values=parameters,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
        )

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{self.account_id}:{resource}"

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.template.resources[logical_id].get("Properties", {})

    def name_property(self, logical_id: str, key: str, service: str, *, lower: bool = False) -> str:
        explicit = self.props(logical_id).get(key)
        if explicit is not None:
            return str(self.resolver.resolve(explicit))
        return _name(self.stack_name, logical_id, _MAX_NAME[service], lower=lower)

    def deployed_ids(self) -> list[str]:
        return [lid for lid in self.template.resources if self.resolver.is_deployed(lid)]

    # Keys first: their ids are chosen by moto, and everything else may refer to them.
    def create_keys(self) -> None:
        kms = self.clients("kms")
        for logical_id in self.deployed_ids():
            if self.template.resources[logical_id]["Type"] != "AWS::KMS::Key":
                continue
            description = self.props(logical_id).get("Description", logical_id)
            metadata = kms.create_key(Description=str(description) if isinstance(description, str) else logical_id)
            key = metadata["KeyMetadata"]
            self.physical[logical_id] = Physical(
                ref=key["KeyId"], attributes={"Arn": key["Arn"], "KeyId": key["KeyId"]}
            )

    def schedule_name(self, logical_id: str, properties: Mapping[str, Any]) -> Physical:
        """SAM names a schedule after its logical id unless the event gives a Name."""
        name = str(self.resolver.resolve(properties["Name"])) if "Name" in properties else logical_id
        group = str(self.resolver.resolve(properties["GroupName"])) if "GroupName" in properties else SCHEDULE_GROUP
        arn = self.arn("scheduler", f"schedule/{group}/{name[: _MAX_NAME['scheduler']]}")
        return Physical(ref=name, attributes={"Arn": arn})

    def name_everything_else(self) -> None:
        for logical_id, schedule in self.template.schedules.items():
            if self.resolver.is_deployed(schedule.state_machine_id):
                self.physical[logical_id] = self.schedule_name(logical_id, schedule.properties)
        for logical_id in self.deployed_ids():
            if logical_id in self.physical:
                continue
            kind = self.template.resources[logical_id]["Type"]
            if kind == SCHEDULE_GROUP_TYPE:
                name = self.name_property(logical_id, "Name", "scheduler")
                self.physical[logical_id] = Physical(
                    ref=name, attributes={"Arn": self.arn("scheduler", f"schedule-group/{name}")}
                )
            elif kind == SCHEDULE_TYPE:
                continue  # named below, once the group it refers to has its name
            elif kind == "AWS::S3::Bucket":
                name = self.name_property(logical_id, "BucketName", "s3", lower=True)
                attributes = {
                    "Arn": f"arn:{PARTITION}:s3:::{name}",
                    "DomainName": f"{name}.s3.amazonaws.com",
                    "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
                }
                self.physical[logical_id] = Physical(ref=name, attributes=attributes)
            elif kind == "AWS::SNS::Topic":
                name = self.name_property(logical_id, "TopicName", "sns")
                arn = self.arn("sns", name)
                self.physical[logical_id] = Physical(ref=arn, attributes={"TopicArn": arn, "TopicName": name})
            elif kind in (FUNCTION_TYPE, "AWS::Lambda::Function"):
                name = self.name_property(logical_id, "FunctionName", "lambda")
                arn = self.arn("lambda", f"function:{name}")
                self.physical[logical_id] = Physical(ref=name, attributes={"Arn": arn})
            elif kind in (STATE_MACHINE_TYPE, "AWS::StepFunctions::StateMachine"):
                key = "Name" if kind == STATE_MACHINE_TYPE else "StateMachineName"
                name = self.name_property(logical_id, key, "states")
                arn = self.arn("states", f"stateMachine:{name}")
                self.physical[logical_id] = Physical(ref=arn, attributes={"Name": name, "Arn": arn})
            elif kind == "AWS::KMS::Alias":
                name = str(self.resolver.resolve(self.props(logical_id)["AliasName"]))
                self.physical[logical_id] = Physical(ref=name, attributes={"Arn": self.arn("kms", name)})
            elif kind in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
                name = _name(self.stack_name, logical_id, 64)
                kind_path = "role" if kind == "AWS::IAM::Role" else "policy"
                arn = f"arn:{PARTITION}:iam::{self.account_id}:{kind_path}/{name}"
                ref = arn if kind_path == "policy" else name
                self.physical[logical_id] = Physical(ref=ref, attributes=_Attributes(arn, {"Arn": arn}))
            elif kind == LAYER_TYPE:
                arn = self.arn("lambda", f"layer:{_name(self.stack_name, logical_id, 64)}:1")
                self.physical[logical_id] = Physical(ref=arn, attributes=_Attributes(arn, {}))
            else:
                name = _name(self.stack_name, logical_id, 64)
                service = kind.split("::")[1].lower()
                arn = self.arn(service, name)
                self.physical[logical_id] = Physical(ref=name, attributes=_Attributes(arn, {"Arn": arn}))

    def name_schedules(self) -> None:
        """Schedules declared as resources (not as SAM events): after everything they may refer to."""
        for logical_id in self.deployed_ids():
            if self.template.resources[logical_id]["Type"] == SCHEDULE_TYPE and logical_id not in self.physical:
                self.physical[logical_id] = self.schedule_name(logical_id, self.props(logical_id))

    def role_arn(self) -> str:
        iam = self.clients("iam")
        try:
            return iam.get_role(RoleName=SANDBOX_ROLE_NAME)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return iam.create_role(RoleName=SANDBOX_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY))[
                "Role"
            ]["Arn"]

    def create_resources(self) -> tuple[dict[str, str], dict[str, str]]:
        role_arn = self.role_arn()
        functions: dict[str, str] = {}
        machines: dict[str, str] = {}
        for logical_id in self.deployed_ids():
            kind = self.template.resources[logical_id]["Type"]
            if kind == "AWS::S3::Bucket":
                self.create_bucket(logical_id)
            elif kind == "AWS::SNS::Topic":
                self.clients("sns").create_topic(Name=self.physical[logical_id].attributes["TopicName"])
            elif kind == "AWS::KMS::Alias":
                self.create_alias(logical_id)
            elif kind == FUNCTION_TYPE:
                functions[logical_id] = self.create_function(logical_id, role_arn)
        # State machines last: creating one checks its ASL, and its tasks may call the functions at once.
        for logical_id in self.deployed_ids():
            if self.template.resources[logical_id]["Type"] == STATE_MACHINE_TYPE:
                machines[logical_id] = self.create_state_machine(logical_id, role_arn)
        for logical_id, schedule in self.template.schedules.items():
            if schedule.state_machine_id in machines:
                self.create_schedule(logical_id, machines[schedule.state_machine_id], role_arn)
        self.create_schedule_resources()
        return functions, machines

    def create_schedule_resources(self) -> None:
        """Schedule groups, then the schedules declared as resources (moto keeps them; the sandbox fires them)."""
        scheduler = self.clients("scheduler")
        for logical_id in self.deployed_ids():
            if self.template.resources[logical_id]["Type"] == SCHEDULE_GROUP_TYPE:
                scheduler.create_schedule_group(Name=self.physical[logical_id].ref)
        for logical_id in self.deployed_ids():
            if self.template.resources[logical_id]["Type"] != SCHEDULE_TYPE:
                continue
            props = self.resolver.resolve(self.props(logical_id))
            optional = {
                key: props[key]
                for key in ("Description", "ScheduleExpressionTimezone", "State", "GroupName")
                if key in props
            }
            scheduler.create_schedule(
                Name=self.physical[logical_id].ref,
                ScheduleExpression=props["ScheduleExpression"],
                FlexibleTimeWindow=props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
                Target=props["Target"],
                **optional,
            )

    def create_schedule(self, logical_id: str, target_arn: str, role_arn: str) -> None:
        props = self.resolver.resolve(dict(self.template.schedules[logical_id].properties))
        target = {"Arn": target_arn, "RoleArn": role_arn}
        target.update({key: props[key] for key in ("Input", "RetryPolicy") if key in props})
        optional = {key: props[key] for key in ("Description", "ScheduleExpressionTimezone", "State") if key in props}
        self.clients("scheduler").create_schedule(
            Name=self.physical[logical_id].ref,
            ScheduleExpression=props["ScheduleExpression"],
            FlexibleTimeWindow=props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
            Target=target,
            **optional,
        )

    def outputs(self) -> dict[str, str]:
        """The template's Outputs resolved against the deployed stack (those whose Condition holds)."""
        resolved = {}
        for key, output in self.template.document.get("Outputs", {}).items():
            if "Condition" in output and not self.resolver.condition(output["Condition"]):
                continue
            value = self.resolver.resolve(output["Value"])
            resolved[key] = ",".join(value) if isinstance(value, list) else str(value)
        return resolved

    def register_stack(self, outputs: Mapping[str, str]) -> None:
        """Make DescribeStacks answer with this stack's parameters and outputs, creating nothing."""
        declared = self.template.document.get("Outputs", {})
        body = {
            "Description": self.template.document.get("Description", ""),
            "Parameters": {name: {"Type": "String"} for name in self.parameters},
            "Resources": _NO_OP_RESOURCE,
            "Outputs": {
                key: {"Description": declared[key].get("Description", ""), "Value": value}
                for key, value in outputs.items()
            },
        }
        with warnings.catch_warnings():  # moto warns that it creates nothing for the no-op resource: intended
            warnings.filterwarnings("ignore", message=".*WaitConditionHandle.*", category=UserWarning)
            self.clients("cloudformation").create_stack(
                StackName=self.stack_name,
                TemplateBody=json.dumps(body),
                Parameters=[{"ParameterKey": name, "ParameterValue": value} for name, value in self.parameters.items()],
            )

    def create_bucket(self, logical_id: str) -> None:
        s3 = self.clients("s3")
        name = self.physical[logical_id].ref
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        versioning = self.props(logical_id).get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning.get("Status")})

    def create_alias(self, logical_id: str) -> None:
        props = self.resolver.resolve(self.props(logical_id))
        self.clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])

    def create_function(self, logical_id: str, role_arn: str) -> str:
        spec = self.template.functions[logical_id]
        name = self.physical[logical_id].ref
        variables = {key: str(value) for key, value in self.resolver.resolve(dict(spec.environment)).items()}
        self.clients("lambda").create_function(
            FunctionName=name,
            Runtime=str(self.resolver.resolve(spec.runtime) or "python3.13"),
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _placeholder_zip(spec.handler_module)},
            Timeout=int(self.resolver.resolve(spec.timeout)),
            MemorySize=int(self.resolver.resolve(spec.memory_size)),
            Environment={"Variables": variables},
        )
        layer_ids = [ref.get("Ref") for ref in spec.properties.get("Layers", []) if isinstance(ref, dict)]
        layer_dirs = tuple(self.template.layer_dirs[lid] for lid in layer_ids if lid in self.template.layer_dirs)
        self.router.register(
            name,
            HandlerLocation(
                code_dir=spec.code_dir,
                module=spec.handler_module,
                function=spec.handler_function,
                layer_dirs=layer_dirs,
            ),
        )
        return name

    def definition(self, logical_id: str) -> str:
        machine = self.template.state_machines[logical_id]
        values = {key: self.resolver.resolve(value) for key, value in machine.substitutions.items()}
        text = machine.definition_text()
        missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
        if missing:
            raise StackDeployError(
                f"{machine.definition_path.name} uses ${{...}} placeholders with no DefinitionSubstitutions entry "
                f"in {logical_id}: {missing}"
            )
        return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)

    def create_state_machine(self, logical_id: str, role_arn: str) -> str:
        name = self.physical[logical_id].attributes["Name"]
        definition = self.definition(logical_id)
        try:
            json.loads(definition)
        except json.JSONDecodeError as exc:
            raise StackDeployError(f"{logical_id}: the ASL is not valid JSON after substitution: {exc}") from exc
        return self.clients("stepfunctions").create_state_machine(name=name, definition=definition, roleArn=role_arn)[
            "stateMachineArn"
        ]


def _placeholder_zip(module: str) -> bytes:
    """moto wants a zip for the code; the real code runs in-process from the source tree instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}.py", "# runs in-process from the source tree, see moto_patches.LambdaRouter\n")
    return buffer.getvalue()


# The key id "deployed" by nominal_physical (a real one is chosen by KMS).
NOMINAL_KEY_ID = "00000000-0000-4000-8000-000000000000"


def _no_clients(service: str) -> Any:
    raise StackDeployError(f"nominal_physical creates nothing, yet something asked for a {service} client")


def nominal_physical(
    *,
    template: SamTemplate,
    parameter_overrides: Mapping[str, Any] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Physical]:
    """The physical names and ARNs deploy_stack would give, without creating anything.

    Lets tests resolve every intrinsic of a template (also the transformed one) to concrete strings.
    """
    deployer = _Deployer(
        template=template,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=template.parameter_values(parameter_overrides),
        clients=_no_clients,
        router=LambdaRouter(),
    )
    for logical_id in deployer.deployed_ids():
        if template.resources[logical_id]["Type"] == "AWS::KMS::Key":
            arn = deployer.arn("kms", f"key/{NOMINAL_KEY_ID}")
            deployer.physical[logical_id] = Physical(
                ref=NOMINAL_KEY_ID, attributes={"Arn": arn, "KeyId": NOMINAL_KEY_ID}
            )
    deployer.name_everything_else()
    deployer.name_schedules()
    return deployer.physical


def deploy_stack(
    *,
    template: SamTemplate | None = None,
    parameter_overrides: Mapping[str, Any] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str,
    account_id: str = DEFAULT_ACCOUNT_ID,
    endpoint_url: str | None = None,
    clients: ClientFactory | None = None,
    router: LambdaRouter = ROUTER,
) -> DeployedStack:
    """Create the template's resources in moto and return their physical names.

    moto must already be active (``mock_aws`` with ``{"stepfunctions": {"execute_state_machine": True}}``,
    or a server in this process configured the same way), and ``moto_patches.patched_moto()`` entered
    before any execution starts so the state machines can call the handlers. For a server, pass its
    ``endpoint_url`` (the handlers then call it too) and set ``MOTO_PORT`` to its port before starting it:
    moto's interpreter calls ``localhost:$MOTO_PORT`` for the state machines' service integrations.
    """
    template = template or SamTemplate.load()
    if endpoint_url:
        router.environment["AWS_ENDPOINT_URL"] = endpoint_url
    deployer = _Deployer(
        template=template,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=template.parameter_values(parameter_overrides),
        clients=clients or _boto3_factory(region, endpoint_url),
        router=router,
    )
    deployer.create_keys()
    deployer.name_everything_else()
    deployer.name_schedules()
    functions, machines = deployer.create_resources()
    outputs = deployer.outputs()
    deployer.register_stack(outputs)
    log.info("deployed %s into moto: %d functions, %d state machines", stack_name, len(functions), len(machines))
    return DeployedStack(
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameters=deployer.parameters,
        physical=dict(deployer.physical),
        functions=functions,
        state_machines=machines,
        template=template,
        outputs=outputs,
    )
