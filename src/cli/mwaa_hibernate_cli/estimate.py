"""`mwaa-hibernate estimate`: what hibernating an environment on a schedule saves in a month."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer
from mwaa_hibernate.estimate import (
    DEFAULT_CREATE_MINUTES,
    DEFAULT_DELETE_MINUTES,
    DEFAULT_RETAINED_SNAPSHOTS,
    InvalidEstimateInput,
    SavingsEstimate,
    estimate_savings,
)
from mwaa_hibernate.pricing import EstimateError, resolve_prices
from rich.console import Console
from rich.table import Table

# Exit code for an estimate that cannot be made (bad input, no price): Click's own code for a usage error.
EXIT_INVALID = 2

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

_ROWS = (
    ("environment", "Environment hours"),
    ("extra_workers", "Extra workers"),
    ("extra_schedulers", "Extra schedulers"),
    ("extra_webservers", "Extra web servers"),
    ("metadata_storage", "Metadata database storage"),
    ("snapshot_storage", "Snapshots in S3"),
    ("step_functions", "Step Functions transitions"),
    ("lambda_", "Lambda"),
    ("s3_requests", "S3 requests"),
    ("kms", "KMS key and requests"),
    ("scheduler", "EventBridge Scheduler"),
)


def estimate(
    environment_class: Annotated[
        str, typer.Option("--environment-class", help="mw1.small, mw1.medium, mw1.large, ...")
    ],
    hibernate: Annotated[str, typer.Option("--hibernate", help='When to hibernate, e.g. "cron(0 19 ? * MON-FRI *)".')],
    wake: Annotated[str, typer.Option("--wake", help='When to wake, e.g. "cron(30 7 ? * MON-FRI *)".')],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone of both schedules.")] = "UTC",
    region: Annotated[str, typer.Option("--region", help="AWS region of the environment.")] = "us-east-1",
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM in the schedules' time zone; default: next full month.")
    ] = None,
    extra_workers: Annotated[
        float, typer.Option("--extra-workers", min=0, help="Average workers above the included one.")
    ] = 0,
    extra_schedulers: Annotated[int, typer.Option("--extra-schedulers", min=0)] = 0,
    extra_webservers: Annotated[int, typer.Option("--extra-webservers", min=0)] = 0,
    create_minutes: Annotated[
        float, typer.Option("--create-minutes", min=0, help="Billed minutes from wake to AVAILABLE.")
    ] = DEFAULT_CREATE_MINUTES,
    delete_minutes: Annotated[
        float, typer.Option("--delete-minutes", min=0, help="Billed minutes from hibernate to deleted.")
    ] = DEFAULT_DELETE_MINUTES,
    storage_gb: Annotated[float, typer.Option("--storage-gb", min=0, help="Metadata database size.")] = 0.0,
    snapshot_gb: Annotated[float, typer.Option("--snapshot-gb", min=0, help="Compressed size of one snapshot.")] = 0.0,
    retained_snapshots: Annotated[
        int, typer.Option("--retained-snapshots", min=0, help="Snapshots kept in S3.")
    ] = DEFAULT_RETAINED_SNAPSHOTS,
    live: Annotated[bool, typer.Option("--live", help="Ask the AWS Price List API, not the built-in table.")] = False,
    price_per_hour: Annotated[
        float | None, typer.Option("--price-per-hour", help="Environment price in USD per hour (overrides).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
) -> None:
    """Estimate monthly cost always on versus hibernated on a schedule, counting creation and deletion as billed."""
    try:
        prices = resolve_prices(
            environment_class=environment_class, region=region, live=live, price_per_hour=price_per_hour
        )
        result = estimate_savings(
            prices=prices,
            hibernate=hibernate,
            wake=wake,
            timezone=timezone,
            month=_parse_month(month),
            extra_workers=extra_workers,
            extra_schedulers=extra_schedulers,
            extra_webservers=extra_webservers,
            create_minutes=create_minutes,
            delete_minutes=delete_minutes,
            storage_gb=storage_gb,
            snapshot_gb=snapshot_gb,
            retained_snapshots=retained_snapshots,
        )
    except EstimateError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=EXIT_INVALID) from exc
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _render(result, Console())


def _parse_month(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = _MONTH.match(text)
    if not match:
        raise InvalidEstimateInput(f"--month {text!r} must be YYYY-MM, e.g. 2027-03")
    return int(match.group(1)), int(match.group(2))


def _render(result: SavingsEstimate, console: Console) -> None:
    console.print(
        f"[bold]{result.environment_class}[/] in {result.region}, {result.month} ({result.timezone}): "
        f"wake {result.wake}, hibernate {result.hibernate}"
    )
    hours = Table(show_header=False, box=None, pad_edge=False)
    hours.add_row("Hours in the month", f"{result.hours_in_month:,.2f}")
    hours.add_row("Hours usable (AVAILABLE by schedule)", f"{result.usable_hours:,.2f}")
    hours.add_row(
        f"Hours billed (incl. {result.create_minutes:g} min create, {result.delete_minutes:g} min delete)",
        f"{result.billed_hours:,.2f}",
    )
    hours.add_row("Wake / hibernate cycles", str(result.cycles))
    console.print(hours)

    costs = Table(title="Monthly cost (USD)")
    costs.add_column("Component")
    costs.add_column("Always on", justify="right")
    costs.add_column("Hibernated", justify="right")
    for attribute, label in _ROWS:
        always, hibernated = getattr(result.always_on, attribute), getattr(result.hibernated, attribute)
        if always or hibernated:
            costs.add_row(label, _usd(always), _usd(hibernated))
    costs.add_row("[bold]Total", f"[bold]{_usd(result.always_on.total)}", f"[bold]{_usd(result.hibernated.total)}")
    console.print(costs)
    console.print(
        f"[bold green]Saving: {_usd(result.savings_usd)} a month ({result.savings_percent:.1f}%)[/]"
        f"  [dim](naive hours-only figure: {result.naive_savings_percent:.1f}%)[/]"
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(f"[dim]Prices: {result.price_source}. Orchestration: {result.orchestration_price_source}.[/]")


def _usd(amount: float) -> str:
    return f"${amount:,.2f}"
