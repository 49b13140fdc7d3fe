"""Calling an Airflow 3 environment's web server directly, as MWAA's web login does: for the plugin's routes.

InvokeRestApi only reaches Airflow's REST API (/api/v2); the API-server carrier's routes live in a plugin,
so the functions log in the way the MWAA user guide describes for Airflow 3
(https://docs.aws.amazon.com/mwaa/latest/userguide/access-mwaa-apache-airflow-rest-api.html):
`CreateWebLoginToken` (a token valid 60 seconds), `POST https://<WebServerHostname>/pluginsv2/aws_mwaa/login`
with it as the form field `token`, and the `_token` cookie of the answer, a JWT, sent as a bearer token.

Neither token is ever logged, returned or put in an error message. The web server must be reachable from
the function: a public web server, or the function in the environment's VPC (FunctionSubnetIds).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie
from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate.aws import client, error_code, raise_if_transient
from mwaa_hibernate.exceptions import WebServerCallFailed, WebServerUnreachable

logger = logging.getLogger(__name__)

LOGIN_PATH = "/pluginsv2/aws_mwaa/login"
TOKEN_COOKIE = "_token"
TIMEOUT_SECONDS = 30
# Only the local MWAA stand-in serves its web server on loopback, without TLS; MWAA always uses HTTPS.
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # the cookie is on the first answer
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def base_url(hostname: str) -> str:
    host = hostname.split(":", 1)[0] if not hostname.startswith("[") else hostname.split("]", 1)[0] + "]"
    scheme = "http" if host in _LOOPBACK else "https"
    return f"{scheme}://{hostname}"


class WebSession:
    """A logged-in session with one environment's web server (the JWT stays inside this object)."""

    def __init__(self, environment: str, hostname: str, jwt: str) -> None:
        self.environment = environment
        self.hostname = hostname
        self.__jwt = jwt

    def __repr__(self) -> str:
        return f"WebSession(environment={self.environment!r}, hostname={self.hostname!r})"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, JSON answer) of one call; transport failures raise, HTTP errors are returned."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(base_url(self.hostname) + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.__jwt}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise _unreachable(self.environment, self.hostname, error) from None


def login(environment: str, *, mwaa: Any = None) -> WebSession:
    """Exchange a web login token for the web server's JWT."""
    try:
        answer = client("mwaa", mwaa).create_web_login_token(Name=environment)
    except ClientError as exc:
        raise_if_transient(exc, f"CreateWebLoginToken for {environment}")
        if error_code(exc) == "AccessDeniedException":
            raise WebServerCallFailed(
                f"Not allowed to log in to {environment}'s web server: the function's role needs "
                f"airflow:CreateWebLoginToken on the environment's User role (role/{environment}/User)."
            ) from None
        raise WebServerCallFailed(
            f"CreateWebLoginToken for {environment} failed ({error_code(exc)}); check the environment is AVAILABLE."
        ) from None
    hostname = answer["WebServerHostname"]
    form = urllib.parse.urlencode({"token": answer["WebToken"]}).encode()
    request = urllib.request.Request(
        base_url(hostname) + LOGIN_PATH,
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as error:  # the 302 MWAA answers with lands here (redirects are not followed)
        status, headers = error.code, error.headers
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise _unreachable(environment, hostname, error) from None
    jwt = _token_cookie(headers.get_all("Set-Cookie") or [])
    if jwt is None:
        raise WebServerCallFailed(
            f"{environment}'s web server answered {status} to the web login and set no session token: MWAA's login "
            "did not accept the token (an Airflow role the token maps to may be missing)."
        )
    logger.info("logged in to the web server of %s", environment)
    return WebSession(environment, hostname, jwt)


def _token_cookie(set_cookies: list[str]) -> str | None:
    for header in set_cookies:
        cookie = SimpleCookie()
        try:
            cookie.load(header)
        except Exception:  # a cookie this parser does not like is not ours
            continue
        if TOKEN_COOKIE in cookie and cookie[TOKEN_COOKIE].value:
            return cookie[TOKEN_COOKIE].value
    return None


def _json(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {"text": raw[:300].decode(errors="replace")}


def _unreachable(environment: str, hostname: str, error: BaseException) -> WebServerUnreachable:
    return WebServerUnreachable(
        f"Cannot reach {environment}'s web server at {hostname} ({type(error).__name__}). For a private web server "
        "the functions must run in the environment's VPC (the stack's FunctionSubnetIds and "
        "FunctionSecurityGroupIds), with a route to it."
    )
