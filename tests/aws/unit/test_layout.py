"""S3 keys and snapshot ids: the layout every part of the project agrees on (docs/contracts.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from mwaa_hibernate import layout


def test_snapshot_id_is_the_utc_start_time_whatever_zone_it_comes_in() -> None:
    assert layout.snapshot_id_for("2026-11-24T19:00:00.123Z") == "20261124T190000Z"
    berlin = datetime(2026, 11, 24, 20, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    assert layout.snapshot_id_for(berlin) == "20261124T190000Z"


def test_keys_follow_the_contract() -> None:
    assert layout.snapshot_uri("b", "env", "20261124T190000Z") == "s3://b/env/snapshots/20261124T190000Z/"
    assert layout.environment_key("env", "20261124T190000Z") == "env/snapshots/20261124T190000Z/environment.json"
    assert layout.manifest_key("env", "20261124T190000Z") == "env/snapshots/20261124T190000Z/manifest.json"
    assert (
        layout.dag_paused_state_key("env", "20261124T190000Z") == "env/snapshots/20261124T190000Z/dag_paused_state.json"
    )
    assert layout.latest_key("env") == "env/latest.json"
    assert layout.state_key("env") == "env/state.json"


@pytest.mark.parametrize("bad", ["latest", "2026-11-24", "20261124T190000", "../x", ""])
def test_a_key_is_never_built_from_something_that_is_not_a_snapshot_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not a snapshot id"):
        layout.snapshot_prefix("env", bad)


def test_snapshot_id_from_key_ignores_other_folders() -> None:
    assert layout.snapshot_id_from_key("env", "env/snapshots/20261124T190000Z/manifest.json") == "20261124T190000Z"
    assert layout.snapshot_id_from_key("env", "env/snapshots/scratch/") is None
    assert layout.snapshot_id_from_key("env", "other/snapshots/20261124T190000Z/") is None
