"""The stand-in's HTTP front: MWAA's REST-JSON wire protocol for boto3, plus a small admin endpoint.

Routes follow the botocore model (`PUT|GET|PATCH|DELETE /environments/{Name}`, `GET /environments`,
`POST /restapi|clitoken|webtoken/{Name}`); errors carry `x-amzn-ErrorType` and a JSON body with
`message` and the modelled fields, which is what botocore's REST-JSON parser reads. Timestamps are
epoch seconds, the protocol's default. Admin routes live under `/_standin/` (see `faults`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import subprocess
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .dag_sync import DEFAULT_INTERVAL_SECONDS
from .databases import open_databases
from .environment import REPOSITORY_DAGS, StandInSettings
from .errors import ApiError, FaultSpecError, InternalServerError, ResourceNotFound, ValidationFailed
from .service import MwaaService

logger = logging.getLogger(__name__)

Handler = Callable[[MwaaService, str, dict[str, Any], dict[str, list[str]]], Any]


def _list_environments(service: MwaaService, _name: str, _body: dict[str, Any], query: dict[str, list[str]]) -> Any:
    try:
        max_results = int(query["MaxResults"][0]) if "MaxResults" in query else None
    except ValueError:
        raise ValidationFailed("MaxResults must be an integer from 1 to 25") from None
    return service.list_environments(max_results=max_results, next_token=query.get("NextToken", [None])[0])


# (method, path pattern, handler(service, name, body, query)); the name group is the environment name.
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/environments"), _list_environments),
    ("PUT", re.compile(r"/environments/(?P<name>[^/]+)"), lambda s, n, b, q: s.create_environment(n, b)),
    ("GET", re.compile(r"/environments/(?P<name>[^/]+)"), lambda s, n, b, q: s.get_environment(n)),
    ("PATCH", re.compile(r"/environments/(?P<name>[^/]+)"), lambda s, n, b, q: s.update_environment(n, b)),
    ("DELETE", re.compile(r"/environments/(?P<name>[^/]+)"), lambda s, n, b, q: s.delete_environment(n)),
    ("POST", re.compile(r"/restapi/(?P<name>[^/]+)"), lambda s, n, b, q: s.invoke_rest_api(n, b)),
    ("POST", re.compile(r"/clitoken/(?P<name>[^/]+)"), lambda s, n, b, q: s.create_cli_token(n)),
    ("POST", re.compile(r"/webtoken/(?P<name>[^/]+)"), lambda s, n, b, q: s.create_web_login_token(n)),
    ("GET", re.compile(r"/_standin/faults"), lambda s, n, b, q: {"Faults": s.faults.listing()}),
    ("POST", re.compile(r"/_standin/faults"), lambda s, n, b, q: {"Fault": asdict(s.faults.add(b))}),
    ("DELETE", re.compile(r"/_standin/faults"), lambda s, n, b, q: s.faults.clear() or {}),
    ("GET", re.compile(r"/_standin/environments/(?P<name>[^/]+)"), lambda s, n, b, q: s.details(n)),
]  # fmt: skip


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "mwaa-standin"
    service: MwaaService  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        logger.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", urllib.parse.parse_qs(url.query)
        try:
            body = self._body()
            for method, pattern, handler in ROUTES:
                match = pattern.fullmatch(path)
                if match and method == self.command:
                    name = urllib.parse.unquote(match.groupdict().get("name") or "")
                    self._answer(200, handler(self.service, name, body, query))
                    return
            raise ResourceNotFound(f"no MWAA operation for {self.command} {path}")
        except ApiError as error:
            self._answer(error.http_status, error.body(), error_type=error.code)
        except FaultSpecError as error:
            self._answer(400, {"message": str(error)}, error_type=ValidationFailed.code)
        except Exception as error:  # a bug here must reach the client as a 500, not kill the thread
            logger.exception("MWAA stand-in failed on %s %s", self.command, path)
            self._answer(500, {"message": f"stand-in error: {error}"}, error_type=InternalServerError.code)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ValidationFailed("the request body is not valid JSON") from None

    def _answer(self, status: int, payload: Any, *, error_type: str | None = None) -> None:
        data = json.dumps(payload, default=_json_default).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _dispatch


def airflow_version_of(airflow_bin: Path) -> str:
    """The Airflow version installed beside `airflow_bin` (read from package metadata; Airflow is not imported)."""
    code = "from importlib.metadata import version; print(version('apache-airflow'))"
    result = subprocess.run([str(airflow_bin / "python"), "-c", code], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FileNotFoundError(f"no Airflow installation beside {airflow_bin}: {result.stderr.strip()[-300:]}")
    return result.stdout.strip()


class MwaaStandIn:
    """The stand-in in this process: `start()` serves on loopback; `stop()` ends all Airflow and drops all databases."""

    def __init__(
        self,
        *,
        airflow_bin: Path,
        state_dir: Path,
        port: int = 0,
        dags_folder: Path = REPOSITORY_DAGS,
        extra_dags: tuple[Path, ...] = (),
        airflow_env: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        database: str = "auto",
        dag_sync_interval: float = DEFAULT_INTERVAL_SECONDS,
        strip_worker_credentials: bool = False,
        keep_deleted_homes: bool = False,
    ) -> None:
        self.airflow_bin = Path(airflow_bin)
        self.state_dir = Path(state_dir)
        self.port = port
        self._options = dict(
            dags_folder=Path(dags_folder),
            extra_dags=tuple(Path(p) for p in extra_dags),
            airflow_env=dict(airflow_env or {}),
            region=region,
            account=account,
            dag_sync_interval=dag_sync_interval,
            strip_worker_credentials=strip_worker_credentials,
            keep_deleted_homes=keep_deleted_homes,
        )
        self.database = database
        self.service: MwaaService | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the MWAA stand-in is not running: call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MwaaStandIn:
        settings = StandInSettings(
            airflow_bin=self.airflow_bin,
            state_dir=self.state_dir,
            airflow_version=airflow_version_of(self.airflow_bin),
            **self._options,
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        databases = open_databases(self.state_dir / "databases", kind=self.database)
        service = MwaaService(settings, databases)
        handler = type("MwaaRequestHandler", (_RequestHandler,), {"service": service})
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        except OSError:
            databases.close()
            raise
        self.service = service
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mwaa-standin-http", daemon=True)
        self._thread.start()
        logger.info("MWAA stand-in for Airflow %s at %s", settings.airflow_version, self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.service is not None:
            self.service.close()
            self.service.databases.close()
            self.service = None

    def __enter__(self) -> MwaaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
