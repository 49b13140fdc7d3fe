"""Snapshot folders in S3 (moto): configuration saved first, verification, the latest pointer, pruning."""

from __future__ import annotations

import hashlib
import json

import pytest
from mwaa_hibernate import layout, snapshots
from mwaa_hibernate.aws import json_bytes
from mwaa_hibernate.exceptions import SnapshotVerificationFailed

from .conftest import (
    ENVIRONMENT,
    SNAPSHOT_ID,
    TABLE_FILES,
    commit,
    configuration_sha256,
    saved_environment,
    write_snapshot,
)


def _keys(aws, prefix: str) -> list[str]:
    return [o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix).get("Contents", [])]


def test_save_configuration_writes_get_environment_output_into_the_new_folder(aws) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()

    saved = snapshots.save_configuration(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)

    body = aws.s3.get_object(Bucket=aws.bucket, Key=saved["key"])["Body"].read()
    assert json.loads(body) == saved_environment()
    assert saved == {
        "snapshot_id": SNAPSHOT_ID,
        "key": layout.environment_key(ENVIRONMENT, SNAPSHOT_ID),
        "airflow_version": "2.10.3",
        "sha256": configuration_sha256(),
    }
    assert hashlib.sha256(body).hexdigest() == saved["sha256"]


def test_save_configuration_never_overwrites_a_saved_configuration(aws) -> None:
    """Invariant 9: a configuration already in the folder (another cycle's, or planted) is never replaced."""
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(EnvironmentClass="mw1.large")
    key = layout.environment_key(ENVIRONMENT, SNAPSHOT_ID)
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=b'{"planted": true}')

    with pytest.raises(SnapshotVerificationFailed, match="already holds a saved configuration"):
        snapshots.save_configuration(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    assert aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read() == b'{"planted": true}'


def test_verify_refuses_a_configuration_rewritten_after_the_stack_saved_it(aws) -> None:
    """Invariant 9: code in the environment rewrote environment.json during the export; the delete never comes."""
    write_snapshot(aws)
    key = layout.environment_key(ENVIRONMENT, SNAPSHOT_ID)
    hostile = saved_environment(WebserverAccessMode="PUBLIC_ONLY", ExecutionRoleArn="arn:aws:iam::1:role/other")
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=json.dumps(hostile).encode())

    with pytest.raises(SnapshotVerificationFailed, match="not the one this stack saved"):
        snapshots.verify(
            environment=ENVIRONMENT,
            snapshot_id=SNAPSHOT_ID,
            bucket=aws.bucket,
            configuration_sha256=configuration_sha256(),
        )


def test_the_latest_pointer_records_the_configuration_digest(aws) -> None:
    write_snapshot(aws)
    commit(aws)

    pointer = snapshots.read_latest_pointer(environment=ENVIRONMENT, bucket=aws.bucket)
    assert pointer["configuration_sha256"] == configuration_sha256()


def test_save_configuration_never_writes_into_a_complete_snapshot(aws) -> None:
    write_snapshot(aws)
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(EnvironmentClass="mw1.large")

    with pytest.raises(SnapshotVerificationFailed, match="never written twice"):
        snapshots.save_configuration(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    saved = aws.s3.get_object(Bucket=aws.bucket, Key=layout.environment_key(ENVIRONMENT, SNAPSHOT_ID))
    assert json.loads(saved["Body"].read())["EnvironmentClass"] == "mw1.medium"


def test_verify_accepts_a_complete_snapshot_and_sums_it(aws) -> None:
    files = write_snapshot(aws, paused={"etl": False})

    summary = snapshots.verify(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)

    assert summary == {
        "snapshot_id": SNAPSHOT_ID,
        "files": TABLE_FILES,
        "bytes": sum(map(len, files.values())),
        "rows": 3,
    }


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-manifest", "manifest.json"),
        ("truncated-table", "bytes, the manifest says"),
        ("missing-table", "missing"),
        ("no-environment-json", "environment.json"),
    ],
)
def test_verify_refuses_a_damaged_snapshot_saying_what_is_wrong(aws, damage: str, message: str) -> None:
    files = write_snapshot(aws, complete=damage != "no-manifest")
    prefix = layout.snapshot_prefix(ENVIRONMENT, SNAPSHOT_ID)
    table = next(iter(files))
    if damage == "truncated-table":
        aws.s3.put_object(Bucket=aws.bucket, Key=prefix + table, Body=files[table][:-3])
    elif damage == "missing-table":
        aws.s3.delete_object(Bucket=aws.bucket, Key=prefix + table)
    elif damage == "no-environment-json":
        aws.s3.delete_object(Bucket=aws.bucket, Key=layout.environment_key(ENVIRONMENT, SNAPSHOT_ID))

    with pytest.raises(SnapshotVerificationFailed, match=message):
        snapshots.verify(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)


