"""`mwaa-hibernate install-dags`: put the hibernation DAGs and engine into the environment's DAG folder, wait until
Airflow parsed them (or report its import error), and on Airflow 3 find which carrier reaches the metadata
database, installing the API-server plugin (plugins.zip and an environment update) when it is needed or asked
for. Exit codes are in `exits`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from mwaa_hibernate import carriers
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.exceptions import NoCarrier
from mwaa_hibernate_snapshot import versions
from mwaa_hibernate_snapshot.carrier import AIRFLOW3_PREFERENCE, API_SERVER, IN_PROCESS, TASK, UNREACHABLE

from mwaa_hibernate_cli import dag_install, plugin_install
from mwaa_hibernate_cli.deployment import (
    AwsSession,
    EnvironmentOption,
    ProfileOption,
    RegionOption,
    StackOption,
    find_deployment,
)
from mwaa_hibernate_cli.errors import CliError
from mwaa_hibernate_cli.exits import EXIT_USAGE
from mwaa_hibernate_cli.output import JsonOption, print_json, reported, stderr, stdout

AUTO = "auto"
CARRIER_CHOICES = (AUTO, TASK, API_SERVER)
UPDATE_NOTICE = (
    "MWAA takes 10 to 30 minutes to apply a new plugins.zip, restarting every component of {env}; its DAGs keep "
    "their state, but tasks running now are interrupted."
)


def install_dags(
    environment: EnvironmentOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be uploaded; write nothing.")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait until Airflow parsed the DAGs (and a plugin update is applied)."),
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for the parse.")
    ] = dag_install.DEFAULT_TIMEOUT_SECONDS,
    carrier: Annotated[
        str,
        typer.Option(
            "--carrier",
            help="Airflow 3: auto (the task carrier if it works, else install the API-server plugin), task, or "
            "api-server (always install the plugin).",
        ),
    ] = AUTO,
    update_timeout: Annotated[
        float, typer.Option("--update-timeout", min=1, help="Seconds to wait for the plugin's environment update.")
    ] = plugin_install.UPDATE_TIMEOUT_SECONDS,
    as_json: JsonOption = False,
) -> None:
    """Upload the hibernation DAGs and their engine to the environment's DAG folder and check they parse."""
    with reported(as_json=as_json, profile=profile):
        if carrier not in CARRIER_CHOICES:
            raise CliError(f"--carrier must be one of {', '.join(CARRIER_CHOICES)}, not {carrier!r}.", EXIT_USAGE)
        session = AwsSession(region=region, profile=profile)
        name = environment
        if stack:
            name = find_deployment(session, stack=stack, environment=environment).environment
        if not name:
            raise CliError("Say which environment: --environment NAME (or --stack NAME of its deployment).", EXIT_USAGE)
        mwaa, s3 = session.client("mwaa"), session.client("s3")
        plan = dag_install.plan_install(environment=name, mwaa=mwaa, s3=s3)
        airflow3 = versions.is_airflow3(plan.airflow_version)
        if carrier == API_SERVER and not airflow3:
            raise CliError(
                f"{name} runs Airflow {plan.airflow_version}: the API-server carrier exists on Airflow 3 only; "
                "Airflow 2 tasks reach the database in-process. Leave --carrier out.",
                EXIT_USAGE,
            )
        if dry_run:
            document = plan.to_json() | {"dry_run": True}
            if carrier == API_SERVER:
                document["plugin"] = plugin_install.plan_plugin(environment=name, mwaa=mwaa, s3=s3).to_json()
            _report(document, as_json, "Would upload")
            return
        if wait:
            dag_install.check_available(plan)
        since = dag_install.utc_now()
        dag_install.apply_install(plan, s3=s3)
        if not as_json:
            stderr().print(
                f"Uploaded {len(plan.uploads)} files to {plan.dag_folder} (.airflowignore: {plan.airflowignore})"
            )
        document = plan.to_json() | {"dry_run": False, "parsed": None, "carrier": None, "probes": {}}
        if not wait:
            if carrier == API_SERVER:
                document["plugin"] = _install_plugin(name, mwaa, s3, wait=False, timeout=update_timeout, quiet=as_json)
            _report(document, as_json, "Installed (not waiting for the parse)")
            return
        with stderr().status(f"Waiting for {name} to parse the DAGs") as status:

            def show(found: dag_install.ParseStatus, elapsed: float) -> None:
                done = ", ".join(f"{d}: {'parsed' if ok else 'waiting'}" for d, ok in found.parsed.items())
                status.update(f"Waiting for {name} to parse the DAGs ({elapsed:.0f}/{timeout:.0f} s; {done})")

            parsed = dag_install.wait_until_parsed(
                environment=name,
                since=since,
                timeout=timeout,
                mwaa=mwaa,
                airflow_version=plan.airflow_version,
                on_poll=None if as_json else show,
            )
        document["parsed"] = parsed.parsed
        if not airflow3:
            document["carrier"] = IN_PROCESS
        else:
            _choose(document, name, plan.airflow_version, carrier, mwaa, s3, update_timeout, as_json)
    _report(document, as_json, "Installed and parsed")


