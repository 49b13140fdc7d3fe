"""The paused-state record: each DAG's `is_paused` as it was before the export DAG paused everything.

The export DAG writes it into the snapshot folder before exporting (so the manifest covers it); the
restore applies it to the `dag` table, and the export DAG reads it back to undo its pause on failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from mwaa_hibernate_engine.errors import ManifestCorrupt
from mwaa_hibernate_engine.manifest import PAUSED_STATE_NAME
from mwaa_hibernate_engine.store import SnapshotStore


def write_paused_state(store: SnapshotStore, states: Mapping[str, bool]) -> None:
    """Store `{dag_id: is_paused}` as `dag_paused_state.json` (sorted, so the file is reproducible)."""
    body = {"dags": {dag_id: bool(paused) for dag_id, paused in sorted(states.items())}}
    store.put_bytes(PAUSED_STATE_NAME, json.dumps(body, indent=1).encode())


def read_paused_state(store: SnapshotStore) -> dict[str, bool] | None:
    """The stored record, or None when the snapshot has none (e.g. exported by the CLI, which pauses nothing)."""
    if not store.exists(PAUSED_STATE_NAME):
        return None
    return parse_paused_state(store.get_bytes(PAUSED_STATE_NAME))


def parse_paused_state(data: bytes) -> dict[str, bool]:
    try:
        dags = json.loads(data)["dags"]
        if not all(isinstance(k, str) and isinstance(v, bool) for k, v in dags.items()):
            raise ValueError("entries must be dag_id -> true/false")
        return dict(dags)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestCorrupt(f"{PAUSED_STATE_NAME} is unreadable ({exc}): the snapshot cannot be used") from exc
