"""Request validation driven by botocore's MWAA service model, so the rules are never written twice.

MWAA checks requests on the server; boto3 already checks types and required fields on the client,
but other callers (moto's Step Functions interpreter, an SDK that drops unknown fields silently) do
not. The model gives required members, unknown members, lengths (for example exactly two subnets),
enums and patterns; `validate_create_tags` adds the one documented rule the model does not carry.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from .errors import ValidationFailed

# Tag keys that MWAA refuses: "Invalid tag key. Customers cannot set tag keys starting with aws:".
RESERVED_TAG_PREFIX = "aws:"


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("mwaa")


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


def validate_body(operation_name: str, body: Any) -> None:
    """Check a request's JSON body against the operation's input shape (members located in the URI excluded)."""
    shape = operation(operation_name).input_shape
    if not isinstance(body, dict):
        raise ValidationFailed(f"{operation_name}: the request body must be a JSON object")
    body_members = {name for name, member in shape.members.items() if not member.serialization.get("location")}
    unknown = sorted(set(body) - body_members)
    if unknown:
        raise ValidationFailed(f"{operation_name}: unknown or read-only field(s) {', '.join(unknown)}")
    missing = sorted(name for name in shape.required_members if name in body_members and name not in body)
    if missing:
        raise ValidationFailed(f"{operation_name}: missing required field(s) {', '.join(missing)}")
    for name, value in body.items():
        _check(shape.members[name], value, name)


def validate_uri_name(value: str) -> None:
    """The environment name in the URI: 1-80 characters, `[a-zA-Z][0-9a-zA-Z-_]*`."""
    _check(operation("GetEnvironment").input_shape.members["Name"], value, "Name")


def validate_create_tags(tags: dict[str, str] | None) -> None:
    for key in tags or {}:
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise ValidationFailed(f"Invalid tag key {key!r}. Customers cannot set tag keys starting with aws:")


def _check(shape: Shape, value: Any, where: str) -> None:
    """Check one value against its shape; raise ValidationFailed naming the field path."""
    if shape.metadata.get("document"):
        return
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is not None:
        checker(shape, value, where)


def _check_structure(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{where} must be an object")
    unknown = sorted(set(value) - set(shape.members))
    if unknown:
        raise ValidationFailed(f"{where}: unknown or read-only field(s) {', '.join(unknown)}")
    missing = sorted(set(shape.required_members) - set(value))
    if missing:
        raise ValidationFailed(f"{where}: missing required field(s) {', '.join(missing)}")
    for name, item in value.items():
        _check(shape.members[name], item, f"{where}.{name}")


def _check_list(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise ValidationFailed(f"{where} must be a list")
    _check_size(shape, len(value), where, "item(s)")
    for index, item in enumerate(value):
        _check(shape.member, item, f"{where}[{index}]")


def _check_map(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{where} must be an object")
    _check_size(shape, len(value), where, "entries")
    for key, item in value.items():
        _check(shape.key, key, f"{where} key")
        _check(shape.value, item, f"{where}[{key}]")


def _check_string(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise ValidationFailed(f"{where} must be a string")
    _check_size(shape, len(value), where, "character(s)")
    if shape.enum and value not in shape.enum:
        raise ValidationFailed(f"{where} must be one of {', '.join(shape.enum)}, not {value!r}")
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        raise ValidationFailed(f"{where} {value!r} does not match the pattern {pattern}")


# The model's patterns are Java regular expressions; tag patterns use Unicode classes Python's `re`
# lacks. Letters and numbers map to \w (underscore is allowed there anyway), separators to \s.
UNICODE_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\w", r"\p{Z}": r"\s"}


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    for java, python in UNICODE_CLASSES.items():
        pattern = pattern.replace(java, python)
    return re.compile(pattern)


def _check_integer(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(f"{where} must be an integer")
    _check_size(shape, value, where, "")


def _check_boolean(shape: Shape, value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{where} must be true or false")


def _check_size(shape: Shape, size: int, where: str, unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    verb = "have" if unit else "be"
    if low is not None and size < low:
        raise ValidationFailed(f"{where} must {verb} at least {low} {unit}".rstrip())
    if high is not None and size > high:
        raise ValidationFailed(f"{where} must {verb} at most {high} {unit}".rstrip())


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "boolean": _check_boolean,
}
