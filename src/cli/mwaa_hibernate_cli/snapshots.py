"""`mwaa-hibernate snapshots list|show|verify|prune`: what a deployment's bucket holds, per snapshot.

Each command names its deployment with --stack or --environment (see `deployment`), prints a table or,
with --json, one JSON document, and exits with a code from `exits`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from mwaa_hibernate import snapshots
from mwaa_hibernate.aws import error_code
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from mwaa_hibernate_cli import catalog
from mwaa_hibernate_cli.deployment import (
    SNAPSHOTS_TO_KEEP_PARAMETER,
    Deployment,
    EnvironmentOption,
    ProfileOption,
    RegionOption,
    StackOption,
    resolve,
)
from mwaa_hibernate_cli.errors import CliError
from mwaa_hibernate_cli.exits import EXIT_NOT_FOUND, EXIT_USAGE
from mwaa_hibernate_cli.output import JsonOption, print_json, reported, size_text, stderr, stdout

app = typer.Typer(help="What the snapshot bucket holds: list, show, verify and prune snapshots.", no_args_is_help=True)


@app.command("list")
def list_command(
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every snapshot of the environment, oldest first: complete, verified, latest, rows and size."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        with _bucket(deployment):
            found = catalog.list_snapshots(
                environment=deployment.environment, bucket=deployment.bucket, s3=session.client("s3")
            )
    if as_json:
        print_json({"environment": deployment.environment, "snapshots": [s.to_json() for s in found]})
        return
    if not found:
        stdout().print(f"No snapshots of {deployment.environment} in s3://{deployment.bucket}/ yet.")
        return
    table = Table(title=f"Snapshots of {deployment.environment} (s3://{deployment.bucket}/)")
    for column in ("Snapshot", "Created", "Complete", "Verified", "Airflow", "Tables", "Rows", "Size", ""):
        table.add_column(
            column, justify="right" if column in ("Tables", "Rows", "Size") else "left", no_wrap=column == "Snapshot"
        )
    for s in found:
        marks = ", ".join(m for m, on in (("latest", s.latest), ("owed a restore", s.owed_restore)) if on)
        table.add_row(
            s.snapshot_id,
            s.created_at,
            "yes" if s.complete else "[yellow]no[/]",
            "yes" if s.verified else "-",
            s.airflow_version or "-",
            _number(s.tables),
            _number(s.rows),
            size_text(s.bytes),
            f"[red]{s.problem}[/]" if s.problem else marks,
        )
    stdout().print(table)


@app.command("show")
def show_command(
    snapshot_id: Annotated[str, typer.Argument(help="The snapshot id (YYYYMMDDTHHMMSSZ), from `snapshots list`.")],
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """One snapshot: its tables, encryption, timings, excluded DAGs and the saved environment configuration."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        with _bucket(deployment):
            details = catalog.show_snapshot(
                environment=deployment.environment,
                bucket=deployment.bucket,
                snapshot_id=snapshot_id,
                s3=session.client("s3"),
            )
    if as_json:
        print_json(details.to_json())
        return
    _render_details(details)