def test_verify_refuses_a_manifest_copied_from_another_snapshot(aws) -> None:
    write_snapshot(aws, "20261123T190000Z")
    source = layout.snapshot_prefix(ENVIRONMENT, "20261123T190000Z")
    target = layout.snapshot_prefix(ENVIRONMENT, SNAPSHOT_ID)
    for key in _keys(aws, source):
        aws.s3.copy_object(
            Bucket=aws.bucket, Key=target + key[len(source) :], CopySource={"Bucket": aws.bucket, "Key": key}
        )

    with pytest.raises(SnapshotVerificationFailed, match="describes snapshot 20261123T190000Z"):
        snapshots.verify(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)


def test_the_latest_pointer_moves_only_to_a_snapshot_with_a_manifest(aws) -> None:
    write_snapshot(aws, "20261123T190000Z")
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id="20261123T190000Z", bucket=aws.bucket)
    write_snapshot(aws, SNAPSHOT_ID, complete=False)

    with pytest.raises(SnapshotVerificationFailed, match="no manifest"):
        commit(aws)
    assert snapshots.read_latest(environment=ENVIRONMENT, bucket=aws.bucket) == "20261123T190000Z"

    write_snapshot(aws, SNAPSHOT_ID)
    moved = snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    assert moved == {"snapshot_id": SNAPSHOT_ID, "previous_snapshot_id": "20261123T190000Z"}
    assert snapshots.read_latest(environment=ENVIRONMENT, bucket=aws.bucket) == SNAPSHOT_ID


def test_state_round_trips_and_refuses_unknown_phases(aws) -> None:
    assert snapshots.read_state(environment=ENVIRONMENT, bucket=aws.bucket) is None
    snapshots.record_state(environment=ENVIRONMENT, phase="HIBERNATED", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    state = snapshots.read_state(environment=ENVIRONMENT, bucket=aws.bucket)
    assert (state["phase"], state["snapshot_id"]) == ("HIBERNATED", SNAPSHOT_ID)
    with pytest.raises(ValueError, match="phase"):
        snapshots.record_state(environment=ENVIRONMENT, phase="ASLEEP", snapshot_id=None, bucket=aws.bucket)


def test_prune_keeps_the_newest_complete_snapshots_and_never_the_latest(aws) -> None:
    complete = ["20261118T190000Z", "20261119T190000Z", "20261120T190000Z", "20261122T190000Z"]
    for snapshot_id in complete:
        write_snapshot(aws, snapshot_id)
    write_snapshot(aws, "20261121T190000Z", complete=False)  # a failed export
    write_snapshot(aws, "20261123T190000Z")
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id="20261123T190000Z", bucket=aws.bucket)
    write_snapshot(aws, "20261124T190000Z", complete=False)  # newer than the latest: left alone
    aws.s3.put_object(Bucket=aws.bucket, Key=f"{ENVIRONMENT}/snapshots/notes.txt", Body=b"not a snapshot")

    pruned = snapshots.prune(environment=ENVIRONMENT, keep=3, bucket=aws.bucket)

    assert pruned["kept"] == ["20261120T190000Z", "20261122T190000Z", "20261123T190000Z", "20261124T190000Z"]
    assert pruned["deleted"] == ["20261118T190000Z", "20261119T190000Z", "20261121T190000Z"]
    remaining = snapshots.list_snapshot_ids(environment=ENVIRONMENT, bucket=aws.bucket)
    assert remaining == pruned["kept"]
    assert _keys(aws, f"{ENVIRONMENT}/snapshots/notes.txt")
    snapshots.verify(environment=ENVIRONMENT, snapshot_id="20261123T190000Z", bucket=aws.bucket)


def test_prune_with_keep_one_leaves_only_the_latest(aws) -> None:
    for snapshot_id in ("20261122T190000Z", "20261123T190000Z"):
        write_snapshot(aws, snapshot_id)
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id="20261123T190000Z", bucket=aws.bucket)

    assert snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket) == {
        "kept": ["20261123T190000Z"],
        "deleted": ["20261122T190000Z"],
    }
    with pytest.raises(ValueError, match="at least 1"):
        snapshots.prune(environment=ENVIRONMENT, keep=0, bucket=aws.bucket)


def test_prune_before_any_latest_deletes_nothing(aws) -> None:
    write_snapshot(aws, "20261122T190000Z", complete=False)
    assert snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket) == {"kept": [], "deleted": []}
    assert snapshots.list_snapshot_ids(environment=ENVIRONMENT, bucket=aws.bucket) == ["20261122T190000Z"]


