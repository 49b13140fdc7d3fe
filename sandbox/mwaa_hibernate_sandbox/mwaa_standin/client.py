"""Point boto3 at a running stand-in: from another process, in this process, or inside moto's server.

- `client_environment(url)`: variables for a child process (a Lambda handler, Airflow, the AWS CLI).
  `AWS_DISABLE_HOST_PREFIX_INJECTION` is needed because MWAA operations carry the host prefixes
  `api.` and `env.`, which botocore would otherwise put in front of 127.0.0.1.
- `mwaa_client(url)`: a boto3 MWAA client for this process.
- `install_forwarding(url)`: every MWAA call made by boto3 in this process, whatever its endpoint,
  goes to the stand-in. The sandbox installs it in the moto server process, whose Step Functions
  interpreter builds its clients against moto's own endpoint, which has no MWAA.
- `add_fault`, `clear_faults`, `environment_details`: the admin endpoint, for the demo and tests.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_MWAA"
NO_HOST_PREFIX_VARIABLE = "AWS_DISABLE_HOST_PREFIX_INJECTION"


def client_environment(endpoint_url: str) -> dict[str, str]:
    """Environment variables that send a child process's boto3 MWAA calls to the stand-in."""
    return {ENDPOINT_VARIABLE: endpoint_url, NO_HOST_PREFIX_VARIABLE: "true"}


def mwaa_client(endpoint_url: str, *, region_name: str = "us-east-1", session: Any = None) -> Any:
    """A boto3 MWAA client talking to the stand-in (dummy credentials unless the session has some)."""
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session()
    credentials = {} if session.get_credentials() else {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return session.client(
        "mwaa",
        endpoint_url=endpoint_url,
        region_name=region_name,
        # No retries: a test or the demo must see each answer, including injected 5xx errors.
        config=Config(inject_host_prefix=False, retries={"mode": "standard", "total_max_attempts": 1}),
        **credentials,
    )


def install_forwarding(endpoint_url: str) -> Callable[[], None]:
    """Route this process's boto3 MWAA requests to the stand-in; return a function that undoes it.

    A `before-send` handler that returns a response replaces the network call. It is put first in
    botocore's built-in handlers, ahead of moto's own stub, which botocore copies into every new
    session; boto3's default session is reset so clients made from now on pick it up.
    """
    import boto3
    import botocore.handlers
    from botocore.httpsession import URLLib3Session

    target = urllib.parse.urlsplit(endpoint_url)
    http = URLLib3Session()

    def forward(request: Any, **_: Any) -> Any:
        original = urllib.parse.urlsplit(request.url)
        request.url = urllib.parse.urlunsplit((target.scheme, target.netloc, original.path, original.query, ""))
        request.headers.pop("Host", None)
        return http.send(request)

    entry = ("before-send.mwaa", forward)
    botocore.handlers.BUILTIN_HANDLERS.insert(0, entry)
    boto3.DEFAULT_SESSION = None

    def uninstall() -> None:
        if entry in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        boto3.DEFAULT_SESSION = None

    return uninstall


def _admin(endpoint_url: str, method: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{endpoint_url.rstrip('/')}/_standin/{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def add_fault(endpoint_url: str, **spec: Any) -> dict[str, Any]:
    """Plan a fault (see `mwaa_standin.faults` for the kinds); return it as the stand-in stored it."""
    return _admin(endpoint_url, "POST", "faults", spec)["Fault"]


def clear_faults(endpoint_url: str) -> None:
    _admin(endpoint_url, "DELETE", "faults")


def environment_details(endpoint_url: str, name: str) -> dict[str, Any]:
    """Where an environment's metadata database, Airflow home and REST API are (not an MWAA operation)."""
    return _admin(endpoint_url, "GET", f"environments/{urllib.parse.quote(name)}")
