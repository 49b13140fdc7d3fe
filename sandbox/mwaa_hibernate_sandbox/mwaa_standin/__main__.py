"""Run the MWAA stand-in as a process until interrupted; SIGTERM and Ctrl-C stop every Airflow it started."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from .environment import REPOSITORY_DAGS
from .server import MwaaStandIn

# Variables handed to every Airflow process so DAGs reach moto the way they would reach AWS.
FORWARDED_PREFIXES = ("AWS_",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mwaa_hibernate_sandbox.mwaa_standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free port, printed at start)")
    parser.add_argument("--airflow-bin", type=Path, required=True, help="bin folder of an Airflow virtualenv")
    parser.add_argument("--state-dir", type=Path, required=True, help="where environments' Airflow homes live")
    parser.add_argument("--dags-folder", type=Path, default=REPOSITORY_DAGS, help="DAGs copied into each environment")
    parser.add_argument("--extra-dags", type=Path, action="append", default=[], help="more DAG files to copy in")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--account", default="123456789012", help="account id in ARNs (moto's default)")
    parser.add_argument("--database", choices=("auto", "postgresql", "sqlite"), default="auto")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra variable for Airflow")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    airflow_env = {key: value for key, value in os.environ.items() if key.startswith(FORWARDED_PREFIXES)}
    airflow_env.update(item.split("=", 1) for item in args.env)
    standin = MwaaStandIn(
        airflow_bin=args.airflow_bin,
        state_dir=args.state_dir,
        port=args.port,
        dags_folder=args.dags_folder,
        extra_dags=tuple(args.extra_dags),
        airflow_env=airflow_env,
        region=args.region,
        account=args.account,
        database=args.database,
    )
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    standin.start()
    logging.getLogger(__name__).info("listening on %s", standin.endpoint_url)
    try:
        stopping.wait()
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
