"""The sandbox's Airflow instances: details that broke runs at random before."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.airflow


def test_an_api_password_starting_with_a_dash_is_taken_as_the_password(make_airflow) -> None:
    """`secrets.token_urlsafe` starts with "-" one time in 64; argparse took that for an option."""
    instance = make_airflow("dash_password")
    instance.api_password = "-starts-with-a-dash"

    instance.create_api_user()

    listed = instance.cli("users", "list", "--output", "json").stdout
    assert '"username": "admin"' in listed.replace("'", '"')
