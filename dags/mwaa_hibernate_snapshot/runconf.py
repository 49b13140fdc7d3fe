"""The hibernation DAGs' ids and the contract for their run conf (docs/contracts.md, "The hibernation DAGs").

The trigger Lambda builds the conf and the DAGs' tasks parse it; both import this module, so it uses
the standard library only. Parsing never echoes a value it was given except the ones that are safe to
show (a bad number, a malformed URI): the task token only ever travels as KMS ciphertext, and even
that is not repeated in an error message.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mwaa_hibernate_snapshot import versions
from mwaa_hibernate_snapshot.carrier import PROBE_DAG_ID
from mwaa_hibernate_snapshot.errors import InvalidRunConf

EXPORT_DAG_ID = "mwaa_hibernate_export"
IMPORT_DAG_ID = "mwaa_hibernate_import"
# Never paused, drained, trimmed or restored by the hibernation itself: they are the ones doing it (the probe
# DAG tells which carrier reaches the database, before each hibernation and wake).
HIBERNATION_DAG_IDS = (EXPORT_DAG_ID, IMPORT_DAG_ID, PROBE_DAG_ID)

# Error names sent with SendTaskFailure; the state machines' Catch clauses match them exactly.
EXPORT_FAILED = "ExportFailed"
DRAIN_TIMEOUT = "DrainTimeout"
IMPORT_FAILED = "ImportFailed"
SNAPSHOT_REJECTED = "SnapshotRejected"

# The KMS encryption context the trigger Lambda encrypts the task token under. Binding the ciphertext to
# its purpose and environment means a token ciphertext lifted from one environment's run conf cannot be
# decrypted by another environment's DAG, nor mistaken for another kind of secret.
TOKEN_PURPOSE = "task-token"
PURPOSE_CONTEXT_KEY = "mwaa-hibernate:purpose"
ENVIRONMENT_CONTEXT_KEY = "mwaa-hibernate:environment"

# contracts.md, "S3 layout": s3://<bucket>/<environment>/snapshots/<snapshot_id>/
SNAPSHOT_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z$")
# MWAA environment names (CreateEnvironment's Name constraint).
ENVIRONMENT_NAME_PATTERN = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,79}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# Upper bounds that catch unit mistakes (seconds given as minutes, a date given as days) rather than
# limiting anyone: ten years of history, one day of draining.
MAX_RETENTION_DAYS = 3650
MAX_DRAIN_TIMEOUT_MINUTES = 24 * 60


def airflow_supported(version: str) -> bool:
    """Whether an Airflow version such as "2.10.3" is one the hibernation DAGs run on (`versions` decides)."""
    return versions.supported(version)


def supported_airflow_text() -> str:
    """The supported versions for messages (`versions.supported_text`)."""
    return versions.supported_text()


def token_encryption_context(environment: str) -> dict[str, str]:
    """The encryption context of a task token ciphertext for `environment` (trigger Lambda and DAGs agree)."""
    return {PURPOSE_CONTEXT_KEY: TOKEN_PURPOSE, ENVIRONMENT_CONTEXT_KEY: environment}


@dataclass(frozen=True)
class SnapshotLocation:
    """A snapshot prefix, and the environment and snapshot id its key names."""

    uri: str
    environment: str
    snapshot_id: str

    @classmethod
    def parse(cls, uri: object) -> SnapshotLocation:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidRunConf(
                f"snapshot_uri must be an s3:// URI like s3://bucket/<environment>/snapshots/<YYYYMMDDTHHMMSSZ>/, "
                f"got {uri!r}"
            )
        bucket, _, key = uri[len("s3://") :].partition("/")
        parts = [p for p in key.split("/") if p]
        if not bucket or len(parts) < 3 or parts[-2] != "snapshots":
            raise InvalidRunConf(
                f"snapshot_uri {uri!r} does not follow s3://bucket/<environment>/snapshots/<snapshot_id>/: "
                "pass the snapshot folder the hibernate state machine created"
            )
        environment, snapshot_id = parts[-3], parts[-1]
        if not SNAPSHOT_ID_PATTERN.match(snapshot_id):
            raise InvalidRunConf(
                f"snapshot_uri {uri!r}: snapshot id {snapshot_id!r} is not a UTC time YYYYMMDDTHHMMSSZ"
            )
        if not ENVIRONMENT_NAME_PATTERN.match(environment):
            raise InvalidRunConf(f"snapshot_uri {uri!r}: {environment!r} is not a valid MWAA environment name")
        return cls(uri=uri if uri.endswith("/") else uri + "/", environment=environment, snapshot_id=snapshot_id)


@dataclass(frozen=True)
class CallbackConf:
    """Where and how to answer the waiting state machine. The token itself is never held here, only ciphertext."""

    token_ciphertext: bytes
    region: str

    def __repr__(self) -> str:  # the ciphertext is harmless, but there is no reason to print it either
        return f"CallbackConf(region={self.region!r}, token_ciphertext=<{len(self.token_ciphertext)} bytes>)"

    @classmethod
    def parse(cls, raw: object) -> CallbackConf:
        if not isinstance(raw, Mapping):
            raise InvalidRunConf(
                'callback must be an object {"token_ciphertext": "<base64>", "region": "<aws region>"}'
            )
        text = raw.get("token_ciphertext")
        if not isinstance(text, str) or not text:
            raise InvalidRunConf(
                "callback.token_ciphertext is missing: the trigger must pass the KMS-encrypted task token"
            )
        try:
            ciphertext = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRunConf("callback.token_ciphertext is not valid base64 (it must be KMS ciphertext)") from exc
        region = raw.get("region")
        if not isinstance(region, str) or not REGION_PATTERN.match(region):
            raise InvalidRunConf(f"callback.region must be an AWS region like eu-west-1, got {region!r}")
        return cls(token_ciphertext=ciphertext, region=region)

    def to_conf(self) -> dict[str, str]:
        return {"token_ciphertext": base64.b64encode(self.token_ciphertext).decode(), "region": self.region}


@dataclass(frozen=True)
class ExportConf:
    """The conf of one export run, validated."""

    snapshot: SnapshotLocation
    kms_key_id: str
    callback: CallbackConf
    retention_days: int
    drain_timeout_minutes: int
    ignored_keys: tuple[str, ...] = ()

    def to_conf(self) -> dict[str, Any]:
        return {
            "snapshot_uri": self.snapshot.uri,
            "kms_key_id": self.kms_key_id,
            "callback": self.callback.to_conf(),
            "retention_days": self.retention_days,
            "drain_timeout_minutes": self.drain_timeout_minutes,
        }


@dataclass(frozen=True)
class ImportConf:
    """The conf of one import run, validated. `kms_key_id` is the stack's key: the import opens a snapshot's
    data key with that key only, whatever key the manifest names (the manifest is data, not an authority)."""

    snapshot: SnapshotLocation
    callback: CallbackConf
    kms_key_id: str
    ignored_keys: tuple[str, ...] = ()

    def to_conf(self) -> dict[str, Any]:
        return {"snapshot_uri": self.snapshot.uri, "kms_key_id": self.kms_key_id, "callback": self.callback.to_conf()}


_EXPORT_KEYS = ("snapshot_uri", "kms_key_id", "callback", "retention_days", "drain_timeout_minutes")
_IMPORT_KEYS = ("snapshot_uri", "kms_key_id", "callback")


def parse_export_conf(conf: Mapping[str, Any] | None) -> ExportConf:
    """Validate an export run's conf; raise InvalidRunConf naming the first field that is wrong."""
    conf = _require_keys(conf, _EXPORT_KEYS, EXPORT_DAG_ID)
    return ExportConf(
        snapshot=SnapshotLocation.parse(conf["snapshot_uri"]),
        kms_key_id=_kms_key_id(conf),
        callback=CallbackConf.parse(conf["callback"]),
        retention_days=_bounded_int(conf, "retention_days", MAX_RETENTION_DAYS, "0 keeps all history"),
        drain_timeout_minutes=_bounded_int(
            conf, "drain_timeout_minutes", MAX_DRAIN_TIMEOUT_MINUTES, "0 fails at once if work is still running"
        ),
        ignored_keys=_unknown(conf, _EXPORT_KEYS),
    )


