"""The DAG routes of Airflow's REST API as InvokeRestApi reaches them, with each version's real semantics.

What the fake must get right is what the bulk unpause relies on, measured on real Airflow 3 (its source,
`api_fastapi/core_api/routes/public/dags.py`, and runs against 3.0.6, 3.2.1 and 3.3.1):

- `dag_id_pattern` is `ILIKE '%pattern%'`: a case-insensitive substring where `_` is any one character and
  `%` any run of characters;
- `PATCH /dags` changes the DAGs of one page only on 3.0.6 (limit defaults to 50, no cap) and 3.2.1 (limit
  capped at 100), every matching DAG on 3.3.1; it answers the page and `total_entries` counted before the
  change;
- stale DAGs are left out unless `exclude_stale=false`;
- v2 single PATCH with `update_mask=is_paused`; v1 has no `paused` filter on PATCH /dags (not modelled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


def ilike(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in f"%{pattern}%")
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


@dataclass
class FakeAirflowDags:
    version: str
    dags: dict[str, bool]  # dag_id -> is_paused
    stale: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def handle(self, method: str, path: str, query: dict[str, Any], body: Any) -> tuple[int, Any]:
        self.calls.append((method, path, dict(query)))
        if path == "/dags" and method == "GET":
            return 200, self._page(self._filtered(query), query)
        if path == "/dags" and method == "PATCH":
            return self._patch_many(query, body or {})
        if match := re.fullmatch(r"/dags/([^/]+)", path):
            dag_id = match.group(1)
            if dag_id not in self.dags:
                return 404, {"detail": f"The Dag with ID: `{dag_id}` was not found"}
            if method == "PATCH":
                self.dags[dag_id] = bool(body["is_paused"])
            return 200, self._dag(dag_id)
        return 404, {"detail": "Not Found"}

    def _dag(self, dag_id: str) -> dict[str, Any]:
        return {"dag_id": dag_id, "is_paused": self.dags[dag_id], "is_stale": dag_id in self.stale}

    def _filtered(self, query: dict[str, Any]) -> list[str]:
        pattern, paused = query.get("dag_id_pattern"), _flag(query.get("paused"))
        exclude_stale = _flag(query.get("exclude_stale"))
        found = []
        for dag_id in sorted(self.dags):
            if exclude_stale is not False and dag_id in self.stale:
                continue
            if pattern not in (None, "~") and not ilike(pattern, dag_id):
                continue
            if paused is not None and self.dags[dag_id] != paused:
                continue
            found.append(dag_id)
        return found

    def _limit(self, query: dict[str, Any]) -> int:
        limit = int(query.get("limit", 50))
        return min(limit, 100) if self.version >= "3.2" else limit

    def _page(self, ids: list[str], query: dict[str, Any]) -> dict[str, Any]:
        offset = int(query.get("offset", 0))
        page = ids[offset : offset + self._limit(query)]
        return {"dags": [self._dag(d) for d in page], "total_entries": len(ids)}

    def _patch_many(self, query: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        if not query.get("dag_id_pattern"):
            return 200, {"dags": [], "total_entries": 0}
        matching = self._filtered(query)
        answer = self._page(matching, query)
        changed = matching if self.version >= "3.3" else [d["dag_id"] for d in answer["dags"]]
        for dag_id in changed:
            self.dags[dag_id] = bool(body["is_paused"])
        answer["dags"] = [self._dag(d["dag_id"]) for d in answer["dags"]]
        return 200, answer
