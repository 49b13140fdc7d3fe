"""What differs between Airflow 2 and Airflow 3 for the hibernation DAGs, in one place.

The DAG files and the task callables import Airflow through here, so the same files parse and run on
both majors: Airflow 3 moved the authoring API to `airflow.sdk` and the Python operator to the standard
provider, renamed the heartbeat timeout, and keeps the log masker in the task SDK.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


@functools.cache
def airflow_version() -> str:
    import airflow

    return str(airflow.__version__)


def airflow_major() -> int:
    return int(airflow_version().split(".", 1)[0])


def is_airflow3() -> bool:
    return airflow_major() >= 3


def dag_building_blocks() -> tuple[Any, Callable[..., Any], Any, Any]:
    """(DAG, chain, PythonOperator, TriggerRule) from where this Airflow keeps them."""
    try:  # Airflow 3.2 on
        from airflow.task.trigger_rule import TriggerRule
    except ImportError:
        from airflow.utils.trigger_rule import TriggerRule

    if is_airflow3():
        from airflow.providers.standard.operators.python import PythonOperator
        from airflow.sdk import DAG, chain
    else:
        from airflow import DAG
        from airflow.models.baseoperator import chain
        from airflow.operators.python import PythonOperator
    return DAG, chain, PythonOperator, TriggerRule


def probe_building_blocks() -> tuple[Any, Any]:
    """(BranchPythonOperator, EmptyOperator) for the probe DAG."""
    if is_airflow3():
        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.providers.standard.operators.python import BranchPythonOperator
    else:
        from airflow.operators.empty import EmptyOperator
        from airflow.operators.python import BranchPythonOperator
    return BranchPythonOperator, EmptyOperator


def mask_secret(value: str) -> None:
    """Ask Airflow's log masker to redact `value` from every log line of this process from now on."""
    if is_airflow3():
        from airflow.sdk.log import mask_secret as masker
    else:
        from airflow.utils.log.secrets_masker import mask_secret as masker
    masker(value)


def fail_exception() -> type[Exception]:
    """The exception that fails a task without a retry (the task SDK's from Airflow 3.2 on)."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:
        from airflow.exceptions import AirflowFailException
    return AirflowFailException


def heartbeat_timeout_seconds() -> float:
    """How long the scheduler waits for a running task's heartbeat before it gives the task up."""
    from airflow.configuration import conf

    if is_airflow3():
        return conf.getfloat("scheduler", "task_instance_heartbeat_timeout", fallback=300.0)
    return conf.getfloat("scheduler", "scheduler_zombie_task_threshold", fallback=300.0)


def fernet_key() -> str | None:
    """The environment's `[core] fernet_key` (None if it has none); readable in task processes on both majors."""
    from airflow.configuration import conf

    return conf.get("core", "fernet_key", fallback="") or None
