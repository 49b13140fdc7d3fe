"""`mwaa-hibernate estimate`: what hibernating an environment on a schedule saves."""

from __future__ import annotations

import typer


def estimate() -> None:
    """Estimate monthly cost always on versus hibernated."""
    raise typer.Exit(code=2)