def _choose(
    document: dict[str, Any],
    name: str,
    airflow_version: str,
    carrier: str,
    mwaa: Any,
    s3: Any,
    update_timeout: float,
    quiet: bool,
) -> None:
    probes: dict[str, Any] = {}
    if carrier in (AUTO, TASK):
        with stderr().status(f"Probing the task carrier in {name} (one run of the probe DAG)"):
            probes[TASK] = carriers.probe_task_carrier(AirflowApi(name, airflow_version, mwaa=mwaa))
    if carrier == API_SERVER or (carrier == AUTO and not probes[TASK].usable):
        document["plugin"] = _install_plugin(name, mwaa, s3, wait=True, timeout=update_timeout, quiet=quiet)
        probes[API_SERVER] = carriers.probe_plugin(name, mwaa=mwaa)
    document["probes"] = {key: result.to_json() for key, result in probes.items()}
    chosen = next((key for key in AIRFLOW3_PREFERENCE if key in probes and probes[key].usable), None)
    document["carrier"] = chosen
    if chosen is not None:
        return
    plugin = probes.get(API_SERVER)
    if plugin is not None and plugin.outcome == UNREACHABLE:
        document["warning"] = (
            "The plugin is installed but could not be checked from here (a private web server is reachable only from "
            "its VPC). The stack's functions check both carriers before each hibernation and wake."
        )
        return
    raise NoCarrier(carriers.no_carrier_text(name, airflow_version, probes))


def _install_plugin(name: str, mwaa: Any, s3: Any, *, wait: bool, timeout: float, quiet: bool) -> dict[str, Any]:
    plan = plugin_install.plan_plugin(environment=name, mwaa=mwaa, s3=s3)
    if not plan.changed:
        if not quiet:
            stderr().print(f"plugins.zip already holds this mwaa-hibernate plugin ({plan.to_json()['plugins_zip']})")
        return plan.to_json() | {"version": plan.current_version, "update": "not needed"}
    if not quiet:
        stderr().print(
            f"Installing the API-server plugin into {plan.to_json()['plugins_zip']}. " + UPDATE_NOTICE.format(env=name)
        )
    started = datetime.now(UTC)
    version = plugin_install.apply_plugin(plan, mwaa=mwaa, s3=s3)
    if not wait:
        return plan.to_json() | {"version": version, "update": "started"}
    with stderr().status(f"Waiting for MWAA to apply the plugin to {name}") as status:

        def show(found: str, elapsed: float) -> None:
            status.update(f"Waiting for MWAA to apply the plugin to {name}: {found} ({elapsed / 60:.0f} min)")

        plugin_install.wait_for_update(
            environment=name, since=started, mwaa=mwaa, timeout=timeout, on_poll=None if quiet else show
        )
    return plan.to_json() | {"version": version, "update": "applied"}


def _report(document: dict, as_json: bool, title: str) -> None:
    if as_json:
        print_json(document)
        return
    console = stdout()
    console.print(
        f"[bold]{title}[/]: {document['environment']} (Airflow {document['airflow_version']}), {document['dag_folder']}"
    )
    for upload in document["uploads"]:
        console.print(f"  {upload['key']}  ({upload['bytes']:,} bytes)")
    for key in document["deletes"]:
        console.print(f"  [yellow]delete[/] {key}  (left by an older mwaa-hibernate)")
    console.print(f"  .airflowignore: {document['airflowignore']}")
    plugin = document.get("plugin")
    if plugin:
        update = plugin.get("update", "would update the environment" if plugin["changed"] else "unchanged")
        console.print(f"  plugin: {plugin['plugins_zip']} ({update})")
    for key, probe in (document.get("probes") or {}).items():
        console.print(f"  carrier {key}: {'works' if probe['usable'] else 'does not work'}: {probe['detail']}")
    if document.get("carrier"):
        console.print(f"[bold]Carrier[/]: {document['carrier']}")
    if document.get("warning"):
        console.print(f"[yellow]{document['warning']}[/]")
