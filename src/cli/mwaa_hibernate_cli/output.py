"""Output for the operations commands: Rich for people on stdout, `--json` for scripts, errors on stderr.

With `--json`, stdout carries exactly one JSON document (the result, or `{"error", "exit_code"}`), so a
script can parse it whatever happened; the sentence for a person still goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from mwaa_hibernate.exceptions import MwaaHibernateError
from rich.console import Console

from mwaa_hibernate_cli.errors import CliError, from_aws, from_domain

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document (for scripts).")]


def stdout() -> Console:
    """A console on the current stdout (made per call, so test runners that swap sys.stdout see it)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def size_text(value: int | None) -> str:
    """Bytes for a person: "812 B", "10.7 KiB", "3.2 GiB"; "-" when unknown."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GiB"


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=_default) + os.linesep)
    sys.stdout.flush()


def fail(error: CliError, *, as_json: bool) -> None:
    """Print the error for a person (stderr) and, with --json, for a script (stdout); exit with its code."""
    stderr().print(f"[bold red]error:[/] {error}")
    if as_json:
        print_json({"error": str(error), "exit_code": error.exit_code})
    raise typer.Exit(error.exit_code)


@contextmanager
def reported(*, as_json: bool, profile: str | None = None) -> Iterator[None]:
    """Turn CliError, the package's errors and AWS errors raised inside into a sentence and the documented exit
    code. An AWS error the snapshot engine wrapped (reading a snapshot) is explained as the AWS error it is."""
    try:
        yield
    except CliError as exc:
        fail(exc, as_json=as_json)
    except MwaaHibernateError as exc:
        fail(from_domain(exc), as_json=as_json)
    except (ClientError, BotoCoreError) as exc:
        fail(from_aws(exc, profile=profile), as_json=as_json)
    except Exception as exc:
        if isinstance(exc.__cause__, ClientError | BotoCoreError):
            fail(from_aws(exc.__cause__, profile=profile), as_json=as_json)
        raise
