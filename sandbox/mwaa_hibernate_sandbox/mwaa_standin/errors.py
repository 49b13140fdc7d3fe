"""The stand-in's exception tree.

`ApiError` subclasses are answers to a client: each knows the MWAA error code, the HTTP status the
botocore model gives it, and any modelled fields, so the HTTP layer only serialises them. Other
`StandInError`s are the stand-in's own failures (Airflow would not start, a fault spec is wrong).
"""

from __future__ import annotations

from typing import Any


class StandInError(Exception):
    """Base of every error raised by the MWAA stand-in."""


class AirflowSideError(StandInError):
    """The Airflow behind an environment failed (migrate, scheduler, web server); the message says which."""


class FaultSpecError(StandInError):
    """A fault posted to the admin endpoint is malformed; the message names the field to fix."""


class ApiError(StandInError):
    """An MWAA error response: code, HTTP status and modelled fields as in the botocore service model."""

    code = "InternalServerException"
    http_status = 500

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.fields}


class ResourceNotFound(ApiError):
    code = "ResourceNotFoundException"
    http_status = 404


class ValidationFailed(ApiError):
    code = "ValidationException"
    http_status = 400


class Throttled(ApiError):
    code = "ThrottlingException"
    http_status = 429


class InternalServerError(ApiError):
    code = "InternalServerException"
    http_status = 500


class RestApiError(ApiError):
    """Airflow answered an InvokeRestApi call with an error; MWAA passes its status and body through."""

    http_status = 400

    def __init__(self, status: int, response: Any) -> None:
        super().__init__(f"Airflow REST API answered {status}", RestApiStatusCode=status, RestApiResponse=response)

    @staticmethod
    def for_status(status: int, response: Any) -> RestApiError:
        return RestApiServerError(status, response) if status >= 500 else RestApiClientError(status, response)


class RestApiClientError(RestApiError):
    code = "RestApiClientException"


class RestApiServerError(RestApiError):
    code = "RestApiServerException"
