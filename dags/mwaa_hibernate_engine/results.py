"""What the engine's restore reports back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
