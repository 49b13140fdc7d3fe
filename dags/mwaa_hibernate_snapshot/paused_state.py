"""Each DAG's paused state before the export paused everything: the record, and the one rule for putting it back.

The start-stop sample lost one active DAG per cycle because its record was written one way and read
another. Here the export DAG writes the record (`{dag_id: is_paused}` for every DAG) into the snapshot
folder before anything is paused, and every place that puts paused states back (the restore, inside its
transaction; the export DAG undoing its pause after a failure; the Lambda function that unpauses DAGs
after a failed hibernation) decides what to change with `changes` or `to_unpause` below, and only
executes it in its own way (SQL or the REST API).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from mwaa_hibernate_snapshot.errors import ManifestCorrupt
from mwaa_hibernate_snapshot.manifest import PAUSED_STATE_NAME
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS
from mwaa_hibernate_snapshot.store import SnapshotStore

# DAG ids per UPDATE ... IN (...) or bulk API call: well under SQLite's bound-parameter limit, few round trips.
UPDATE_BATCH = 500

_T = TypeVar("_T")


@dataclass(frozen=True)
class PauseChanges:
    """What putting a record back changes: DAGs to pause, to unpause, and recorded DAGs that no longer exist."""

    paused: list[str] = field(default_factory=list)
    unpaused: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def changes(
    record: Mapping[str, bool], current: Mapping[str, bool], skip: Iterable[str] = HIBERNATION_DAG_IDS
) -> PauseChanges:
    """The changes that make every recorded DAG's paused state what the record says.

    DAGs in `skip` are left alone (pausing the hibernation DAG that is running would stop its own run);
    DAGs without a record (new since it was taken) keep their current state.
    """
    skipped = set(skip)
    wanted = {d: bool(p) for d, p in record.items() if d not in skipped}
    return PauseChanges(
        paused=sorted(d for d, p in wanted.items() if p and d in current and not current[d]),
        unpaused=sorted(d for d, p in wanted.items() if not p and d in current and current[d]),
        missing=sorted(d for d in wanted if d not in current),
    )


def to_unpause(record: Mapping[str, bool], skip: Iterable[str] = HIBERNATION_DAG_IDS) -> list[str]:
    """The DAGs the record says were active: all a failed hibernation must unpause (it paused nothing else)."""
    skipped = set(skip)
    return sorted(d for d, paused in record.items() if not paused and d not in skipped)


def batches(items: list[_T], size: int = UPDATE_BATCH) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
