"""The harness works against a moto server in the same process, as the offline sandbox uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
# A fresh interpreter imports moto and parses three state machines: slow on a busy 2-core machine.
RUN_TIMEOUT_SECONDS = 300


def test_state_machines_and_handlers_run_against_a_moto_server() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(HERE / "server_mode_run.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The waiter polled the MWAA double (CREATING, then AVAILABLE) through the server's interpreter.
    assert report["status"] == "SUCCEEDED"
    assert report["output"] == {"environment_name": "analytics", "status": "AVAILABLE"}
    # A direct invoke ran the real preflight handler, whose own calls (Step Functions, MWAA) reached the server.
    assert report["function_error"] is None, report["preflight"]
    assert report["preflight"]["action"] == "HIBERNATE"
    assert report["preflight"]["snapshot_uri"] == f"s3://{report['bucket']}/analytics/snapshots/20261124T190000Z/"
