"""A local stand-in for Amazon MWAA's control plane, running each environment as a real Airflow.

moto has no MWAA. This package serves the MWAA calls mwaa-hibernate makes (Create/Get/Update/Delete/
ListEnvironments, InvokeRestApi, CreateCliToken, CreateWebLoginToken) over HTTP with MWAA's wire
protocol, so boto3 and moto's Step Functions interpreter talk to it as to MWAA. Each environment is
a fresh metadata database, `airflow db migrate`, a real scheduler and a web server; failures can be
injected through `/_standin/faults` (see `faults`).

Not emulated: networking, IAM (any credentials are accepted), the CloudWatch logs and metrics,
plugins.zip / requirements.txt / startup scripts, workers and web servers counts and the environment
class (one scheduler, one web server, LocalExecutor), Celery, tagging calls, AirflowVersion upgrades,
the 10 TPS InvokeRestApi rate limit. DAGs come from local folders (a sandbox convenience) and, as on
MWAA, from the environment's DagS3Path in S3 while it runs, when its Airflow has an S3 endpoint (`dag_sync`).

In process: `with MwaaStandIn(airflow_bin=..., state_dir=...) as standin: mwaa_client(standin.endpoint_url)`.
As a process: `python -m mwaa_hibernate_sandbox.mwaa_standin --port P --airflow-bin DIR --state-dir DIR`.
"""

from __future__ import annotations

from .client import add_fault, clear_faults, client_environment, environment_details, install_forwarding, mwaa_client
from .errors import StandInError
from .server import MwaaStandIn

__all__ = [
    "MwaaStandIn",
    "StandInError",
    "add_fault",
    "clear_faults",
    "client_environment",
    "environment_details",
    "install_forwarding",
    "mwaa_client",
]
