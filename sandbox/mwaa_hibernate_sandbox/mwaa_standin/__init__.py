"""A local stand-in for Amazon MWAA's control plane, running each environment as a real Airflow.

moto has no MWAA. This package serves the MWAA calls mwaa-hibernate makes (Create/Get/Update/Delete/
ListEnvironments, InvokeRestApi, CreateCliToken, CreateWebLoginToken) over HTTP with MWAA's wire
protocol, so boto3 and moto's Step Functions interpreter talk to it as to MWAA. Each environment is
a fresh metadata database, `airflow db migrate`, a real scheduler and a web server; failures can be
injected through `/_standin/faults` (see `faults`).

On Airflow 3 an environment runs as MWAA runs it (`airflow3`): two API servers behind one port, a scheduler,
a DAG processor and a triggerer, the FAB auth manager and MWAA's web login, the database credentials in every
component (a switch strips them from workers), plugins.zip from S3, a non-superuser database role, and a new
Fernet key and JWT secret per environment. InvokeRestApi keeps MWAA's version prefix, 64-character paths,
10 s, 6 MB and 10 calls a second.

Not emulated (docs/development.md lists why each matters): networking and private web servers, IAM (any
credentials are accepted; REST calls act as Op on Airflow 3, Admin on Airflow 2), the CloudWatch logs and
metrics, installing requirements.txt and running startup scripts, Celery and separate worker containers
(LocalExecutor workers are forked from the scheduler), worker and web server scaling, the environment class,
tagging calls, AirflowVersion upgrades, TLS to the database, MWAA's Airflow 2 web login. DAGs come from
local folders (a sandbox convenience) and, as on MWAA, from the environment's DagS3Path in S3 while it runs,
when its Airflow has an S3 endpoint (`dag_sync`).

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
