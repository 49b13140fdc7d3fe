"""Record, pause and restore every DAG's paused state, exactly, through a `Backend`.

The record's format and the rule for putting it back belong to `mwaa_hibernate_snapshot.paused_state`;
this module runs them against the environment's database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from mwaa_hibernate_snapshot.manifest import PAUSED_STATE_NAME
from mwaa_hibernate_snapshot.paused_state import (
    PauseChanges,
    changes,
    read_paused_state,
    to_unpause,
    write_paused_state,
)
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

if TYPE_CHECKING:
    from mwaa_hibernate_snapshot.store import SnapshotStore

    from mwaa_hibernate_runtime.backend import Backend

log = logging.getLogger(__name__)


def record_paused_states(*, backend: Backend, store: SnapshotStore) -> dict[str, bool]:
    """Write every DAG's paused state into the snapshot folder, unless a record is already there.

    An existing record wins: it was written before this snapshot's cycle paused anything, whereas the
    database may by now hold the paused states of an earlier attempt of the same cycle.
    """
    existing = read_paused_state(store)
    if existing is not None:
        log.info("keeping the paused-state record already in %s (%d DAGs)", store.uri, len(existing))
        return existing
    states = backend.dag_paused_states()
    write_paused_state(store, states)
    active = sum(not paused for paused in states.values())
    log.info(
        "recorded the paused state of %d DAGs (%d active) in %s%s", len(states), active, store.uri, PAUSED_STATE_NAME
    )
    return states


def pause_all_dags(*, backend: Backend, keep: Iterable[str] = HIBERNATION_DAG_IDS) -> list[str]:
    """Pause every active DAG except `keep` (the hibernation DAGs); return the ids paused now."""
    kept = set(keep)
    to_pause = sorted(d for d, paused in backend.dag_paused_states().items() if not paused and d not in kept)
    backend.set_paused(to_pause, True)
    log.info("paused %d DAGs: %s", len(to_pause), ", ".join(to_pause) or "(none were active)")
    return to_pause


def apply_paused_states(
    *, backend: Backend, record: Mapping[str, bool], skip: Iterable[str] = HIBERNATION_DAG_IDS
) -> PauseChanges:
    """Set each recorded DAG's paused state exactly as recorded (`paused_state.changes` decides)."""
    todo = changes(record, backend.dag_paused_states(), skip)
    backend.set_paused(todo.paused, True)
    backend.set_paused(todo.unpaused, False)
    if todo.missing:
        log.warning(
            "%d recorded DAGs have no row in this database and keep no paused state: %s",
            len(todo.missing),
            ", ".join(todo.missing),
        )
    log.info("paused-state record applied: %d paused, %d unpaused", len(todo.paused), len(todo.unpaused))
    return todo


def undo_pause(
    *, backend: Callable[[], Backend], record: Mapping[str, bool] | None, reason: Callable[[BaseException], str]
) -> str:
    """After a failed export: put every DAG back as recorded; return the sentence that says what was done.

    `backend` is called only when there is a record to apply (the carrier may be what failed). Raises
    `UndoFailed` (carrying the sentence that lists the DAGs to unpause by hand) when putting them back fails.
    """
    if record is None:
        return "No DAG had been paused yet, so every DAG keeps its paused state."
    try:
        undone = apply_paused_states(backend=backend(), record=record)
    except Exception as exc:
        active = to_unpause(record)
        raise UndoFailed(
            f"Restoring the DAGs' paused states ALSO failed ({reason(exc)}): unpause these DAGs by hand: "
            f"{', '.join(active) or '(none were active)'}."
        ) from exc
    return (
        f"Every DAG's paused state was restored as recorded before the export "
        f"({len(undone.unpaused)} DAG(s) unpaused again); the environment was not deleted."
    )


class UndoFailed(Exception):
    """Putting the DAGs' paused states back failed; the message lists the DAGs to unpause by hand."""
