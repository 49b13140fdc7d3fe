"""The task carrier's own connection: built from the container's credential variables, never leaking them."""

from __future__ import annotations

import json

import pytest
from mwaa_hibernate_runtime.connection import CREDENTIAL_VARIABLES, credentials_from_environment, own_engine
from mwaa_hibernate_runtime.errors import CarrierUnavailable

PASSWORD = "app:/@pw?#%"  # every character an unescaped URL would break on
MWAA_IMAGE = {
    "MWAA__DB__CREDENTIALS": json.dumps({"username": "airflow_user", "password": PASSWORD}),
    "MWAA__DB__POSTGRES_HOST": "db.internal",
    "MWAA__DB__POSTGRES_PORT": "5432",
    "MWAA__DB__POSTGRES_DB": "AirflowMetadata",
    "MWAA__DB__POSTGRES_SSLMODE": "",
}
SERVICE = {
    "DB_SECRETS": json.dumps({"username": "airflow_user", "password": PASSWORD}),
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DB": "AirflowMetadata",
}


@pytest.mark.parametrize("environ", [MWAA_IMAGE, SERVICE], ids=["image", "service"])
def test_both_namings_make_the_same_url_with_the_password_intact(environ) -> None:
    credentials = credentials_from_environment(
        {**environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "airflow-db-not-allowed:///"}
    )
    url = credentials.url()
    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db.internal", 5432, "AirflowMetadata", "airflow_user", PASSWORD
    )  # fmt: skip
    assert url.query["sslmode"] == "require"  # MWAA's default when the variable is empty or absent
    assert PASSWORD not in repr(credentials) and PASSWORD not in str(url)


def test_the_separate_user_and_password_variables_of_the_image() -> None:
    environ = {
        **MWAA_IMAGE,
        "MWAA__DB__CREDENTIALS": "",
        "MWAA__DB__POSTGRES_USER": "u",
        "MWAA__DB__POSTGRES_PASSWORD": "p",
    }
    assert (credentials_from_environment(environ).username, credentials_from_environment(environ).password) == (
        "u",
        "p",
    )


def test_no_credentials_is_a_sentence_naming_variables_and_the_other_carrier() -> None:
    with pytest.raises(CarrierUnavailable) as raised:
        credentials_from_environment({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://x:secret@h/db"})
    message = str(raised.value)
    assert "no MWAA__DB__* variables" in message and "no DB_SECRETS variables" in message
    assert "install-dags --carrier api-server" in message and "secret" not in message


def test_an_incomplete_naming_says_what_is_missing_without_values() -> None:
    environ = {k: v for k, v in MWAA_IMAGE.items() if k != "MWAA__DB__POSTGRES_HOST"}
    with pytest.raises(CarrierUnavailable, match="missing MWAA__DB__POSTGRES_HOST") as raised:
        credentials_from_environment(environ)
    assert PASSWORD not in str(raised.value)


def test_a_broken_secret_is_reported_without_its_value() -> None:
    with pytest.raises(CarrierUnavailable, match="DB_SECRETS is not JSON") as raised:
        credentials_from_environment({**SERVICE, "DB_SECRETS": "username=x;password=" + PASSWORD})
    assert PASSWORD not in str(raised.value)


def test_the_engine_hides_statement_parameters() -> None:
    engine = own_engine(MWAA_IMAGE)
    assert engine.hide_parameters and PASSWORD not in repr(engine.url)


def test_the_variables_the_stand_in_strips_are_every_one_the_carrier_reads() -> None:
    assert set(MWAA_IMAGE) | set(SERVICE) <= set(CREDENTIAL_VARIABLES)
