"""The `mwaa-hibernate` command. Each command group lives in its own module and registers itself here.

Typer and Rich are CLI-only dependencies: nothing outside this subpackage imports them, so the Lambda
layer (which ships the whole `mwaa_hibernate` package) never loads them.
"""

from __future__ import annotations

import typer

from mwaa_hibernate_cli import estimate, install_dags, overrides, plan, run, snapshot, snapshots, status

app = typer.Typer(
    name="mwaa-hibernate",
    help="Hibernate Amazon MWAA environments on a schedule, and operate the snapshots they leave behind.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(snapshots.app, name="snapshots")
app.command("install-dags")(install_dags.install_dags)
app.command("estimate")(estimate.estimate)
app.command("status")(status.status)
app.command("wake")(run.wake)
app.command("hibernate")(run.hibernate)
app.command("resume")(overrides.resume)
app.command("plan")(plan.plan)


def main() -> None:
    app()
