"""The MWAA stand-in's executor on Airflow 3: LocalExecutor, optionally without database credentials in workers.

On MWAA the tasks run in worker containers with an environment of their own. The stand-in runs them through
LocalExecutor, whose worker processes are forked from the scheduler and so inherit its environment, database
credentials included. When `MWAA_STANDIN_STRIP_WORKER_VARIABLES` names variables (comma-separated), each
worker process removes them from its environment before it runs anything, so the tasks it forks see what a
worker container would if AWS stopped shipping the credentials to workers; the scheduler keeps them.

Copied by the stand-in into each Airflow 3 environment; `[core] executor` names it. Not part of mwaa-hibernate.
"""

from __future__ import annotations

import os

from airflow.executors import local_executor

STRIP_VARIABLE = "MWAA_STANDIN_STRIP_WORKER_VARIABLES"
_run_worker = local_executor._run_worker


def _worker_without_credentials(*args, **kwargs):
    for name in filter(None, os.environ.get(STRIP_VARIABLE, "").split(",")):
        os.environ.pop(name, None)
    return _run_worker(*args, **kwargs)


# LocalExecutor._spawn_worker looks the function up in its module when it starts each worker process.
local_executor._run_worker = _worker_without_credentials


class LocalExecutor(local_executor.LocalExecutor):
    """Airflow's LocalExecutor; its workers drop the variables named in MWAA_STANDIN_STRIP_WORKER_VARIABLES."""
