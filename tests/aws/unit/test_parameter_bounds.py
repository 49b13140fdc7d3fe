"""The template's parameter bounds never allow a value the DAGs' run-conf parser refuses."""

from __future__ import annotations

from cfnlint.decode import cfn_yaml
from mwaa_hibernate_snapshot import runconf as dagconf

from .conftest import REPO

PARAMETERS = cfn_yaml.load(str(REPO / "template.yaml"))["Parameters"]


def test_history_retention_fits_the_export_conf() -> None:
    assert int(PARAMETERS["HistoryRetentionDays"]["MaxValue"]) <= dagconf.MAX_RETENTION_DAYS
    assert int(PARAMETERS["HistoryRetentionDays"]["MinValue"]) >= 0


def test_drain_timeout_fits_the_export_conf() -> None:
    assert int(PARAMETERS["DrainTimeoutMinutes"]["MaxValue"]) <= dagconf.MAX_DRAIN_TIMEOUT_MINUTES
    assert int(PARAMETERS["DrainTimeoutMinutes"]["MinValue"]) >= 0


def test_the_waiter_never_needs_more_polls_than_states_array_range_allows() -> None:
    """wait-for-environment counts ceil(timeout / poll) with States.ArrayRange, which stops at 1,000 items."""
    shortest_poll = int(PARAMETERS["PollIntervalSeconds"]["MinValue"])
    for name in ("EnvironmentCreateTimeoutSeconds", "EnvironmentDeleteTimeoutSeconds"):
        assert -(-int(PARAMETERS[name]["MaxValue"]) // shortest_poll) <= 1000, name


def test_the_environment_name_pattern_is_mwaas() -> None:
    assert PARAMETERS["EnvironmentName"]["AllowedPattern"] == dagconf.ENVIRONMENT_NAME_PATTERN.pattern
