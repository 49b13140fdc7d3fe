"""The template's parts fit together: parameters a person can answer, ASL placeholders, handler files."""

from __future__ import annotations

import re

import pytest
from mwaa_hibernate_sandbox.template import SamTemplate

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def test_every_asl_placeholder_is_substituted_and_every_substitution_used(template: SamTemplate) -> None:
    assert {m.definition_path.name for m in template.state_machines.values()} == {
        "hibernate.asl.json",
        "wake.asl.json",
        "wait-for-environment.asl.json",
    }
    for logical_id, machine in template.state_machines.items():
        used = set(PLACEHOLDER.findall(machine.definition_text()))
        given = set(machine.substitutions)
        assert used <= given, (
            f"{logical_id}: {sorted(used - given)} are never substituted (a literal ${{...}} at run time)"
        )
        assert given <= used, f"{logical_id}: substitutions {sorted(given - used)} are not used by the ASL"


def test_parameters_are_described_and_validated(template: SamTemplate) -> None:
    for name, parameter in template.parameters.items():
        assert len(parameter.description) > 20, f"{name}: describe it for `sam deploy --guided`"
        spec = template.document["Parameters"][name]
        if parameter.type == "String":
            assert parameter.allowed_pattern or parameter.allowed_values, f"{name}: no AllowedPattern/AllowedValues"
        elif parameter.type == "Number":
            assert "MinValue" in spec and "MaxValue" in spec, f"{name}: no MinValue/MaxValue"


@pytest.mark.parametrize("kind", ["pattern", "values", "range"])
def test_parameter_defaults_pass_their_own_validation(template: SamTemplate, kind: str) -> None:
    for name, parameter in template.parameters.items():
        if parameter.default is None:
            continue
        spec = template.document["Parameters"][name]
        if kind == "pattern" and parameter.allowed_pattern and parameter.type == "String":
            assert re.fullmatch(parameter.allowed_pattern, parameter.default), f"{name}: default fails its pattern"
        if kind == "values" and parameter.allowed_values:
            assert parameter.default in parameter.allowed_values, f"{name}: default not in AllowedValues"
        if kind == "range" and parameter.type == "Number":
            assert spec["MinValue"] <= float(parameter.default) <= spec["MaxValue"], f"{name}: default out of range"


def test_every_function_handler_exists(template: SamTemplate) -> None:
    assert template.functions
    for logical_id, function in template.functions.items():
        source = function.code_dir / f"{function.handler_module}.py"
        assert source.is_file(), f"{logical_id}: handler module {source.name} missing in {function.code_dir.name}/"
        assert f"def {function.handler_function}(" in source.read_text(), f"{logical_id}: no {function.handler}"