@app.command("verify")
def verify_command(
    snapshot_id: Annotated[str | None, typer.Argument(help="The snapshot id; default: the latest.")] = None,
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read a snapshot through: every file's size and sha256, and every table's row count. Exit 3 if damaged."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        s3 = session.client("s3")
        where = {"environment": deployment.environment, "bucket": deployment.bucket, "s3": s3}
        with _bucket(deployment):
            chosen = snapshot_id or catalog.latest_or_fail(**where)
            catalog.require_snapshot(snapshot_id=chosen, **where)
            with _progress(f"Verifying {chosen}", quiet=as_json) as progress:
                result = snapshots.verify(snapshot_id=chosen, count_rows=True, progress=progress, **where)
    result = {**result, "valid": True, "rows_counted": True}
    if as_json:
        print_json(result)
        return
    stdout().print(
        f"[bold green]Snapshot {chosen} is complete and intact:[/] {result['files']} files, "
        f"{result['rows']:,} rows counted, {size_text(result['bytes'])}; every checksum matches the manifest."
    )


@app.command("prune")
def prune_command(
    keep: Annotated[
        int | None,
        typer.Option("--keep", min=1, help=f"Snapshots to keep; default: the stack's {SNAPSHOTS_TO_KEEP_PARAMETER}."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete old snapshots by the hibernation's own rule: never the latest, nothing newer, nothing a wake owes."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        count = keep or deployment.snapshots_to_keep
        if count is None:
            raise CliError(
                f"Stack {deployment.stack_name} does not say how many snapshots to keep "
                f"({SNAPSHOTS_TO_KEEP_PARAMETER}): pass --keep N.",
                EXIT_USAGE,
            )
        where = {"environment": deployment.environment, "bucket": deployment.bucket, "s3": session.client("s3")}
        with _bucket(deployment):
            plan = snapshots.prune(keep=count, dry_run=True, **where)
            apply = bool(plan["deleted"]) and not dry_run
            if apply and not yes:
                if as_json:
                    raise CliError("Pruning deletes snapshots: with --json, pass --yes (or --dry-run).", EXIT_USAGE)
                _show_prune(plan, deployment, count, planned=True)
                if not typer.confirm(f"Delete {len(plan['deleted'])} snapshot(s)?", default=False, err=True):
                    stderr().print("Nothing deleted.")
                    raise typer.Exit(0)
            result = snapshots.prune(keep=count, **where) if apply else plan
    document = {"environment": deployment.environment, "keep": count, "dry_run": not apply, **result}
    if as_json:
        print_json(document)
        return
    _show_prune(result, deployment, count, planned=not apply)


# --- helpers -------------------------------------------------------------------------------------


class _bucket:
    """A missing snapshot bucket becomes a sentence naming the stack output it came from."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        cause = exc if isinstance(exc, ClientError) else getattr(exc, "__cause__", None)
        if isinstance(cause, ClientError) and error_code(cause) == "NoSuchBucket":
            raise CliError(
                f"The snapshot bucket {self.deployment.bucket} (output SnapshotBucketName of stack "
                f"{self.deployment.stack_name}) does not exist: it was deleted by hand, or the stack is half-deleted. "
                "Redeploy the stack to recreate it; the snapshots in it are gone.",
                EXIT_NOT_FOUND,
            ) from exc


class _progress:
    """A progress line on stderr while files are read; silent with --json or when stderr is not a terminal."""

    def __init__(self, description: str, *, quiet: bool) -> None:
        console = stderr()
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        self.bar = Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal)
        self.description = description

    def __enter__(self) -> Any:
        self.bar.__enter__()
        task = self.bar.add_task(self.description, total=None)

        def update(phase: str, table: str, rows: int) -> None:
            self.bar.update(task, advance=1, description=f"{self.description}: {table} ({rows:,} rows)")

        return update

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)


def _show_prune(result: dict[str, list[str]], deployment: Deployment, keep: int, *, planned: bool) -> None:
    verb = "Would delete" if planned else "Deleted"
    console = stdout()
    if not result["deleted"]:
        console.print(
            f"Nothing to prune: {deployment.environment} keeps {len(result['kept'])} snapshot(s) (--keep {keep})."
        )
        return
    console.print(
        f"{verb} {len(result['deleted'])} snapshot(s) of {deployment.environment}: {', '.join(result['deleted'])}"
    )
    console.print(f"Kept ({len(result['kept'])}): {', '.join(result['kept'])}")


def _render_details(details: catalog.SnapshotDetails) -> None:
    s = details.summary
    console = stdout()
    state = "complete" if s.complete else "[yellow]incomplete (no manifest: the export did not finish)[/]"
    marks = [m for m, on in (("verified", s.verified), ("latest", s.latest), ("owed a restore", s.owed_restore)) if on]
    console.print(
        f"[bold]Snapshot {s.snapshot_id}[/] created {s.created_at}: {state}{'; ' if marks else ''}{', '.join(marks)}"
    )
    if s.problem:
        console.print(f"[red]{s.problem}[/]")
    if details.tables:
        table = Table(title="Tables")
        for column in ("Table", "Kind", "Rows", "Size", "Seconds"):
            table.add_column(column, justify="left" if column in ("Table", "Kind") else "right")
        for t in details.tables:
            table.add_row(t.table, t.kind or "-", _number(t.rows), size_text(t.bytes), _number(t.seconds))
        table.add_row(
            "[bold]total",
            "",
            f"[bold]{_number(s.rows)}",
            f"[bold]{size_text(s.bytes)}",
            _number(details.timings.get("seconds")),
        )
        console.print(table)
        facts = Table(show_header=False, box=None)
        facts.add_row("Airflow", f"{s.airflow_version or '-'} (alembic {details.alembic_revision or '-'})")
        facts.add_row("Encryption", ", ".join(f"{k}={v}" for k, v in details.encryption.items()) or "-")
        facts.add_row("Started", str(details.timings.get("started_at", "-")))
        facts.add_row("Excluded DAGs", ", ".join(details.excluded_dag_ids) or "-")
        facts.add_row("Paused state saved", "yes" if details.paused_state_saved else "no")
        console.print(facts)
    if details.configuration:
        config = Table(title="Saved environment configuration", show_header=False)
        for key, value in details.configuration.items():
            config.add_row(key, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
        console.print(config)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
