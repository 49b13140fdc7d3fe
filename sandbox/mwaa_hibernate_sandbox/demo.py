"""`make demo`: a full hibernate and wake cycle, offline, shown step by step.

    python -m mwaa_hibernate_sandbox.demo [--airflow-version V] [--carrier task|api-server] [--keep]
        [--fail-at STEP | --adaptive]

Starts the sandbox (moto with the template deployed, the MWAA stand-in on real Airflow), creates an
environment and fills it with history, runs the hibernate state machine, shows the snapshot, runs the
wake state machine, compares the restored database with the one before, table by table, and ends
with what the schedule in samconfig.toml would save on AWS. Exits 1 if anything differs.

On Airflow 3 (``--airflow-version 3.3.1``) the environment is set up with `mwaa-hibernate install-dags`, which
finds the carrier; ``--carrier api-server`` takes the database credentials away from the workers, so
install-dags installs the API-server plugin and the cycle runs through it.

``--fail-at STEP`` injects a failure at one step instead and shows the invariants that must hold.
``--adaptive`` deploys the stack with ``ScheduleMode=ADAPTIVE`` and shows one adaptive cycle instead, on the real
clock (about twelve minutes): DAGs due a few minutes ahead, a person hibernates, the schedule wakes the environment
before the first run and hibernates it after the last (``mwaa_hibernate_sandbox.adaptive_cycle``).
``--keep`` leaves the sandbox running until Ctrl-C and publishes its endpoints in `.sandbox/running.json`
meanwhile, so `make invoke` can run one function against it (``mwaa_hibernate_sandbox.invoke``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from mwaa_hibernate import layout
from mwaa_hibernate_snapshot.carrier import API_SERVER, TASK
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from mwaa_hibernate_sandbox import adaptive_cycle, cycle, invoke, seed
from mwaa_hibernate_sandbox.compare import Comparison, compare_databases
from mwaa_hibernate_sandbox.executions import ExecutionResult, Step
from mwaa_hibernate_sandbox.sandbox import DEFAULT_ENVIRONMENT, Sandbox
from mwaa_hibernate_sandbox.template import SamTemplate, project_root

log = logging.getLogger(__name__)

AIRFLOW_BIN_VARIABLE = "MWAA_HIBERNATE_AIRFLOW_BIN"
# The demo's Airflow when none is asked for: the newest Airflow 2, whose path (tasks reach the database
# in-process) holds on MWAA without the assumptions Airflow 3 still needs a real environment to confirm
# (README, "Airflow 3"); `--airflow-version 3.3.1` shows Airflow 3.
DEFAULT_AIRFLOW = "2.11.2"
# Where the demo keeps its Airflow homes and its log (ignored by git, removed by `make clean`).
STATE_FOLDER = ".sandbox"


class DemoError(RuntimeError):
    """The demo cannot run as asked (say what to do)."""


def airflow_bin_for(version: str | None, *, default: str | None = None) -> Path:
    """The bin folder of an Airflow venv: the asked version, $MWAA_HIBERNATE_AIRFLOW_BIN, `default` when its
    venv exists, or the newest."""
    venvs = project_root() / ".venvs"
    if version:
        candidate = venvs / f"airflow-{version}" / "bin"
        if not (candidate / "airflow").exists():
            found = ", ".join(sorted(p.parent.name for p in venvs.glob("airflow-*/bin"))) or "none"
            raise DemoError(f"no Airflow {version} venv at {candidate} (found: {found}); run `make env`")
        return candidate
    if configured := os.environ.get(AIRFLOW_BIN_VARIABLE):
        return Path(configured)
    if default and (venvs / f"airflow-{default}" / "bin" / "airflow").exists():
        return venvs / f"airflow-{default}" / "bin"

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    found = sorted(venvs.glob("airflow-*/bin"), key=version_key)
    if not found:
        raise DemoError("no Airflow venv under .venvs/: run `make env` first")
    return found[-1]


def schedule_settings() -> dict[str, str]:
    """HibernateSchedule, WakeSchedule and ScheduleTimezone: samconfig.toml's, else the template's defaults."""
    values = {name: param.default or "" for name, param in SamTemplate.load().parameters.items()}
    samconfig = project_root() / "samconfig.toml"
    if samconfig.is_file():
        deploy = tomllib.loads(samconfig.read_text()).get("default", {}).get("deploy", {}).get("parameters", {})
        overrides = deploy.get("parameter_overrides", [])
        # A list of "Key=Value" strings, or one string of them separated by spaces (values quoted as needed).
        for item in shlex.split(overrides) if isinstance(overrides, str) else overrides:
            key, _, value = item.partition("=")
            values[key] = value
    return {key: values[key] for key in ("HibernateSchedule", "WakeSchedule", "ScheduleTimezone")}


class Demo:
    def __init__(self, console: Console, sandbox: Sandbox) -> None:
        self.console = console
        self.sandbox = sandbox
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, title: str) -> Iterator[None]:
        self.console.rule(f"[bold]{title}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[title] = time.monotonic() - started

    # ----- output pieces -----

    def show_step(self, step: Step, finished: bool) -> None:
        if not finished:
            if step.state_type == "Task":
                self.console.print(f"  [dim]… {step.name}[/]")
            return
        seconds = f"{step.seconds:6.1f}s" if step.seconds is not None else "      "
        if step.failed:
            cause = (step.cause or "").replace("\n", " ")[:240]
            self.console.print(f"  [red]✗[/] {seconds}  {step.name}: [red]{step.error}[/] {cause}")
        else:
            self.console.print(f"  [green]✓[/] {seconds}  {step.name}")

    def show_execution(self, name: str, result: ExecutionResult) -> None:
        colour = "green" if result.succeeded else "red"
        line = f"{name} execution [{colour}]{result.status}[/] in {result.seconds:.1f}s"
        if result.error:
            line += f": {result.error}"
        self.console.print(line)

    def install_dags(self) -> None:
        """Airflow 3: `mwaa-hibernate install-dags`, which probes the carriers (and installs the plugin if needed)."""
        import typer
        from mwaa_hibernate_cli import app

        command = ["install-dags", "--environment", self.sandbox.environment_name, "--region", self.sandbox.region]
        self.console.print(f"[dim]$ mwaa-hibernate {' '.join(command)}[/]")
        with redirect_stdout(self.console.file):
            typer.main.get_command(app).main(command, prog_name="mwaa-hibernate", standalone_mode=False)

    def show_carrier(self) -> None:
        """Which carrier the last probe chose, from the stack's carrier.json."""
        record = cycle.read_json(self.sandbox, layout.carrier_key(self.sandbox.environment_name)) or {}
        probe = (record.get("probes") or {}).get(record.get("carrier") or "", {})
        self.console.print(
            f"reached the metadata database through the [bold]{record.get('carrier')}[/] carrier: {probe.get('detail')}"
        )

    def show_seed(self, report: seed.SeedReport) -> None:
        table = Table(title="History made through Airflow's REST API (InvokeRestApi)", title_justify="left")
        for column in ("DAG run", "state", "DAG", "paused now"):
            table.add_column(column)
        for run in seed.RUNS:
            table.add_row(
                run.run_id, report.runs.get(run.run_id, "?"), run.dag_id, _paused(report.paused.get(run.dag_id))
            )
        self.console.print(table)
        never_run = [dag_id for dag_id in report.paused if dag_id not in {run.dag_id for run in seed.RUNS}]
        self.console.print(
            f"{report.variables} variables (one secret), {report.connections} connections with passwords and extras, "
            f"pool {seed.POOL['name']}; never run: {', '.join(never_run)} (paused)"
        )

    def show_snapshot(self, listing: cycle.SnapshotListing) -> None:
        rows = listing.rows_by_table()
        table = Table(title=f"Snapshot {listing.snapshot_id} in s3://{self.sandbox.stack.bucket}", title_justify="left")
        table.add_column("object")
        table.add_column("bytes", justify="right")
        table.add_column("rows", justify="right")
        empty = []
        for item in listing.objects:
            name = item.key.removeprefix("tables/").removesuffix(".csv.gz")
            if rows.get(name, -1) == 0:
                empty.append(item)
                continue
            table.add_row(item.key, f"{item.size:,}", f"{rows[name]:,}" if name in rows else "")
        if empty:
            table.add_row(f"[dim]{len(empty)} empty tables (header only)", f"{sum(i.size for i in empty):,}", "0")
        table.add_row("[bold]total", f"[bold]{listing.bytes:,}", f"[bold]{sum(rows.values()):,}")
        self.console.print(table)

    def show_comparison(self, comparison: Comparison) -> None:
        table = Table(title="Restored database vs. the one before hibernation", title_justify="left")
        for column, justify in (("table", "left"), ("kind", "left"), ("before", "right"), ("after", "right")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        table.add_column("written by the cycle", justify="right")
        table.add_column("result")
        for item in comparison.tables:
            verdict = (
                "[green]identical" if item.identical else f"[red]{item.missing} missing, {item.unexpected} unexpected"
            )
            table.add_row(item.table, item.kind, str(item.before), str(item.after), str(item.cycle_rows or ""), verdict)
        self.console.print(table)
        self.console.print(
            f"[dim]Not restored (the new environment owns them): {', '.join(sorted(comparison.not_restored))}[/]"
        )
        paused = Table(title="Paused states", title_justify="left")
        for column in ("DAG", "before hibernation", "after wake", ""):
            paused.add_column(column)
        for dag_id in sorted(set(comparison.paused_before) | set(comparison.paused_after)):
            before, after = comparison.paused_before.get(dag_id), comparison.paused_after.get(dag_id)
            paused.add_row(dag_id, _paused(before), _paused(after), "[green]=" if before == after else "[red]≠")
        self.console.print(paused)
        for difference in comparison.differences():
            self.console.print(f"[red]✗ {difference}")

    def show_invariants(self, invariants: list[cycle.Invariant]) -> None:
        table = Table(title="Invariants after the injected failure", title_justify="left")
        table.add_column("")
        table.add_column("invariant")
        table.add_column("observed")
        for item in invariants:
            table.add_row("[green]✓" if item.held else "[red]✗", item.name, item.detail)
        self.console.print(table)

    def show_alerts(self, alerts: list[Any]) -> None:
        for alert in alerts:
            body = alert.message if len(alert.message) < 1500 else alert.message[:1500] + " …"
            self.console.print(
                Panel(body, title=f"SNS alert: {alert.subject or '(no subject)'}", border_style="yellow")
            )

    def show_times(self) -> None:
        table = Table(title="Time per phase", title_justify="left")
        table.add_column("phase")
        table.add_column("seconds", justify="right")
        for title, seconds in self.phases.items():
            table.add_row(title, f"{seconds:.1f}")
        table.add_row("[bold]total", f"[bold]{sum(self.phases.values()):.1f}")
        self.console.print(table)

    def show_status(self) -> None:
        """What an operator sees next: `mwaa-hibernate status` on this stack (moto and the stand-in answer)."""
        self.show_command("status")

    def show_command(self, *args: str) -> None:
        """Run one `mwaa-hibernate` command on this stack and show it as a person would see it."""
        import typer
        from mwaa_hibernate_cli import app

        command = [*args, "--stack", self.sandbox.stack.stack_name]
        self.console.print(f"[dim]$ mwaa-hibernate {' '.join(command)}[/]")
        with redirect_stdout(self.console.file):
            typer.main.get_command(app).main(command, prog_name="mwaa-hibernate", standalone_mode=False)

    def show_savings(self, environment_class: str) -> None:
        from mwaa_hibernate.estimate import estimate_savings
        from mwaa_hibernate.pricing import PriceUnavailable, resolve_prices

        schedules = schedule_settings()
        try:
            prices = resolve_prices(environment_class=environment_class, region=self.sandbox.region)
        except PriceUnavailable as exc:
            self.console.print(f"[yellow]No savings estimate: {exc}")
            return
        estimate = estimate_savings(
            prices=prices,
            hibernate=schedules["HibernateSchedule"],
            wake=schedules["WakeSchedule"],
            timezone=schedules["ScheduleTimezone"],
        )
        self.console.print(
            Panel(
                f"{environment_class} in {estimate.region}, {estimate.month}, hibernating {estimate.hibernate} and "
                f"waking {estimate.wake} ({estimate.timezone}):\n"
                f"always on  [bold]${estimate.always_on.total:,.2f}[/] ({estimate.hours_in_month:.0f} h)\n"
                f"hibernated [bold]${estimate.hibernated.total:,.2f}[/] ({estimate.billed_hours:.0f} h billed, "
                f"creation and deletion included)\n"
                f"saves      [bold green]${estimate.savings_usd:,.2f} a month ({estimate.savings_percent:.0f}%)[/]\n"
                f"[dim]{estimate.price_source}[/]",
                title="What this schedule saves on AWS",
                border_style="green",
            )
        )


def _paused(value: bool | None) -> str:
    return "—" if value is None else ("paused" if value else "[bold]active[/]")


def _run_cycle(demo: Demo, environment_class: str) -> bool:
    sandbox = demo.sandbox
    with demo.phase("Capture the database before hibernation"):
        before = cycle.capture(sandbox)
        demo.console.print(f"{sum(len(t.rows) for t in before.tables.values()):,} rows in {len(before.tables)} tables")
    cycle_started = cycle.now()
    with demo.phase("Hibernate"):
        hibernate = cycle.run_hibernate(sandbox, on_step=demo.show_step)
        demo.show_execution("hibernate", hibernate)
    if not hibernate.succeeded:
        demo.show_alerts(sandbox.alerts())
        return False
    demo.show_carrier()
    snapshot_id = cycle.latest_snapshot_id(sandbox)
    if snapshot_id:
        demo.show_snapshot(cycle.snapshot_listing(sandbox, snapshot_id))
    demo.console.print(f"environment now: {sandbox.environment_status() or 'deleted'}")
    with demo.phase("Wake"):
        wake = cycle.run_wake(sandbox, on_step=demo.show_step)
        demo.show_execution("wake", wake)
    if not wake.succeeded:
        demo.show_alerts(sandbox.alerts())
        return False
    with demo.phase("Compare"):
        comparison = compare_databases(before, cycle.capture(sandbox), cycle_started=cycle_started)
        demo.show_comparison(comparison)
    if comparison.identical:
        demo.console.print("[bold green]✓ Round trip verified: every restored table is identical, paused states exact.")
    else:
        demo.console.print(f"[bold red]✗ {len(comparison.differences())} difference(s) after the round trip.")
    demo.show_times()
    with demo.phase("Operate it"):
        demo.show_status()
    with demo.phase("Plan it"):
        # Read from the snapshot: these demo DAGs run by hand (schedule None), so nothing is predictable and the
        # plan says so; `make demo DEMO_ARGS=--adaptive` shows DAGs with schedules.
        demo.show_command("plan")
    demo.show_savings(environment_class)
    return comparison.identical


def _run_failure(demo: Demo, step: str) -> bool:
    sandbox = demo.sandbox
    if step in cycle.WAKE_FAILURES:
        with demo.phase("Hibernate (succeeds)"):
            hibernate = cycle.run_hibernate(sandbox, on_step=demo.show_step)
            demo.show_execution("hibernate", hibernate)
        if not hibernate.succeeded:
            demo.console.print("[red]The hibernation failed, so the wake failure cannot be shown.")
            return False
    context = cycle.before_failure(sandbox, environment_exists=step in cycle.HIBERNATE_FAILURES)
    demo.console.print(f"[yellow]Injecting a failure at {step!r}: {cycle.inject_failure(sandbox, step)}")
    flow = "Hibernate" if step in cycle.HIBERNATE_FAILURES else "Wake"
    with demo.phase(f"{flow} (fails at {step})"):
        run = cycle.run_hibernate if flow == "Hibernate" else cycle.run_wake
        execution = run(sandbox, on_step=demo.show_step)
        demo.show_execution(flow.lower(), execution)
    invariants = cycle.check_invariants(sandbox, step, execution, context)
    demo.show_alerts(cycle.new_alerts(sandbox, context))
    demo.show_invariants(invariants)
    demo.show_times()
    return all(item.held for item in invariants)


def _run_adaptive(demo: Demo) -> bool:
    """One adaptive cycle on the real clock (mwaa_hibernate_sandbox.adaptive_cycle), narrated as it happens."""
    console, sandbox = demo.console, demo.sandbox
    with demo.phase("Deploy DAGs with schedules"):
        dags = adaptive_cycle.upload_dags(sandbox)
        console.print(
            f"{adaptive_cycle.EXTRACT} due {dags.first_run:%H:%M} UTC (runs {adaptive_cycle.EXTRACT_SECONDS} s, longer "
            f"than the idle check's period), {adaptive_cycle.REPORT} due {dags.last_run:%H:%M}, "
            f"{adaptive_cycle.ON_UPLOAD} on a dataset (unpredictable). The stack is ADAPTIVE: its fixed schedules are "
            "disabled."
        )

    def fired(event: Any) -> None:
        answer = event.answer
        if isinstance(answer, dict) and not answer.get("checked"):
            return  # an idle check with nothing to check (asleep, or a cycle running): not worth a line
        what = event.execution_arn.rsplit(":", 1)[-1] if event.execution_arn else ""
        if isinstance(answer, dict):
            what = f"{answer.get('decision', '-')}: {answer.get('reason', '')}"
            if "execution_arn" in answer:
                what += " → hibernation started"
        console.print(f"  {time.strftime('%H:%M:%S')}  [cyan]{event.name}[/] fired (due {event.due:%H:%M:%S}): {what}")

    with demo.phase("The adaptive schedule at work"):
        console.print("[dim]A person hibernates it now (mwaa-hibernate hibernate); from here the schedule decides.[/]")
        result = adaptive_cycle.run_cycle(
            sandbox, dags, on_fire=fired, on_note=lambda text: console.print(f"  {time.strftime('%H:%M:%S')}  {text}")
        )
    ok = bool(result.idle_hibernation and result.idle_hibernation["status"] == "SUCCEEDED")
    if result.wake:
        late = result.wake["stopDate"] > dags.first_run
        colour = "red" if late else "green"
        console.print(
            f"[{colour}]Woke {'after' if late else 'before'} the first run: awake at "
            f"{result.wake['stopDate']:%H:%M:%S}, {adaptive_cycle.EXTRACT} due {dags.first_run:%H:%M:%S}[/]"
        )
        ok = ok and not late
    with demo.phase("Operate it"):
        demo.show_status()
        demo.show_command("plan")
    return ok


def _show_keep(console: Console, sandbox: Sandbox) -> None:
    endpoint = sandbox.moto_url
    lines = [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox "
        f"AWS_DEFAULT_REGION={sandbox.region}",
        f"aws s3 ls --recursive s3://{sandbox.stack.bucket}/",
        f"aws stepfunctions list-executions --state-machine-arn {sandbox.state_machine_arn('hibernate')}",
        f"aws sns list-topics   # the alert topic: {sandbox.stack.topic_arn}",
        f"AWS_DISABLE_HOST_PREFIX_INJECTION=true aws mwaa get-environment --name {sandbox.environment_name} "
        f"--endpoint-url {sandbox.mwaa_url}   # MWAA is the stand-in",
        "make invoke FUNCTION=PreflightFunction EVENT=events/preflight.hibernate.json   # one function, in-process",
    ]
    status = sandbox.environment_status()
    if status == "AVAILABLE":
        instance = sandbox.airflow()
        environment = sandbox.client("mwaa").get_environment(Name=sandbox.environment_name)["Environment"]
        lines.append(f"Airflow UI: {environment['WebserverUrl']}  (user admin, password {instance.api_password})")
    else:
        lines.append(f"The environment is {status or 'deleted'}: no Airflow UI to open.")
    console.print(Panel("\n".join(lines), title="The sandbox keeps running (Ctrl-C stops it)", border_style="cyan"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mwaa_hibernate_sandbox.demo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--airflow-version",
        help=f"an Airflow version with a venv under .venvs/ (default: {DEFAULT_AIRFLOW}, else the newest), e.g. 3.3.1",
    )
    parser.add_argument(
        "--carrier",
        choices=(TASK, API_SERVER),
        default=TASK,
        help="Airflow 3: how the hibernation reaches the database. api-server strips the database credentials "
        "from the workers, so install-dags installs the plugin (default: task)",
    )
    parser.add_argument("--keep", action="store_true", help="leave everything running at the end and say how to look")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--fail-at", choices=tuple(cycle.FAILURE_STEPS), help="inject a failure at this step")
    choice.add_argument("--adaptive", action="store_true", help="one adaptive cycle (ScheduleMode=ADAPTIVE)")
    parser.add_argument("--environment-name", default=DEFAULT_ENVIRONMENT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(file=sys.stdout)  # bound now: sys.stdout is redirected below
    try:
        airflow_bin = airflow_bin_for(args.airflow_version, default=DEFAULT_AIRFLOW)
    except DemoError as exc:
        console.print(f"[red]{exc}")
        return 2
    state_dir = project_root() / STATE_FOLDER / time.strftime("demo-%Y%m%dT%H%M%S")
    state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=state_dir / "demo.log", level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    for noisy in ("werkzeug", "botocore"):  # moto's server logs every request, botocore every credential lookup
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The handlers run in this process and log (Powertools) and print metrics to stdout, as on Lambda, where
    # CloudWatch collects them: here they go to a file, and the console shows the demo.
    lambda_output = open(state_dir / "lambda-stdout.log", "a")  # noqa: SIM115 - closed in the finally below
    console_stdout, sys.stdout = sys.stdout, lambda_output
    demo_started = time.monotonic()
    sandbox = Sandbox(
        airflow_bin=airflow_bin,
        state_dir=state_dir,
        environment_name=args.environment_name,
        parameter_overrides=adaptive_cycle.PARAMETERS if args.adaptive else None,
        strip_worker_credentials=args.carrier == API_SERVER,
    )
    demo = Demo(console, sandbox)
    ok = False
    try:
        with demo.phase("Start the sandbox"):
            sandbox.start()
            stack = sandbox.stack
            console.print(
                f"moto {sandbox.moto_url}: bucket {stack.bucket}, KMS key, topic, {len(stack.functions)} functions "
                f"(real handlers, in-process), {len(stack.state_machines)} state machines from statemachine/\n"
                f"MWAA stand-in {sandbox.mwaa_url}: Airflow {sandbox.airflow_version} from {airflow_bin.parent.name}"
            )
        with demo.phase("Create the environment" + ("" if args.adaptive else " and its history")):
            environment = seed.create_environment(
                sandbox.client("mwaa"), sandbox.environment_name, s3=sandbox.client("s3")
            )
            console.print(f"{sandbox.environment_name} is {environment['Status']} ({environment['EnvironmentClass']})")
            if sandbox.airflow_version.startswith("3."):
                demo.install_dags()
            if not args.adaptive:
                demo.show_seed(
                    seed.seed_history(sandbox.client("mwaa"), sandbox.environment_name, progress=console.print)
                )
        if args.adaptive:
            ok = _run_adaptive(demo)
        elif args.fail_at:
            ok = _run_failure(demo, args.fail_at)
        else:
            ok = _run_cycle(demo, environment["EnvironmentClass"])
        console.print(f"[dim]Demo took {time.monotonic() - demo_started:.0f}s; log: {state_dir / 'demo.log'}[/]")
        if args.keep:
            invoke.RunningSandbox.of(sandbox).write()
            _show_keep(console, sandbox)
            _wait_for_interrupt()
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.")
    except Exception as exc:
        log.exception("demo failed")
        console.print(f"[red]The demo failed: {type(exc).__name__}: {exc}\nLog: {state_dir / 'demo.log'}")
        ok = False
    finally:
        invoke.withdraw()
        with console.status("Stopping Airflow, PostgreSQL and moto"):
            sandbox.stop()
        sys.stdout = console_stdout
        lambda_output.close()
    return 0 if ok else 1


def _wait_for_interrupt() -> None:
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()


if __name__ == "__main__":
    raise SystemExit(main())