def parse_import_conf(conf: Mapping[str, Any] | None) -> ImportConf:
    """Validate an import run's conf; raise InvalidRunConf naming the first field that is wrong."""
    conf = _require_keys(conf, _IMPORT_KEYS, IMPORT_DAG_ID)
    return ImportConf(
        snapshot=SnapshotLocation.parse(conf["snapshot_uri"]),
        callback=CallbackConf.parse(conf["callback"]),
        kms_key_id=_kms_key_id(conf),
        ignored_keys=_unknown(conf, _IMPORT_KEYS),
    )


def _kms_key_id(conf: Mapping[str, Any]) -> str:
    kms_key_id = conf["kms_key_id"]
    if not isinstance(kms_key_id, str) or not kms_key_id.strip():
        raise InvalidRunConf("kms_key_id must be the ARN, id or alias of the KMS key that encrypts snapshot secrets")
    return kms_key_id.strip()


def _require_keys(conf: Mapping[str, Any] | None, keys: tuple[str, ...], dag_id: str) -> Mapping[str, Any]:
    if not isinstance(conf, Mapping) or not conf:
        raise InvalidRunConf(
            f"{dag_id} needs a run conf with {', '.join(keys)}: it is triggered by the mwaa-hibernate state "
            "machines, not by hand or on a schedule"
        )
    missing = [k for k in keys if k not in conf]
    if missing:
        raise InvalidRunConf(f"{dag_id} run conf is missing {', '.join(missing)} (docs/contracts.md lists the fields)")
    return conf


def _bounded_int(conf: Mapping[str, Any], key: str, maximum: int, zero_means: str) -> int:
    value = conf[key]
    # bool is an int subclass: `true` in JSON is a mistake here, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidRunConf(f"{key} must be a whole number from 0 to {maximum} ({zero_means}), got {value!r}")
    return value


def _unknown(conf: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    # Tolerated (a newer trigger may send more) but reported, so a misspelt optional field is noticed.
    return tuple(sorted(str(k) for k in conf if k not in keys))
