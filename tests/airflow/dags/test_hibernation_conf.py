"""The run-conf contract: what the trigger Lambda sends is what the DAGs accept, and mistakes say what is wrong."""

from __future__ import annotations

import base64
import copy

import pytest
from mwaa_hibernate_snapshot.errors import InvalidRunConf, SnapshotError
from mwaa_hibernate_snapshot.runconf import (
    EXPORT_DAG_ID,
    HIBERNATION_DAG_IDS,
    IMPORT_DAG_ID,
    parse_export_conf,
    parse_import_conf,
    token_encryption_context,
)

CIPHERTEXT = base64.b64encode(b"\x01\x02kms-ciphertext-bytes").decode()
EXPORT_CONF = {
    "snapshot_uri": "s3://backups-bucket/analytics-prod/snapshots/20261124T190000Z/",
    "kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "callback": {"token_ciphertext": CIPHERTEXT, "region": "eu-west-1"},
    "retention_days": 30,
    "drain_timeout_minutes": 30,
}


def test_export_conf_from_the_contract_parses_into_typed_fields():
    conf = parse_export_conf(EXPORT_CONF)

    assert conf.snapshot.uri == EXPORT_CONF["snapshot_uri"]
    assert conf.snapshot.environment == "analytics-prod"
    assert conf.snapshot.snapshot_id == "20261124T190000Z"
    assert conf.callback.token_ciphertext == b"\x01\x02kms-ciphertext-bytes"
    assert conf.callback.region == "eu-west-1"
    assert (conf.retention_days, conf.drain_timeout_minutes) == (30, 30)
    assert conf.to_conf() == EXPORT_CONF


IMPORT_CONF = {k: EXPORT_CONF[k] for k in ("snapshot_uri", "kms_key_id", "callback")}


def test_import_conf_needs_the_snapshot_the_stacks_key_and_the_callback():
    conf = parse_import_conf(IMPORT_CONF)

    assert conf.snapshot.snapshot_id == "20261124T190000Z"
    assert conf.kms_key_id == EXPORT_CONF["kms_key_id"]
    assert conf.to_conf() == IMPORT_CONF
    with pytest.raises(InvalidRunConf, match="kms_key_id"):
        parse_import_conf({k: v for k, v in IMPORT_CONF.items() if k != "kms_key_id"})


def test_a_key_prefix_before_the_environment_and_a_missing_trailing_slash_are_accepted():
    conf = parse_import_conf({**IMPORT_CONF, "snapshot_uri": "s3://b/teams/data/env-1/snapshots/20261124T190000Z"})

    assert conf.snapshot.environment == "env-1"
    assert conf.snapshot.uri.endswith("/20261124T190000Z/")


def test_unknown_fields_are_tolerated_but_reported():
    conf = parse_export_conf({**EXPORT_CONF, "retention_day": 7})

    assert conf.ignored_keys == ("retention_day",)


def _with(path: str, value: object) -> dict:
    conf = copy.deepcopy(EXPORT_CONF)
    *parents, leaf = path.split(".")
    target = conf
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return conf


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        pytest.param(None, "needs a run conf", id="no-conf"),
        pytest.param({}, "needs a run conf", id="empty-conf"),
        pytest.param(_with("kms_key_id", KeyError), "missing kms_key_id", id="missing-field"),
        pytest.param(_with("snapshot_uri", "/tmp/snap"), "must be an s3:// URI", id="local-path"),
        pytest.param(_with("snapshot_uri", "s3://b/env/20261124T190000Z/"), "does not follow", id="no-snapshots-dir"),
        pytest.param(_with("snapshot_uri", "s3://b/env/snapshots/latest/"), "is not a UTC time", id="bad-snapshot-id"),
        pytest.param(
            _with("snapshot_uri", "s3://b/-env/snapshots/20261124T190000Z/"), "environment name", id="bad-env"
        ),
        pytest.param(_with("kms_key_id", "  "), "kms_key_id must be", id="blank-key"),
        pytest.param(_with("callback", "token"), "callback must be an object", id="callback-not-object"),
        pytest.param(_with("callback.token_ciphertext", ""), "token_ciphertext is missing", id="no-token"),
        pytest.param(_with("callback.token_ciphertext", "not base64!"), "not valid base64", id="token-not-b64"),
        pytest.param(_with("callback.region", "Ireland"), "callback.region must be", id="bad-region"),
        pytest.param(_with("retention_days", -1), "retention_days must be", id="negative-retention"),
        pytest.param(_with("retention_days", "30"), "retention_days must be", id="retention-as-text"),
        pytest.param(_with("drain_timeout_minutes", True), "drain_timeout_minutes must be", id="drain-as-bool"),
        pytest.param(_with("drain_timeout_minutes", 100_000), "from 0 to 1440", id="drain-too-long"),
    ],
)
def test_a_wrong_conf_is_refused_with_a_message_naming_the_problem(conf, message):
    with pytest.raises(InvalidRunConf, match=message) as caught:
        parse_export_conf(conf)

    # It belongs to the engine's one exception tree, and never repeats the token ciphertext.
    assert isinstance(caught.value, SnapshotError)
    assert CIPHERTEXT not in str(caught.value)


def test_the_dag_ids_and_the_token_encryption_context_are_the_contract_values():
    assert (EXPORT_DAG_ID, IMPORT_DAG_ID) == ("mwaa_hibernate_export", "mwaa_hibernate_import")
    assert HIBERNATION_DAG_IDS == (EXPORT_DAG_ID, IMPORT_DAG_ID, "mwaa_hibernate_probe")
    assert token_encryption_context("analytics-prod") == {
        "mwaa-hibernate:purpose": "task-token",
        "mwaa-hibernate:environment": "analytics-prod",
    }
