"""Unpause exactly a set of DAGs, in as few REST calls as is safe.

InvokeRestApi allows about 10 calls a second and a function runs for minutes at most, so one PATCH per
DAG does not scale to hundreds of DAGs. Airflow 3's REST API can patch every DAG whose id matches a
pattern (`PATCH /dags?dag_id_pattern=...`), but a pattern is a case-insensitive substring in which `_` and
`%` are wildcards: used carelessly, it would unpause a DAG its team had paused on purpose. So a pattern
is used only when no DAG outside the set could match it; the rest get one exact call each; and the end
result is read back and checked. On Airflow 3.0 and 3.2 one call changes at most one page of DAGs, so each
pattern is repeated until nothing matches (3.3 changes every match at once).

Airflow 2 keeps one exact call per DAG (its bulk route has no paused filter), except for a DAG whose path
would be longer than InvokeRestApi allows: its id goes in the bulk call's query instead, when that pattern
selects no DAG that should stay paused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mwaa_hibernate import restapi
from mwaa_hibernate.airflow_api import PAGE_SIZE, AirflowApi
from mwaa_hibernate.exceptions import DagNotFound, MwaaHibernateError

logger = logging.getLogger(__name__)

# A pattern must cover at least this many DAGs to be worth a bulk call, and be this long to mean anything.
MIN_GROUP = 2
MIN_PATTERN = 3
# Seconds kept back to report the DAGs still paused before the function's time is up.
RESERVE_SECONDS = 20.0


@dataclass
class UnpauseReport:
    unpaused: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    # DAGs outside the set a bulk call changed after all (a DAG that appeared meanwhile), paused again.
    repaused: list[str] = field(default_factory=list)


def _regex(pattern: str, *, one_line: bool = False) -> re.Pattern[str]:
    """ILIKE '%pattern%' as a regex; `one_line` keeps wildcards inside one line of a newline-joined haystack."""
    any_run, any_one = (r"[^\n]*", r"[^\n]") if one_line else (".*", ".")
    body = "".join(any_run if c == "%" else any_one if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, flags=re.IGNORECASE | (0 if one_line else re.DOTALL))


def matches(pattern: str, dag_id: str) -> bool:
    """What Airflow's `dag_id_pattern` matches: ILIKE '%pattern%' (`_` any one character, `%` any run)."""
    return _regex(pattern).search(dag_id) is not None


