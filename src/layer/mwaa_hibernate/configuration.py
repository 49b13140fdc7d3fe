"""The saved configuration (environment.json) at rest: its AirflowConfigurationOptions values sealed (issue 11).

Configuration options can hold secrets (a secrets backend's credentials, SMTP passwords). The save function seals
every option's value with a data key drawn from the stack's KMS key (encryption context: purpose
`saved-configuration` and the snapshot id), each value bound by AES-GCM associated data to the environment,
snapshot and option name, so values cannot be swapped between options or configurations. Option names and every
other field stay readable (the CLI shows them; none is secret). `snapshots.load_configuration` is the one reader:
it checks the stored bytes' digest, then opens the values.
"""

from __future__ import annotations

from typing import Any

from mwaa_hibernate_snapshot import KmsCipher

OPTIONS = "AirflowConfigurationOptions"
SEALED = "MwaaHibernateSealed"
PURPOSE = "saved-configuration"


def _bound(environment: str, snapshot_id: str, option: str) -> str:
    return f"{environment}/{snapshot_id}/{OPTIONS}/{option}"


def seal(saved: dict[str, Any], *, environment: str, snapshot_id: str, kms_key_arn: str, kms: Any) -> dict[str, Any]:
    """The GetEnvironment output with every configuration option's value sealed."""
    options = saved.get(OPTIONS) or {}
    if not options:
        return dict(saved)
    box, block = KmsCipher(kms_key_arn, client=kms, purpose=PURPOSE).new_box(snapshot_id=snapshot_id)
    sealed = {name: box.seal(str(value), _bound(environment, snapshot_id, name)) for name, value in options.items()}
    return {**saved, OPTIONS: sealed, SEALED: {**block, "fields": [OPTIONS]}}


def open_sealed(stored: dict[str, Any], *, environment: str, snapshot_id: str, kms: Any) -> dict[str, Any]:
    """The configuration as GetEnvironment returned it (a configuration saved before sealing is returned as is)."""
    block = stored.get(SEALED)
    if not block:
        return stored
    box = KmsCipher(block.get("kms_key_id"), client=kms, purpose=PURPOSE).open_box(block, snapshot_id=snapshot_id)
    opened = {name: box.open(token, _bound(environment, snapshot_id, name)) for name, token in stored[OPTIONS].items()}
    return {**{k: v for k, v in stored.items() if k != SEALED}, OPTIONS: opened}
