"""Read `template.yaml`: the one source of truth for what the application deploys.

Tests and the sandbox ask this module which parameters, functions, state machines, bucket, key and
topic exist, and resolve the template's intrinsic functions (Ref, GetAtt, Sub, If, ...) against the
physical names of wherever the stack was "deployed" (moto). Nothing here names a resource of the
application: everything is read from the template.

Two views are offered: the SAM template as written (Globals merged into each function), which is
what the sandbox deploys, and the CloudFormation template AWS would run (``transformed()``, by
aws-sam-translator), which is what the security tests inspect.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

TEMPLATE_FILE = "template.yaml"
# The account and partition moto uses (moto.core.DEFAULT_ACCOUNT_ID); the region is the caller's.
DEFAULT_ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
FUNCTION_TYPE = "AWS::Serverless::Function"
STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
SCHEDULE_EVENT_TYPE = "ScheduleV2"
SCHEDULE_TYPE = "AWS::Scheduler::Schedule"
SCHEDULE_GROUP_TYPE = "AWS::Scheduler::ScheduleGroup"
# SAM's defaults for a function that sets neither (AWS::Serverless::Function reference).
SAM_DEFAULT_MEMORY_MB = 128
SAM_DEFAULT_TIMEOUT_SECONDS = 3


class TemplateError(RuntimeError):
    """template.yaml cannot be read or does not say what the caller asked for."""


class TemplateNotFound(TemplateError):
    """No template.yaml: run from the project checkout, or set MWAA_HIBERNATE_ROOT to it."""


class AmbiguousResource(TemplateError):
    """The template holds several resources of a type the caller expected once: ask by logical id."""


class UnresolvableIntrinsic(TemplateError):
    """An intrinsic function refers to something the resolver was not given (a resource not deployed?)."""


class _NoValue:
    """AWS::NoValue: the property it stands for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def project_root() -> Path:
    """The checkout holding template.yaml: $MWAA_HIBERNATE_ROOT, else the tree this module lives in,
    else the working directory or one of its parents."""
    if env_root := os.environ.get("MWAA_HIBERNATE_ROOT"):
        return Path(env_root)
    candidates = [Path(__file__).resolve().parents[2], *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for candidate in candidates:
        if (candidate / TEMPLATE_FILE).is_file():
            return candidate
    raise TemplateNotFound(f"{TEMPLATE_FILE} not found: run from the project checkout or set MWAA_HIBERNATE_ROOT")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str | None
    description: str
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None


@dataclass(frozen=True)
class Function:
    """An AWS::Serverless::Function with Globals merged; intrinsic values are left unresolved."""

    logical_id: str
    code_dir: Path
    handler: str
    runtime: str | None
    memory_size: Any
    timeout: Any
    environment: Mapping[str, Any]
    properties: Mapping[str, Any] = field(repr=False)

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class StateMachine:
    """An AWS::Serverless::StateMachine whose ASL lives in a file (DefinitionUri)."""

    logical_id: str
    definition_path: Path
    substitutions: Mapping[str, Any]
    properties: Mapping[str, Any] = field(repr=False)

    def definition_text(self) -> str:
        return self.definition_path.read_text()

    def definition(self) -> dict[str, Any]:
        """The ASL as written, placeholders ``${Name}`` kept."""
        return json.loads(self.definition_text())


@dataclass(frozen=True)
class Schedule:
    """A ScheduleV2 event of a state machine: SAM turns it into an AWS::Scheduler::Schedule named below."""

    logical_id: str  # SAM's generated logical id: the state machine's, then the event's
    state_machine_id: str
    properties: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Physical:
    """What a deployed resource answers to ``Ref`` and ``Fn::GetAtt``."""

    ref: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


def _plain(node: Any) -> Any:
    """cfn-lint's YAML nodes as plain dicts, lists and strings."""
    return json.loads(json.dumps(node, default=str))


def _merge_globals(global_properties: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules, as far as functions need them: maps merge (resource wins), the rest is replaced."""
    merged = copy.deepcopy(dict(global_properties))
    for key, value in properties.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_globals(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class SamTemplate:
    """A parsed template.yaml. Use ``SamTemplate.load()``."""

    def __init__(self, document: dict[str, Any], *, path: Path) -> None:
        self.document = document
        self.path = path
        self.root = path.parent

    @classmethod
    def load(cls, path: Path | str | None = None) -> SamTemplate:
        from cfnlint.decode import cfn_yaml  # ships a YAML loader that understands !Ref, !Sub, ...

        path = Path(path) if path else project_root() / TEMPLATE_FILE
        if not path.is_file():
            raise TemplateNotFound(f"{path} does not exist")
        return cls(_plain(cfn_yaml.loads(path.read_text(), str(path))), path=path)

    # --- the template as written --------------------------------------------------------------

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.document.get("Resources", {})

    @property
    def conditions(self) -> dict[str, Any]:
        return self.document.get("Conditions", {})

    @cached_property
    def parameters(self) -> dict[str, Parameter]:
        return {
            name: Parameter(
                name=name,
                type=spec.get("Type", "String"),
                default=None if "Default" not in spec else str(spec["Default"]),
                description=spec.get("Description", ""),
                allowed_values=tuple(str(value) for value in spec.get("AllowedValues", ())),
                allowed_pattern=spec.get("AllowedPattern"),
            )
            for name, spec in self.document.get("Parameters", {}).items()
        }

    def parameter_values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Defaults overlaid with ``overrides``; a parameter with neither is an error, as in CloudFormation."""
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(self.parameters)
        if unknown:
            raise TemplateError(
                f"unknown parameters {sorted(unknown)}; the template declares {sorted(self.parameters)}"
            )
        values: dict[str, str] = {}
        for name, parameter in self.parameters.items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif parameter.default is not None:
                values[name] = parameter.default
            else:
                raise TemplateError(f"parameter {name} has no default: pass a value for it")
        return values

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == resource_type}

    def single(self, resource_type: str) -> str:
        """The logical id of the one resource of this type."""
        found = sorted(self.resources_of_type(resource_type))
        if len(found) != 1:
            raise AmbiguousResource(f"expected one {resource_type} in {self.path.name}, found {found or 'none'}")
        return found[0]

    @property
    def bucket_id(self) -> str:
        return self.single("AWS::S3::Bucket")

    @property
    def topic_id(self) -> str:
        return self.single("AWS::SNS::Topic")

    @property
    def key_id(self) -> str:
        return self.single("AWS::KMS::Key")

    def _function_globals(self) -> dict[str, Any]:
        return self.document.get("Globals", {}).get("Function", {})

    @cached_property
    def functions(self) -> dict[str, Function]:
        functions = {}
        for logical_id, resource in self.resources_of_type(FUNCTION_TYPE).items():
            props = _merge_globals(self._function_globals(), resource.get("Properties", {}))
            code_uri = props.get("CodeUri")
            if not isinstance(code_uri, str):
                raise TemplateError(f"{logical_id}: CodeUri must be a local folder, got {code_uri!r}")
            functions[logical_id] = Function(
                logical_id=logical_id,
                code_dir=(self.root / code_uri).resolve(),
                handler=props["Handler"],
                runtime=props.get("Runtime"),
                memory_size=props.get("MemorySize", SAM_DEFAULT_MEMORY_MB),
                timeout=props.get("Timeout", SAM_DEFAULT_TIMEOUT_SECONDS),
                environment=props.get("Environment", {}).get("Variables", {}),
                properties=props,
            )
        return functions

    @cached_property
    def layer_dirs(self) -> dict[str, Path]:
        """Each layer's source folder (ContentUri)."""
        return {
            logical_id: (self.root / resource["Properties"]["ContentUri"]).resolve()
            for logical_id, resource in self.resources_of_type(LAYER_TYPE).items()
        }

    @cached_property
    def state_machines(self) -> dict[str, StateMachine]:
        machines = {}
        for logical_id, resource in self.resources_of_type(STATE_MACHINE_TYPE).items():
            props = resource.get("Properties", {})
            uri = props.get("DefinitionUri")
            if not isinstance(uri, str):
                raise TemplateError(f"{logical_id}: expected DefinitionUri pointing at a file in statemachine/")
            machines[logical_id] = StateMachine(
                logical_id=logical_id,
                definition_path=(self.root / uri).resolve(),
                substitutions=props.get("DefinitionSubstitutions", {}),
                properties=props,
            )
        return machines

    @cached_property
    def schedules(self) -> dict[str, Schedule]:
        """The state machines' ScheduleV2 events, by the logical id SAM gives the schedule it generates."""
        return {
            f"{machine_id}{event_id}": Schedule(
                logical_id=f"{machine_id}{event_id}",
                state_machine_id=machine_id,
                properties=event.get("Properties", {}),
            )
            for machine_id, machine in self.state_machines.items()
            for event_id, event in machine.properties.get("Events", {}).items()
            if event.get("Type") == SCHEDULE_EVENT_TYPE
        }

    def state_machine_for_file(self, file_name: str) -> StateMachine:
        """The state machine whose DefinitionUri ends in ``file_name`` (``hibernate.asl.json``)."""
        for machine in self.state_machines.values():
            if machine.definition_path.name == file_name:
                return machine
        raise TemplateError(f"no state machine in {self.path.name} uses {file_name}")

    # --- the template AWS would run -----------------------------------------------------------

    def transformed(self, parameter_values: Mapping[str, Any] | None = None, *, region: str = "eu-west-1") -> dict:
        """The CloudFormation template after the SAM transform, as `sam deploy` would submit it.

        Local folders (CodeUri, ContentUri, DefinitionUri) are replaced by S3 locations first, as
        `sam package` does; AWS managed policy names resolve from moto's offline copy of the list.
        """
        import boto3
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import undo_mark_unicode_str_in_template

        document = copy.deepcopy(self.document)
        holders = {name: res.get("Properties", {}) for name, res in document.get("Resources", {}).items()}
        holders["Globals"] = document.get("Globals", {}).get("Function", {})
        for holder, props in holders.items():
            for key in ("CodeUri", "ContentUri", "DefinitionUri"):
                if isinstance(props.get(key), str):
                    props[key] = f"s3://packaged-artifacts/{holder}/{Path(props[key]).name}"
        parameters = {"AWS::Region": region, "AWS::AccountId": DEFAULT_ACCOUNT_ID, "AWS::Partition": PARTITION}
        parameters.update(self.parameter_values(parameter_values) if self.parameters else {})
        # The translator reads the region from a boto3 session; give it one rather than the environment's.
        translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
        translated = translator.translate(
            document, parameter_values=parameters, get_managed_policy_map=_offline_managed_policies
        )
        return undo_mark_unicode_str_in_template(translated)

    def resolver(
        self,
        *,
        physical: Mapping[str, Physical],
        parameter_values: Mapping[str, Any] | None = None,
        region: str,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str,
    ) -> Resolver:
        return Resolver(
            template=self,
            parameters=self.parameter_values(parameter_values),
            physical=physical,
            pseudo={
                "AWS::Region": region,
                "AWS::AccountId": account_id,
                "AWS::Partition": PARTITION,
                "AWS::StackName": stack_name,
                "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{account_id}:stack/{stack_name}/sandbox",
                "AWS::URLSuffix": URL_SUFFIX,
                "AWS::NoValue": NO_VALUE,
            },
        )


@cache
def _offline_managed_policies() -> dict[str, str]:
    """AWS managed policy names to ARNs, from moto's bundled copy of the list instead of IAM."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies = json.loads(aws_managed_policies_data)
    return {name: f"arn:aws:iam::aws:policy{spec.get('Path', '/')}{name}" for name, spec in policies.items()}


_SUB_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class Resolver:
    """Evaluates CloudFormation intrinsic functions against parameters and deployed resources."""

    template: SamTemplate
    parameters: Mapping[str, str]
    physical: Mapping[str, Physical]
    pseudo: Mapping[str, Any]

    def condition(self, name: str) -> bool:
        if name not in self.template.conditions:
            raise UnresolvableIntrinsic(f"condition {name} is not declared in the template")
        return bool(self.resolve(self.template.conditions[name]))

    def is_deployed(self, logical_id: str) -> bool:
        """False for a resource whose Condition is false."""
        condition = self.template.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic evaluated; AWS::NoValue entries removed from maps and lists."""
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self._parameter(name)
        if name in self.physical:
            return self.physical[name].ref
        raise UnresolvableIntrinsic(f"Ref {name}: neither a parameter nor a deployed resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        physical = self.physical.get(logical_id)
        if physical is None or attribute not in physical.attributes:
            raise UnresolvableIntrinsic(f"Fn::GetAtt {logical_id}.{attribute}: not known for the deployed stack")
        return physical.attributes[attribute]

    def _parameter(self, name: str) -> Any:
        value = self.parameters[name]
        if self.template.parameters[name].type.startswith("List<") or self.template.parameters[name].type == (
            "CommaDelimitedList"
        ):
            return [item.strip() for item in value.split(",")] if value else []
        return value

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        variables = {name: self.resolve(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        # "${!Literal}" is CloudFormation's escape for a literal "${Literal}".
        return _SUB_PLACEHOLDER.sub(replace, text).replace("${!", "${")

    def _intrinsic(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self.ref(argument)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.get_att(logical_id, attribute)
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::And":
            return all(self.resolve(v) for v in argument)
        if key == "Fn::Or":
            return any(self.resolve(v) for v in argument)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self.resolve(items))
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if key == "Fn::ToJsonString":
            return json.dumps(self.resolve(argument), separators=(",", ":"))
        if key == "Fn::GetAZs":
            region = self.resolve(argument) or self.pseudo["AWS::Region"]
            return [f"{region}a", f"{region}b", f"{region}c"]
        raise UnresolvableIntrinsic(f"{key} is not supported by the sandbox resolver")

    def references(self, value: Any) -> Iterator[str]:
        """Logical ids of resources ``value`` refers to (to order deployment)."""
        yield from _references(value, set(self.template.resources))


def _references(value: Any, resource_ids: set[str]) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _references(item, resource_ids)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and item in resource_ids:
                yield item
            elif key == "Fn::GetAtt":
                logical_id = item.split(".", 1)[0] if isinstance(item, str) else item[0]
                if logical_id in resource_ids:
                    yield logical_id
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                for name in _SUB_PLACEHOLDER.findall(text):
                    if name.split(".", 1)[0] in resource_ids:
                        yield name.split(".", 1)[0]
                if not isinstance(item, str):
                    yield from _references(item[1], resource_ids)
            else:
                yield from _references(item, resource_ids)
