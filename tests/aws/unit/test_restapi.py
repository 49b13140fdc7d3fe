"""InvokeRestApi errors become narrow exceptions that say what to do."""

from __future__ import annotations

import pytest
from mwaa_hibernate import restapi
from mwaa_hibernate.exceptions import RestApiCallFailed, TransientAwsError

from .conftest import ENVIRONMENT, client_error


def test_paths_longer_than_invoke_rest_api_accepts_are_refused_before_the_call(aws) -> None:
    path = "/dags/" + "d" * 59
    with pytest.raises(RestApiCallFailed, match="65 characters; InvokeRestApi accepts at most 64"):
        restapi.invoke(environment=ENVIRONMENT, method="PATCH", path=path)
    assert aws.mwaa.calls == []


def test_throttling_is_transient_so_the_state_machine_retries(aws) -> None:
    aws.mwaa.errors["InvokeRestApi"] = client_error("ThrottlingException", "Rate exceeded")
    with pytest.raises(TransientAwsError, match="retrying is safe"):
        restapi.invoke(environment=ENVIRONMENT, method="GET", path="/dags")


def test_access_denied_points_at_the_role_and_the_vpc(aws) -> None:
    aws.mwaa.errors["InvokeRestApi"] = client_error("AccessDeniedException", "not authorized")
    with pytest.raises(RestApiCallFailed, match=r"airflow:InvokeRestApi.*FunctionSubnetIds"):
        restapi.invoke(environment=ENVIRONMENT, method="GET", path="/dags")


def test_a_successful_call_returns_airflows_answer(aws) -> None:
    aws.mwaa.rest_answers[("GET", "/dags")] = (200, {"dags": [], "total_entries": 0})
    assert restapi.invoke(environment=ENVIRONMENT, method="GET", path="/dags") == {"dags": [], "total_entries": 0}
