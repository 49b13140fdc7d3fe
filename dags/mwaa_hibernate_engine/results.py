"""What the engine's entry points report back, and how they report progress while they work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

# progress(phase, table, rows): called after each table of a phase ("export", "verify", "load", "insert")
# with the table name and the rows it held. The CLI drives a progress bar with it; the DAGs heartbeat.
Progress = Callable[[str, str, int], None]


def no_progress(phase: str, table: str, rows: int) -> None:
    """The default progress callback: nothing to report to."""


@dataclass(frozen=True)
class RestoreResult:
    """Outcome of `restore_snapshot`. `already_restored` means a previous run did the work: nothing changed."""

    snapshot_id: str
    tables: int
    rows: int
    seconds: float
    already_restored: bool = False
    dags_unpaused: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dags_unpaused"] = list(self.dags_unpaused)
        return data
