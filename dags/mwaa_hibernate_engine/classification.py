"""What happens to every table of the Airflow 2.10/2.11 metadata schema, and why. Data, not code.

Three kinds:

- **copied**: history the new environment does not have. Every row comes back; integer surrogate keys
  are shifted past the target's own rows and every reference to them is rewritten.
- **merged**: the new environment already has (or will regenerate) some rows. Rows are matched on a
  natural key; a matched row keeps its target id and gets the snapshot's values for `update` columns
  only; an unmatched row is inserted like a copied one.
- **owned**: state the new environment creates and keeps current itself (parsed DAGs, its own jobs'
  sessions, regenerated permissions...). Not exported, never touched by a restore.

A table of the live schema that is in none of these lists stops export and restore with
`UnclassifiedTable`: a new Airflow version must be looked at by a person before we copy it.
docs/snapshot-format.md ("What is restored, merged, and deliberately not restored") lists every table with
its reason, generated from TABLES (`not_restored()` gives the owned ones as a list).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mwaa_hibernate_engine.errors import UnclassifiedTable


class Kind(StrEnum):
    COPIED = "copied"
    MERGED = "merged"
    OWNED = "owned"


@dataclass(frozen=True)
class TablePolicy:
    kind: Kind
    reason: str
    # merged tables: the columns that identify "the same row" in source and target.
    natural_key: tuple[str, ...] = ()
    # merged tables: the columns whose snapshot value overwrites the target's on a matched row.
    update: tuple[str, ...] = ()
    # columns holding secrets -> the boolean column saying whether Airflow Fernet-encrypted it
    # (None: no flag; Airflow encrypts whenever a key is set, and plain JSON means "not encrypted").
    secrets: tuple[tuple[str, str | None], ...] = ()


def _copied(reason: str, **kw: object) -> TablePolicy:
    return TablePolicy(Kind.COPIED, reason, **kw)  # type: ignore[arg-type]


def _merged(reason: str, key: tuple[str, ...], update: tuple[str, ...] = (), **kw: object) -> TablePolicy:
    return TablePolicy(Kind.MERGED, reason, natural_key=key, update=update, **kw)  # type: ignore[arg-type]


def _owned(reason: str) -> TablePolicy:
    return TablePolicy(Kind.OWNED, reason)


_DAG_SCHEDULE = ("next_dagrun", "next_dagrun_data_interval_start", "next_dagrun_data_interval_end")

TABLES: dict[str, TablePolicy] = {
    # --- DAGs: the parser owns their definition, the user owns is_paused, the scheduler their next run.
    "dag": _merged(
        "The new environment parses DAG files into this table itself. The snapshot brings back what users set "
        "(is_paused, then overridden by the paused-state record) and where the schedule stood (next_dagrun*), "
        "so no catch-up storm starts; DAGs not parsed yet are inserted so their history has a parent row.",
        key=("dag_id",),
        update=("is_paused", *_DAG_SCHEDULE, "next_dagrun_create_after"),
    ),
    "dag_code": _owned("Source code of DAG files: re-read from the DAG folder by the new environment's parser."),
    "serialized_dag": _owned("Serialized DAGs: regenerated from the DAG files by the new environment's parser."),
    "import_error": _owned("Parse errors of DAG files: recomputed by the new environment's parser."),
    "dag_warning": _owned("DAG warnings (e.g. non-existent pools): recomputed by the parser and scheduler."),
    "dag_tag": _owned("Tags come from the DAG definitions and are rewritten on every parse."),
    "dag_owner_attributes": _owned("Owner links come from the DAG definitions and are rewritten on every parse."),
    "dag_priority_parsing_request": _owned("Requests to re-parse a file now: meaningless for a fresh parser."),
    "dag_pickle": _copied("Pickled DAGs referenced by dag.pickle_id (legacy; usually empty)."),
    "callback_request": _owned(
        "Callbacks queued for the old environment's DAG processor; the export DAG drains work first, and "
        "running them again in the new environment would fire failure/SLA callbacks twice."
    ),
    # --- run history: copied whole.
    "dag_run": _copied("Run history: states, dates, conf, data intervals."),
    "dag_run_note": _copied("Notes users wrote on runs (user ids remapped to the restored users)."),
    "task_instance": _copied("Task instance history: states, tries, durations, hosts, executor config."),
    "task_instance_history": _copied("Earlier tries of task instances."),
    "task_instance_note": _copied("Notes users wrote on task instances."),
    "task_map": _copied("Lengths of mapped task expansions."),
    "task_reschedule": _copied("Reschedule history of sensors in reschedule mode."),
    "task_fail": _copied("Failure history (durations of failed tries)."),
    "rendered_task_instance_fields": _copied("Rendered templates shown in the UI."),
    "xcom": _copied("XCom values, pickled or JSON, byte for byte."),
    "sla_miss": _copied("SLA misses and whether their notifications were sent (so they are not sent again)."),
    "log": _copied("The audit log: who did what, when."),
    "job": _copied(
        "Scheduler, triggerer and task jobs: task_instance.job_id, dag_run.creating_job_id and "
        "trigger.triggerer_id point here. The old environment's jobs come back as history with shifted ids; "
        "their stale heartbeats make the new scheduler treat any left 'running' as dead, as it should."
    ),
    "trigger": _copied(
        "Triggers of deferred tasks (kwargs re-encrypted with the new Fernet key).", secrets=(("kwargs", None),)
    ),
    "log_template": _merged(
        "Log file name templates. The new environment inserts its own at migration; dag_run.log_template_id "
        "is remapped by content so old runs still find their logs.",
        key=("filename", "elasticsearch_id"),
    ),
    # --- configuration users made: merged, the snapshot wins.
    "slot_pool": _merged(
        "Pools: default_pool exists in every new environment; matched by name, the snapshot's slots win.",
        key=("pool",),
        update=("slots", "description", "include_deferred"),
    ),
    "connection": _merged(
        "Connections (passwords and extras re-encrypted with the new Fernet key); matched by conn_id, "
        "the snapshot wins.",
        key=("conn_id",),
        update=(
            "conn_type",
            "description",
            "host",
            "schema",
            "login",
            "password",
            "port",
            "is_encrypted",
            "is_extra_encrypted",
            "extra",
        ),
        secrets=(("password", "is_encrypted"), ("extra", "is_extra_encrypted")),
    ),
    "variable": _merged(
        "Variables (values re-encrypted with the new Fernet key); matched by key, the snapshot wins.",
        key=("key",),
        update=("val", "description", "is_encrypted"),
        secrets=(("val", "is_encrypted"),),
    ),
    # --- datasets: the parser registers them; events are history.
    "dataset": _merged(
        "Datasets are registered by the parser; matched by URI so events keep pointing at the right one, "
        "with their own registration times.",
        key=("uri",),
        update=("created_at", "updated_at"),
    ),
    "dataset_alias": _merged("Dataset aliases, registered by the parser; matched by name.", key=("name",)),
    "dataset_alias_dataset": _merged(
        "Which datasets an alias resolved to at run time.", key=("alias_id", "dataset_id")
    ),
    "dataset_event": _copied("Dataset events: the history of data updates."),
    "dagrun_dataset_event": _copied("Which dataset events triggered which runs."),
    "dataset_alias_dataset_event": _copied("Which dataset events were emitted through which alias."),
    "dataset_dag_run_queue": _merged(
        "Dataset updates waiting to trigger a DAG run: pending work that must not be lost.",
        key=("dataset_id", "target_dag_id"),
    ),
    "dag_schedule_dataset_reference": _owned("Which datasets schedule a DAG: written by the parser."),
    "dag_schedule_dataset_alias_reference": _owned("Which aliases schedule a DAG: written by the parser."),
    "task_outlet_dataset_reference": _owned("Which tasks update a dataset: written by the parser."),
    # --- web UI users (FAB). Notes point at users, so users come back; permissions are regenerated.
    "ab_user": _merged(
        "Web UI users, referenced by notes. Matched by username: a user the new environment already has "
        "(MWAA creates them at sign-in) is kept as is; others are inserted.",
        key=("username",),
    ),
    "ab_role": _merged("Roles, matched by name; custom roles come back (without their permissions).", key=("name",)),
    "ab_user_role": _merged("Which user has which role.", key=("user_id", "role_id")),
    "ab_permission": _owned("FAB permissions: regenerated by the web server at start (sync-perm)."),
    "ab_view_menu": _owned("FAB view menus: regenerated by the web server at start (sync-perm)."),
    "ab_permission_view": _owned("FAB permission/view pairs: regenerated by the web server at start (sync-perm)."),
    "ab_permission_view_role": _owned(
        "Permissions of roles: regenerated for the built-in roles at start; custom roles' permissions are not "
        "restored (MWAA maps IAM to the built-in roles)."
    ),
    "ab_register_user": _owned("Pending self-registrations with one-time links: short-lived, off on MWAA."),
    "session": _owned(
        "Web sign-in sessions of the old web server: restoring them would revive old cookies; users sign in again."
    ),
    "alembic_version": _owned("The schema revision: checked against the snapshot's, never copied."),
}

# References the schema does not declare as foreign keys: (table, column) -> (referenced table, column).
IMPLICIT_REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("dag", "pickle_id"): ("dag_pickle", "id"),
    ("dag_run", "creating_job_id"): ("job", "id"),
    ("dataset_event", "dataset_id"): ("dataset", "id"),
    ("task_instance", "job_id"): ("job", "id"),
    ("task_instance", "queued_by_job_id"): ("job", "id"),
    ("task_instance_history", "job_id"): ("job", "id"),
    ("task_instance_history", "queued_by_job_id"): ("job", "id"),
    ("task_instance_history", "trigger_id"): ("trigger", "id"),
    ("trigger", "triggerer_id"): ("job", "id"),
    ("xcom", "dag_run_id"): ("dag_run", "id"),
}


def policy_for(table: str) -> TablePolicy:
    """The policy of `table`; UnclassifiedTable names it when nobody decided."""
    try:
        return TABLES[table]
    except KeyError:
        raise UnclassifiedTable(
            f"table {table!r} is in the database but not in mwaa_hibernate_engine.classification: this Airflow "
            "version has a table nobody decided how to snapshot. Add it to TABLES (copied, merged or owned, "
            "with the reason) before exporting or restoring this environment"
        ) from None


def not_restored() -> list[tuple[str, str]]:
    """(table, reason) for every table a restore deliberately leaves to the new environment."""
    return sorted((table, policy.reason) for table, policy in TABLES.items() if policy.kind is Kind.OWNED)


def classify(tables: list[str]) -> dict[str, TablePolicy]:
    """Policies for every table, in the given order; fails on the first unclassified one."""
    return {table: policy_for(table) for table in tables}
