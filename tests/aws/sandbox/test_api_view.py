"""The REST API comparison the end-to-end round trip relies on: it must see what a user would see change."""

from __future__ import annotations

import datetime as dt

from mwaa_hibernate_sandbox.api_view import ApiView, compare_views

STARTED = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)


def _line(event_id: int, event: str, when: str = "2026-12-05T13:00:00+00:00") -> dict:
    return {"event_log_id": event_id, "event": event, "dag_id": "etl", "when": when}


def _view(variable: str, lines: list[dict], users: list[dict]) -> ApiView:
    view = ApiView()
    answers = {
        ("/variables/x", "/variables/{variable_key}"): {"key": "x", "value": variable},
        ("/eventLogs", "/eventLogs"): {"event_logs": lines, "total_entries": len(lines)},
        ("/users", "/users"): {"users": users, "total_entries": len(users)},
        ("/health", "/health"): {"scheduler": {"latest_scheduler_heartbeat": variable}},
        ("/dags/etl/details", "/dags/{dag_id}/details"): {"dag_id": "etl", "last_parsed_time": variable},
    }
    for (path, template), answer in answers.items():
        view.responses[path], view.templates[path] = answer, template
    for line in lines:
        path = f"/eventLogs/{line['event_log_id']}"
        view.responses[path], view.templates[path] = line, "/eventLogs/{event_log_id}"
    return view


ALICE = {"username": "alice", "roles": [{"name": "Op"}], "login_count": 3}
ADMIN = {"username": "admin", "roles": [{"name": "Admin"}], "login_count": 1}


def test_shifted_audit_log_ids_own_users_and_recomputed_fields_are_not_differences() -> None:
    before = _view("a", [_line(1, "run"), _line(2, "note")], [ALICE, ADMIN])
    # After the wake: the new environment's own lines came first (ids shifted), its sign-in user is new.
    after = _view(
        "b_recomputed_is_ignored_in_health_and_details",
        [_line(1, "cli_scheduler", "2026-12-05T14:05:00+00:00"), _line(2, "run"), _line(3, "note")],
        [ALICE, {**ADMIN, "login_count": 9}],
    )
    after.responses["/variables/x"] = before.responses["/variables/x"]

    assert compare_views(before, after, cycle_started=STARTED, own_users=["admin"]) == []


def test_a_changed_value_a_lost_audit_line_and_a_backdated_one_are_differences() -> None:
    before = _view("a", [_line(1, "run"), _line(2, "note")], [ALICE])
    after = _view(
        "b", [_line(5, "run"), _line(6, "forged", "2026-12-05T13:30:00+00:00")], [{**ALICE, "login_count": 4}]
    )

    differences = {d.path: d for d in compare_views(before, after, cycle_started=STARTED)}

    assert set(differences) == {"/variables/x", "/users", "/eventLogs", "/eventLogs/{event_log_id}"}
    assert "note" in str(differences["/eventLogs/{event_log_id}"].before)
    assert "forged" in str(differences["/eventLogs/{event_log_id}"].after)