def test_prune_dry_run_answers_the_same_and_deletes_nothing(aws) -> None:
    ids = ["20261121T190000Z", "20261122T190000Z", "20261123T190000Z"]
    for snapshot_id in ids:
        write_snapshot(aws, snapshot_id)
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id=ids[-1], bucket=aws.bucket)

    planned = snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket, dry_run=True)

    assert planned == {"kept": ids[-1:], "deleted": ids[:-1]}
    assert snapshots.list_snapshot_ids(environment=ENVIRONMENT, bucket=aws.bucket) == ids
    assert snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket) == planned


def test_prune_never_deletes_the_snapshot_a_wake_still_owes(aws) -> None:
    """latest.json moved on by hand while state.json says HIBERNATED: the owed snapshot stays."""
    ids = ["20261121T190000Z", "20261122T190000Z", "20261123T190000Z"]
    for snapshot_id in ids:
        write_snapshot(aws, snapshot_id)
    snapshots.record_state(environment=ENVIRONMENT, phase="HIBERNATED", snapshot_id=ids[0], bucket=aws.bucket)
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id=ids[-1], bucket=aws.bucket)

    assert snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket) == {
        "kept": [ids[0], ids[-1]],
        "deleted": [ids[1]],
    }
    snapshots.record_state(environment=ENVIRONMENT, phase="AWAKE", snapshot_id=ids[0], bucket=aws.bucket)
    assert snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket)["deleted"] == [ids[0]]


def test_verify_with_row_counts_reads_every_table_through(aws) -> None:
    write_snapshot(aws)
    seen: list[tuple[str, int]] = []

    summary = snapshots.verify(
        environment=ENVIRONMENT,
        snapshot_id=SNAPSHOT_ID,
        bucket=aws.bucket,
        count_rows=True,
        progress=lambda phase, table, rows: seen.append((table, rows)),
    )

    assert summary["rows"] == 3 and [s for s in seen if s[1]] == [("variable", 1), ("dag_run", 2)]


def test_committed_figures_sum_the_manifest_and_compare_with_the_previous_snapshot(aws) -> None:
    files = write_snapshot(aws, SNAPSHOT_ID)
    write_snapshot(aws, "20261123T190000Z")

    figures = snapshots.committed_figures(
        environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, previous_snapshot_id="20261123T190000Z", bucket=aws.bucket
    )

    assert figures == {"tables": TABLE_FILES, "rows": 3, "bytes": sum(map(len, files.values())), "growth_percent": 0.0}


def test_committed_figures_never_fail_the_cycle(aws) -> None:
    """The pointer has already moved: a missing manifest costs the metric, never the hibernation."""
    write_snapshot(aws, SNAPSHOT_ID)
    without_previous = snapshots.committed_figures(
        environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, previous_snapshot_id="20261101T190000Z", bucket=aws.bucket
    )
    assert set(without_previous) == {"tables", "rows", "bytes"}  # pruned or deleted previous: no growth
    first = snapshots.committed_figures(
        environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, previous_snapshot_id=None, bucket=aws.bucket
    )
    assert "growth_percent" not in first
    missing = snapshots.committed_figures(
        environment=ENVIRONMENT, snapshot_id="20261102T190000Z", previous_snapshot_id=None, bucket=aws.bucket
    )
    assert missing == {}


def test_a_wake_reports_the_hours_since_the_hibernation_was_recorded(aws) -> None:
    asleep = snapshots.record_state(
        environment=ENVIRONMENT, phase="HIBERNATED", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket
    )
    assert "hours_hibernated" not in asleep
    state = snapshots.read_state(environment=ENVIRONMENT, bucket=aws.bucket)
    state["updated_at"] = "2026-11-24T19:30:00Z"
    aws.s3.put_object(Bucket=aws.bucket, Key=layout.state_key(ENVIRONMENT), Body=json.dumps(state))

    awake = snapshots.record_state(
        environment=ENVIRONMENT,
        phase="AWAKE",
        snapshot_id=SNAPSHOT_ID,
        bucket=aws.bucket,
        started_at="2026-11-25T06:15:00.500Z",
    )

    assert awake["hours_hibernated"] == pytest.approx(10.75, abs=0.001)
    again = snapshots.record_state(environment=ENVIRONMENT, phase="AWAKE", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    assert "hours_hibernated" not in again, "an environment already awake did not sleep"


def test_the_latest_pointer_never_moves_backwards(aws) -> None:
    """Invariant 5: a slower cycle committing an older snapshot after a newer one must not win."""
    write_snapshot(aws, "20261123T190000Z")
    write_snapshot(aws)
    commit(aws)

    with pytest.raises(SnapshotVerificationFailed, match="never moves backwards"):
        commit(aws, "20261123T190000Z")
    assert snapshots.read_latest(environment=ENVIRONMENT, bucket=aws.bucket) == SNAPSHOT_ID


def test_the_latest_pointer_moves_only_from_the_pointer_it_read(aws, monkeypatch) -> None:
    write_snapshot(aws, "20261123T190000Z")
    write_snapshot(aws)
    commit(aws, "20261123T190000Z")
    real_get = aws.s3.get_object

    def read_then_lose_the_race(**kw):
        answer = real_get(**kw)
        aws.s3.put_object(Bucket=aws.bucket, Key=kw["Key"], Body=b'{"snapshot_id": "20261123T190000Z", "x": 1}')
        return answer

    monkeypatch.setattr(aws.s3, "get_object", read_then_lose_the_race)
    with pytest.raises(SnapshotVerificationFailed, match="changed while"):
        snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket, s3=aws.s3)


