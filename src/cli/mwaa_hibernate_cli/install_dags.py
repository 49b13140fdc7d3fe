"""`mwaa-hibernate install-dags`: put the hibernation DAGs and engine into the environment's DAG folder, then
wait until Airflow parsed both (or report its import error). Exit codes are in `exits`."""

from __future__ import annotations

from typing import Annotated

import typer

from mwaa_hibernate_cli import dag_install
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


def install_dags(
    environment: EnvironmentOption = None,
    stack: StackOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be uploaded; write nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until Airflow parsed both DAGs.")] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait for the parse.")
    ] = dag_install.DEFAULT_TIMEOUT_SECONDS,
    as_json: JsonOption = False,
) -> None:
    """Upload the hibernation DAGs and their engine to the environment's DAG folder and check they parse."""
    with reported(as_json=as_json, profile=profile):
        session = AwsSession(region=region, profile=profile)
        name = environment
        if stack:
            name = find_deployment(session, stack=stack, environment=environment).environment
        if not name:
            raise CliError("Say which environment: --environment NAME (or --stack NAME of its deployment).", EXIT_USAGE)
        mwaa, s3 = session.client("mwaa"), session.client("s3")
        plan = dag_install.plan_install(environment=name, mwaa=mwaa, s3=s3)
        if dry_run:
            _report(plan.to_json() | {"dry_run": True}, as_json, "Would upload")
            return
        if wait:
            dag_install.check_available(plan)
        since = dag_install.utc_now()
        dag_install.apply_install(plan, s3=s3)
        if not as_json:
            stderr().print(
                f"Uploaded {len(plan.uploads)} files to {plan.dag_folder} (.airflowignore: {plan.airflowignore})"
            )
        parsed = None
        if wait:
            with stderr().status(f"Waiting for {name} to parse the DAGs") as status:

                def show(found: dag_install.ParseStatus, elapsed: float) -> None:
                    done = ", ".join(f"{d}: {'parsed' if ok else 'waiting'}" for d, ok in found.parsed.items())
                    status.update(f"Waiting for {name} to parse the DAGs ({elapsed:.0f}/{timeout:.0f} s; {done})")

                parsed = dag_install.wait_until_parsed(
                    environment=name, since=since, timeout=timeout, mwaa=mwaa, on_poll=None if as_json else show
                )
    document = plan.to_json() | {"dry_run": False, "parsed": parsed.parsed if parsed else None}
    _report(document, as_json, "Installed" + (" and parsed" if parsed else " (not waiting for the parse)"))


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
