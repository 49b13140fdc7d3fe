"""The Airflow plugin of the API-server carrier: mounts `api_server.create_app()` at /mwaa-hibernate.

`mwaa-hibernate install-dags` puts this module's two-line loader at the top of the environment's
plugins.zip, beside the packages it imports (and an .airflowignore that keeps Airflow from loading those
packages' modules as plugins). Only Airflow 3's API server mounts FastAPI apps; every other component loads
the plugin and finds nothing to do. On Airflow 2 it mounts nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from mwaa_hibernate_snapshot.carrier import PLUGIN_NAME, PLUGIN_PREFIX

from mwaa_hibernate_runtime import compat


def _fastapi_apps() -> list[dict[str, Any]]:
    if not compat.is_airflow3():
        return []
    from mwaa_hibernate_runtime.api_server import create_app

    return [{"app": create_app(), "url_prefix": PLUGIN_PREFIX, "name": "mwaa-hibernate"}]


class MwaaHibernatePlugin(AirflowPlugin):
    name = PLUGIN_NAME
    fastapi_apps = _fastapi_apps()