def test_a_snapshot_object_is_never_overwritten(aws) -> None:
    from mwaa_hibernate_snapshot import StoreError, open_store

    store = open_store(layout.snapshot_uri(aws.bucket, ENVIRONMENT, SNAPSHOT_ID), s3_client=aws.s3)
    store.put_bytes("manifest.json", b"first")

    with pytest.raises(StoreError, match="never overwritten"):
        store.put_bytes("manifest.json", b"second")
    assert store.get_bytes("manifest.json") == b"first"


def test_verify_refuses_a_snapshot_of_another_airflow_version_than_the_saved_configuration(aws) -> None:
    write_snapshot(aws)
    aws.s3.put_object(
        Bucket=aws.bucket,
        Key=layout.environment_key(ENVIRONMENT, SNAPSHOT_ID),
        Body=json_bytes(saved_environment(AirflowVersion="2.11.0")),
    )
    digest = hashlib.sha256(json_bytes(saved_environment(AirflowVersion="2.11.0"))).hexdigest()

    with pytest.raises(SnapshotVerificationFailed, match=r"exported by Airflow 2\.10\.3.*recreates Airflow 2\.11\.0"):
        snapshots.verify(
            environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket, configuration_sha256=digest
        )


def test_prune_reports_the_objects_it_failed_to_delete(aws, monkeypatch) -> None:
    """Issue 11: DeleteObjects answers 200 with an Errors list; those objects were silently left."""
    from mwaa_hibernate.exceptions import SnapshotPruneIncomplete

    for snapshot_id in ("20261122T190000Z", "20261123T190000Z", SNAPSHOT_ID):
        write_snapshot(aws, snapshot_id)
    commit(aws)
    real = aws.s3.delete_objects

    def refuse_manifests(**kw):
        answer = real(**kw)
        refused = [o["Key"] for o in kw["Delete"]["Objects"] if o["Key"].endswith("manifest.json")]
        return {**answer, "Errors": [{"Key": k, "Code": "AccessDenied", "Message": "no"} for k in refused]}

    monkeypatch.setattr(aws.s3, "delete_objects", refuse_manifests)
    with pytest.raises(
        SnapshotPruneIncomplete, match=r"could not delete 2 object\(s\).*manifest.json \(AccessDenied\)"
    ):
        snapshots.prune(environment=ENVIRONMENT, keep=1, bucket=aws.bucket, s3=aws.s3)


def test_the_saved_configurations_option_values_leave_the_function_sealed_and_bound(aws) -> None:
    """Issue 11: AirflowConfigurationOptions may hold secrets; they are sealed under a data key of the stack's key,
    each bound to its option name, and the one reader (load_configuration) opens them."""
    from mwaa_hibernate_snapshot import CipherError

    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    saved = snapshots.save_configuration(
        environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket, kms_key_arn=aws.key_arn
    )
    key = layout.environment_key(ENVIRONMENT, SNAPSHOT_ID)
    stored = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    assert b'\\"secret\\"' not in stored and b'"utc"' not in stored  # the values, not the option names
    assert json.loads(stored)["AirflowConfigurationOptions"].keys() == {
        "core.default_timezone",
        "secrets.backend_kwargs",
    }

    loaded = snapshots.load_configuration(
        environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket, expected_sha256=saved["sha256"]
    )
    assert loaded == saved_environment()

    doc = json.loads(stored)
    options = doc["AirflowConfigurationOptions"]
    options["core.default_timezone"], options["secrets.backend_kwargs"] = (
        options["secrets.backend_kwargs"],
        options["core.default_timezone"],
    )
    swapped = json_bytes(doc)
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=swapped)
    with pytest.raises(CipherError, match="moved from another row or field"):
        snapshots.load_configuration(
            environment=ENVIRONMENT,
            snapshot_id=SNAPSHOT_ID,
            bucket=aws.bucket,
            expected_sha256=hashlib.sha256(swapped).hexdigest(),
        )
