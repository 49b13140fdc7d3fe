"""A small evaluation of IAM policies, for asserting who may do what to the snapshot bucket.

moto does not enforce bucket policies, so the template tests check the policy documents' outcomes with this
evaluator instead. It follows the documented evaluation logic for one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit Deny in
any policy wins; otherwise an Allow in the principal's identity policies or in the bucket policy allows; otherwise
the request is implicitly denied. It supports what the stack's policies use (Action, Resource, NotResource,
Principal "*" or AWS ARNs, and the condition operators in `_OPERATORS`, with AWS's rule that a negated operator
on a key absent from the request holds) and raises on anything else, so a new construct cannot be skipped silently.

What it does not cover: service control and resource control policies, permissions boundaries, session
policies, KMS key policies (SSE-KMS objects also need the key), access points, ACLs, and whether AWS sets each
condition key for each operation as documented (the request contexts in the tests say which keys a request
carries, after the S3 documentation cited next to them).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    principal_arn: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def keys(self) -> dict[str, str]:
        return {"aws:PrincipalArn": self.principal_arn, "aws:SecureTransport": "true", **self.context}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def _matches_principal(principal: Any, arn: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping) and set(principal) == {"AWS"}:
        return any(p == "*" or p == arn for p in _as_list(principal["AWS"]))
    raise NotImplementedError(f"principal {principal!r} is not modelled")


def _positive(compare: Any) -> Any:
    return lambda values, found: found is not None and any(compare(str(v), found) for v in values)


def _negative(compare: Any) -> Any:
    # AWS: a negated operator holds when the key is absent from the request.
    return lambda values, found: found is None or not any(compare(str(v), found) for v in values)


_OPERATORS = {
    "StringEquals": _positive(lambda v, f: v == f),
    "StringNotEquals": _negative(lambda v, f: v == f),
    "StringLike": _positive(lambda v, f: _like(v, f)),
    "StringNotLike": _negative(lambda v, f: _like(v, f)),
    "ArnEquals": _positive(lambda v, f: v == f),
    "ArnNotEquals": _negative(lambda v, f: v == f),
    "ArnLike": _positive(lambda v, f: _like(v, f)),
    "ArnNotLike": _negative(lambda v, f: _like(v, f)),
    "Bool": _positive(lambda v, f: v.lower() == f.lower()),
    "Null": lambda values, found: any((str(v).lower() == "true") == (found is None) for v in values),
}


def _condition_holds(condition: Mapping[str, Any], keys: Mapping[str, str]) -> bool:
    for operator, block in condition.items():
        if_exists = operator.endswith("IfExists")
        name = operator.removesuffix("IfExists")
        if name not in _OPERATORS:
            raise NotImplementedError(f"condition operator {operator} is not modelled")
        for key, values in block.items():
            found = keys.get(key)
            if if_exists and found is None:
                continue
            if not _OPERATORS[name](_as_list(values), found):
                return False
    return True


def _applies(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> bool:
    if set(statement) & {"NotAction", "NotPrincipal"}:
        raise NotImplementedError(f"statement {statement.get('Sid')} uses a construct that is not modelled")
    if resource_policy and not _matches_principal(statement["Principal"], request.principal_arn):
        return False
    if not any(_like(a, request.action, case=False) for a in _as_list(statement["Action"])):
        return False
    if "NotResource" in statement:
        if any(_like(r, request.resource) for r in _as_list(statement["NotResource"])):
            return False
    elif not any(_like(r, request.resource) for r in _as_list(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), request.keys())


def decide(
    request: Request, *, identity: Iterable[Mapping[str, Any]], bucket_policy: Iterable[Mapping[str, Any]]
) -> str:
    """ALLOW, DENY (an explicit Deny applies) or IMPLICIT_DENY, for one request of one principal."""
    applicable = [(s, False) for s in identity] + [(s, True) for s in bucket_policy]
    effects = {
        s["Effect"] for s, resource_policy in applicable if _applies(s, request, resource_policy=resource_policy)
    }
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else IMPLICIT_DENY