def plan(todo: Iterable[str], others: Iterable[str]) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Patterns that match DAGs of `todo` and none of `others`, and the DAGs of `todo` no pattern covers.

    The candidates are the prefixes the ids share (a trie, walked from the root): the shortest prefix shared by
    at least MIN_GROUP ids that matches none of `others` becomes a pattern; otherwise its longer prefixes are
    tried. Teams name DAGs `<team>_<pipeline>_...`, so a handful of patterns usually covers hundreds of DAGs.
    """
    ids = sorted(set(todo))
    haystack = "\n".join(sorted(set(others)))
    patterns: list[str] = []

    def visit(prefix: str, group: list[str]) -> None:
        if len(group) < MIN_GROUP:
            return
        if len(prefix) >= MIN_PATTERN and not _regex(prefix, one_line=True).search(haystack):
            patterns.append(prefix)
            return
        children: dict[str, list[str]] = {}
        for dag_id in group:
            if len(dag_id) > len(prefix):
                children.setdefault(dag_id[len(prefix)], []).append(dag_id)
        for char in sorted(children):
            visit(prefix + char, children[char])

    visit("", ids)
    groups = [(pattern, [d for d in ids if matches(pattern, d)]) for pattern in patterns]
    covered = {d for _, members in groups for d in members}
    return groups, [d for d in ids if d not in covered]


def unpause_exactly(
    api: AirflowApi, dag_ids: Iterable[str], *, time_left: Callable[[], float] | None = None
) -> UnpauseReport:
    """Unpause these DAGs and no other; report what was done (DAGs not found are listed, not errors). With
    `time_left` (seconds), the DAGs not reached before RESERVE_SECONDS are reported as failed."""
    wanted = list(dict.fromkeys(dag_ids))
    report = UnpauseReport()
    if not api.airflow3 or not wanted:
        long_ids = [d for d in wanted if len(f"/dags/{d}") > restapi.MAX_PATH_LENGTH]
        known = {dag.dag_id: dag.is_paused for dag in api.dags()} if long_ids else None
        _one_by_one(api, wanted, report, known=known, wanted=set(wanted), time_left=time_left)
        return report
    before = {dag.dag_id: dag.is_paused for dag in api.dags()}
    report.calls += 1 + len(before) // PAGE_SIZE
    report.missing = [d for d in wanted if d not in before]
    todo = [d for d in wanted if before.get(d) is True]
    report.unpaused = [d for d in wanted if before.get(d) is False]  # nothing to do: already active
    others = [d for d, paused in before.items() if paused and d not in set(todo)]
    groups, singles = plan(todo, others)
    for pattern, members in groups:
        try:
            _patch_until_done(api, pattern, len(members), report)
        except MwaaHibernateError as exc:
            logger.warning("bulk unpause with pattern %r failed (%s); falling back to one call per DAG", pattern, exc)
            singles.extend(members)
    after = {dag.dag_id: dag.is_paused for dag in api.dags()}
    report.calls += 1 + len(after) // PAGE_SIZE
    still_paused = [d for d in todo if after.get(d) is True and d not in singles]
    redo = sorted(set(singles) | set(still_paused))
    _one_by_one(api, redo, report, known=after, wanted=set(wanted), time_left=time_left)
    report.unpaused += [d for d in todo if after.get(d) is False]
    patterns = [pattern for pattern, _ in groups]
    for dag_id, paused in after.items():  # appeared or was paused since the listing, and a pattern caught it
        caught = any(matches(pattern, dag_id) for pattern in patterns)
        if caught and not paused and before.get(dag_id, True) and dag_id not in set(wanted):
            api.set_paused(dag_id, True)
            report.calls += 1
            report.repaused.append(dag_id)
    report.unpaused = sorted(set(report.unpaused))
    return report


def _patch_until_done(api: AirflowApi, pattern: str, members: int, report: UnpauseReport) -> None:
    for _ in range(members // (PAGE_SIZE // 2) + 2):  # a call changes 50 DAGs on 3.0, 100 on 3.2, all on 3.3
        answer = api.patch_matching(pattern, paused=False)
        report.calls += 1
        if not answer.get("dags") or int(answer.get("total_entries", 0)) <= len(answer.get("dags", [])):
            return


def _one_by_one(
    api: AirflowApi,
    dag_ids: list[str],
    report: UnpauseReport,
    known: dict[str, bool] | None = None,
    *,
    wanted: set[str] | None = None,
    time_left: Callable[[], float] | None = None,
) -> None:
    for position, dag_id in enumerate(dag_ids):
        if time_left is not None and time_left() < RESERVE_SECONDS:
            report.failed.update(dict.fromkeys(dag_ids[position:], "the function ran out of time"))
            return
        if known is not None and known.get(dag_id) is False:
            continue
        try:
            if len(f"/dags/{dag_id}") > restapi.MAX_PATH_LENGTH:
                _unpause_long_id(api, dag_id, known or {}, wanted or {dag_id})
            else:
                api.set_paused(dag_id, False)
        except DagNotFound:
            report.missing.append(dag_id)
        except MwaaHibernateError as exc:
            report.failed[dag_id] = str(exc)
        else:
            report.unpaused.append(dag_id)
        report.calls += 1


def _unpause_long_id(api: AirflowApi, dag_id: str, known: dict[str, bool], wanted: set[str]) -> None:
    """A DAG whose `/dags/<id>` path InvokeRestApi refuses: the bulk call with the id as its pattern, which is
    safe only when the pattern selects no paused DAG outside `wanted`."""
    if dag_id not in known:
        raise DagNotFound(f"DAG {dag_id} was not found")
    others = sorted(d for d, paused in known.items() if paused and d not in wanted and matches(dag_id, d))
    if others:
        raise MwaaHibernateError(
            f"DAG {dag_id} cannot be unpaused through InvokeRestApi: its id is too long for a path of "
            f"{restapi.MAX_PATH_LENGTH} characters, and the bulk call's pattern would also unpause "
            f"{', '.join(others)}, which were paused before. Unpause it in the Airflow UI."
        )
    api.patch_matching(dag_id, paused=False)
