"""How long work reports progress: the CLI drives a progress bar with it, the DAGs heartbeat."""

from __future__ import annotations

from collections.abc import Callable

# progress(phase, table, rows): called after each table of a phase ("export", "verify", "load", "insert")
# with the table name and the rows it held.
Progress = Callable[[str, str, int], None]


def no_progress(phase: str, table: str, rows: int) -> None:
    """The default progress callback: nothing to report to."""
