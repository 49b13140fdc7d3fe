"""InvokeRestApi: forward `{Path, Method, QueryParameters, Body}` to an environment's Airflow REST API.

MWAA maps the same Path to `/api/v1` on Airflow 2, calls it as the caller's Airflow role, and passes
Airflow's status and JSON body back. Its documented limits are kept: 10 s per call, 6 MB responses
(the 64-character Path limit is in the service model and checked with the rest of the request).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from .errors import InternalServerError, RestApiError

# MWAA's documented InvokeRestApi limits (Amazon MWAA User Guide, "Using the Apache Airflow REST API").
TIMEOUT_SECONDS = 10
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


def query_string(parameters: Mapping[str, Any] | None) -> str:
    """Encode MWAA's QueryParameters document: lists repeat the key, booleans are lower-case as Airflow expects."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    pairs: list[tuple[str, str]] = []
    for key, value in (parameters or {}).items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, text(item)))
    return urllib.parse.urlencode(pairs)


def invoke(
    api_url: str,
    *,
    path: str,
    method: str,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """Call Airflow; return (status, parsed body) on success, raise RestApiClient/ServerError on 4xx/5xx."""
    url = api_url.rstrip("/") + "/" + path.lstrip("/")
    encoded = query_string(query)
    if encoded:
        url = f"{url}?{encoded}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method.upper(), headers=dict(headers or {}))
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, _read(response)
    except urllib.error.HTTPError as error:
        raise RestApiError.for_status(error.code, _read(error)) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise InternalServerError(f"the Airflow REST API did not answer within {TIMEOUT_SECONDS}s: {error}") from None


def _read(response: Any) -> Any:
    raw = response.read(MAX_RESPONSE_BYTES + 1)
    if len(raw) > MAX_RESPONSE_BYTES:
        raise InternalServerError(f"the Airflow REST API response is larger than MWAA's {MAX_RESPONSE_BYTES} bytes")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {"text": raw.decode(errors="replace")}
