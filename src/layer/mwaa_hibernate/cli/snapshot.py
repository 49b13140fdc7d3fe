"""`mwaa-hibernate snapshot export|restore|verify`: the snapshot engine for operators and self-managed Airflow."""

from __future__ import annotations

import typer

app = typer.Typer(help="Export, restore and verify metadata-database snapshots directly.", no_args_is_help=True)
