"""What happens to every table of the Airflow metadata schema, and why. Data, not code.

One dictionary covers Airflow 2.10/2.11 and 3.0/3.2/3.3 (with the FAB auth manager, as on MWAA). Which
tables a database has, and which columns, is read from the live schema (reflection stays the source of
truth); a table Airflow 3 keeps under the same name but treats differently (a DAG's serialized form and
code are history there, because runs point at the version they ran with) has a second policy, `versioned`,
that applies when the schema versions DAGs (it has a `dag_version` table).

Three kinds:

- **copied**: history the new environment does not have. Every row comes back; integer surrogate keys
  are shifted past the target's own rows and every reference to them is rewritten; UUID keys are kept.
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

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mwaa_hibernate_engine.errors import UnclassifiedTable

# The table whose presence means "this schema versions DAGs" (Airflow 3): runs point at the version they ran with.
VERSIONING_TABLE = "dag_version"


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
    # columns Airflow signs with the Fernet key (itsdangerous' URLSafeSerializer): re-signed with the target's.
    signed: tuple[str, ...] = ()
    # export only the rows some copied table points at: the others belong to an owned table (asset watchers'
    # triggers) or are left for Airflow's own clean-up.
    referenced_only: bool = False
    # the Airflow major versions whose schema has this table (documentation: the live schema decides).
    majors: tuple[int, ...] = (2, 3)
    # created by an application when it first starts, not by a migration: a source database may lack it, and a
    # snapshot without it restores into a target whose table is empty.
    created_at_start: bool = False
    # the policy in a schema that versions DAGs (has VERSIONING_TABLE: Airflow 3), when it differs.
    versioned: TablePolicy | None = None

    @property
    def sealed_columns(self) -> tuple[str, ...]:
        """Every column the snapshot stores sealed: secrets, their flags, signed columns."""
        return (*(c for pair in self.secrets for c in pair if c), *self.signed)


def _copied(reason: str, **kw: object) -> TablePolicy:
    return TablePolicy(Kind.COPIED, reason, **kw)  # type: ignore[arg-type]


def _merged(reason: str, key: tuple[str, ...], update: tuple[str, ...] = (), **kw: object) -> TablePolicy:
    return TablePolicy(Kind.MERGED, reason, natural_key=key, update=update, **kw)  # type: ignore[arg-type]


def _owned(reason: str, **kw: object) -> TablePolicy:
    return TablePolicy(Kind.OWNED, reason, **kw)  # type: ignore[arg-type]


AIRFLOW2 = (2,)
AIRFLOW3 = (3,)
# Update columns a schema lacks are left out (partition keys: 3.2+; teams: 3.2+).
_DAG_SCHEDULE = (
    "next_dagrun",
    "next_dagrun_data_interval_start",
    "next_dagrun_data_interval_end",
    "next_dagrun_partition_key",
    "next_dagrun_partition_date",
)

TABLES: dict[str, TablePolicy] = {
    # --- DAGs: the parser owns their definition, the user owns is_paused, the scheduler their next run.
    "dag": _merged(
        "The new environment parses DAG files into this table itself. The snapshot brings back what users set "
        "(is_paused, then overridden by the paused-state record) and where the schedule stood (next_dagrun*), "
        "so no catch-up storm starts; DAGs not parsed yet are inserted so their history has a parent row.",
        key=("dag_id",),
        update=("is_paused", *_DAG_SCHEDULE, "next_dagrun_create_after"),
    ),
    "dag_code": _owned(
        "Source code of DAG files: re-read from the DAG folder by the new environment's parser.",
        versioned=_copied(
            "The source code of every DAG version (UUID keys, one per dag_version): the code old runs ran. The "
            "new environment's own rows stay as they are."
        ),
    ),
    "serialized_dag": _owned(
        "Serialized DAGs: regenerated from the DAG files by the new environment's parser.",
        versioned=_copied(
            "The serialized DAG of every DAG version (UUID keys, one per dag_version): what the UI draws for an "
            "old run and what clearing an old task runs. The new environment's own rows stay as they are."
        ),
    ),
    "dag_version": _copied(
        "History: every run and task instance points at the DAG version it ran with (UUID keys, kept). The new "
        "environment's processor wrote its own versions before the restore; they stay, renumbered above the "
        "snapshot's in the last step (docs/snapshot-format.md), so they remain the latest.",
        majors=AIRFLOW3,
    ),
    "dag_bundle": _merged(
        "DAG bundles, configured per environment and written by the DAG processor; dag.bundle_name points here. "
        "Matched by name, the target's row is kept (its URL template is signed with its own Fernet key); a "
        "bundle only the snapshot has comes back for its DAGs' sake, its URL template re-signed.",
        key=("name",),
        signed=("signed_url_template",),
        majors=AIRFLOW3,
    ),
    "deadline_alert": _copied(
        "Deadline alerts of a serialized DAG version (Airflow 3.2+; UUID keys): the definitions deadlines point at.",
        majors=AIRFLOW3,
    ),
    "import_error": _owned("Parse errors of DAG files: recomputed by the new environment's parser."),
    "dag_warning": _owned("DAG warnings (e.g. non-existent pools): recomputed by the parser and scheduler."),
    "dag_tag": _merged(
        "Tags come from the DAG definitions and every parse rewrites them. Restored where the new environment "
        "has none yet: a DAG not parsed yet, or whose file is gone, keeps the tags users filter by (a tag its "
        "file dropped meanwhile is removed by the next parse).",
        key=("dag_id", "name"),
    ),
    "dag_owner_attributes": _merged(
        "Owner links come from the DAG definitions and every parse rewrites them; restored like `dag_tag`.",
        key=("dag_id", "owner"),
    ),
    "dag_priority_parsing_request": _owned("Requests to re-parse a file now: meaningless for a fresh parser."),
    "dag_pickle": _copied("Pickled DAGs referenced by dag.pickle_id (legacy; usually empty).", majors=AIRFLOW2),
    "callback_request": _owned(
        "Callbacks queued for the old environment's DAG processor; the export DAG drains work first, and "
        "running them again in the new environment would fire failure/SLA callbacks twice (Airflow 2, 3.0)."
    ),
    # --- run history: copied whole.
    "dag_run": _copied("Run history: states, dates, conf, data intervals."),
    "dag_run_note": _copied("Notes users wrote on runs (user ids remapped to the restored users)."),
    "task_instance": _copied(
        "Task instance history: states, tries, durations, hosts, executor config. Airflow 3's UUID ids (a new "
        "one per try) are kept as they were."
    ),
    "task_instance_history": _copied("Earlier tries of task instances."),
    "task_instance_note": _copied("Notes users wrote on task instances."),
    "task_map": _copied("Lengths of mapped task expansions."),
    "task_reschedule": _copied("Reschedule history of sensors in reschedule mode."),
    "task_fail": _copied("Failure history (durations of failed tries).", majors=AIRFLOW2),
    "rendered_task_instance_fields": _copied("Rendered templates shown in the UI."),
    "xcom": _copied("XCom values, pickled or JSON, byte for byte."),
    "sla_miss": _copied(
        "SLA misses and whether their notifications were sent (so they are not sent again).",
        versioned=_owned(
            "Left behind by an upgrade from Airflow 2 (Airflow 3 has no SLA misses and a new environment has no "
            "such table)."
        ),
    ),
    "_xcom_archive": _owned(
        "Airflow 2 XComs the upgrade to Airflow 3 moved aside: unused by Airflow 3, absent from a new environment.",
        majors=AIRFLOW3,
    ),
    "log": _copied("The audit log: who did what, when."),
    "job": _copied(
        "Scheduler, triggerer and task jobs: task_instance.job_id, dag_run.creating_job_id and "
        "trigger.triggerer_id point here. The old environment's jobs come back as history with shifted ids; "
        "their stale heartbeats make the new scheduler treat any left 'running' as dead, as it should."
    ),
    "trigger": _copied(
        "Triggers of deferred tasks (kwargs re-encrypted with the new Fernet key).",
        secrets=(("kwargs", None),),
        versioned=_copied(
            "Triggers of deferred tasks and of callbacks (kwargs re-encrypted with the new Fernet key; Airflow 3 "
            "stores a task's deferral kwargs as plain JSON). Only triggers a task instance or callback points at "
            "are exported: asset watchers' triggers belong to the new environment, which registers its own.",
            secrets=(("kwargs", None),),
            referenced_only=True,
        ),
    ),
    "backfill": _copied("Backfills and their state: dag_run.backfill_id points here.", majors=AIRFLOW3),
    "backfill_dag_run": _copied("Which runs each backfill created or skipped, in order.", majors=AIRFLOW3),
    "deadline": _copied("Deadlines of runs and whether they were missed (UUID keys).", majors=AIRFLOW3),
    "callback": _copied(
        "Callbacks of deadlines (Airflow 3.2+; UUID keys) and the triggers running them.", majors=AIRFLOW3
    ),
    "hitl_detail": _copied(
        "Human-in-the-loop requests of task instances and the answers people gave (Airflow 3.1+).", majors=AIRFLOW3
    ),
    "hitl_detail_history": _copied(
        "Human-in-the-loop requests and answers of earlier tries (Airflow 3.1+).", majors=AIRFLOW3
    ),
    "task_state_store": _copied("Values tasks stored for their run (Airflow 3.3+).", majors=AIRFLOW3),
    "asset_state_store": _copied("Values stored for an asset (Airflow 3.3+), per asset.", majors=AIRFLOW3),
    "asset_partition_dag_run": _copied(
        "Runs of partitioned assets, pending or created (Airflow 3.2+).", majors=AIRFLOW3
    ),
    "partitioned_asset_key_log": _copied(
        "Which partition keys of which asset events led to which partitioned runs (Airflow 3.2+).", majors=AIRFLOW3
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
        update=("slots", "description", "include_deferred", "team_name"),
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
            "team_name",
        ),
        secrets=(("password", "is_encrypted"), ("extra", "is_extra_encrypted")),
    ),
    "variable": _merged(
        "Variables (values re-encrypted with the new Fernet key); matched by key, the snapshot wins.",
        key=("key",),
        update=("val", "description", "is_encrypted", "team_name"),
        secrets=(("val", "is_encrypted"),),
    ),
    "team": _merged(
        "Teams (Airflow 3.2+ multi-team mode, off on MWAA); pools, connections and variables name them.",
        key=("name",),
        majors=AIRFLOW3,
    ),
    "dag_bundle_team": _merged(
        "Which team owns which bundle (Airflow 3.2+).", key=("dag_bundle_name", "team_name"), majors=AIRFLOW3
    ),
    "dag_favorite": _merged(
        "The DAGs each user marked as a favourite (Airflow 3.2+; user ids remapped to the restored users).",
        key=("user_id", "dag_id"),
        majors=AIRFLOW3,
    ),
    # --- datasets (Airflow 2) and assets (Airflow 3): the parser registers them; events are history.
    "dataset": _merged(
        "Datasets are registered by the parser; matched by URI so events keep pointing at the right one, "
        "with their own registration times.",
        key=("uri",),
        update=("created_at", "updated_at"),
        majors=AIRFLOW2,
    ),
    "dataset_alias": _merged(
        "Dataset aliases, registered by the parser; matched by name.", key=("name",), majors=AIRFLOW2
    ),
    "dataset_alias_dataset": _merged(
        "Which datasets an alias resolved to at run time.", key=("alias_id", "dataset_id"), majors=AIRFLOW2
    ),
    "dataset_event": _copied("Dataset events: the history of data updates.", majors=AIRFLOW2),
    "dagrun_dataset_event": _copied("Which dataset events triggered which runs.", majors=AIRFLOW2),
    "dataset_alias_dataset_event": _copied("Which dataset events were emitted through which alias.", majors=AIRFLOW2),
    "dataset_dag_run_queue": _merged(
        "Dataset updates waiting to trigger a DAG run: pending work that must not be lost.",
        key=("dataset_id", "target_dag_id"),
        majors=AIRFLOW2,
    ),
    "dag_schedule_dataset_reference": _owned("Which datasets schedule a DAG: written by the parser.", majors=AIRFLOW2),
    "dag_schedule_dataset_alias_reference": _owned(
        "Which aliases schedule a DAG: written by the parser.", majors=AIRFLOW2
    ),
    "task_outlet_dataset_reference": _owned("Which tasks update a dataset: written by the parser.", majors=AIRFLOW2),
    "asset": _merged(
        "Assets are registered by the parser; matched by name and URI (their unique key) so events keep "
        "pointing at the right one, with their own registration times; assets no DAG declares any more come "
        "back for their events' sake.",
        key=("name", "uri"),
        update=("created_at", "updated_at"),
        majors=AIRFLOW3,
    ),
    "asset_alias": _merged("Asset aliases, registered by the parser; matched by name.", key=("name",), majors=AIRFLOW3),
    "asset_alias_asset": _merged(
        "Which assets an alias resolved to at run time.", key=("alias_id", "asset_id"), majors=AIRFLOW3
    ),
    "asset_event": _copied("Asset events: the history of data updates.", majors=AIRFLOW3),
    "dagrun_asset_event": _copied("Which asset events triggered which runs.", majors=AIRFLOW3),
    "asset_alias_asset_event": _copied("Which asset events were emitted through which alias.", majors=AIRFLOW3),
    "asset_dag_run_queue": _merged(
        "Asset updates waiting to trigger a DAG run: pending work that must not be lost.",
        key=("asset_id", "target_dag_id"),
        majors=AIRFLOW3,
    ),
    "asset_active": _owned(
        "Which assets some DAG still declares: maintained by the parser and scheduler from the DAGs they see.",
        majors=AIRFLOW3,
    ),
    "dag_schedule_asset_reference": _owned("Which assets schedule a DAG: written by the parser.", majors=AIRFLOW3),
    "dag_schedule_asset_alias_reference": _owned(
        "Which asset aliases schedule a DAG: written by the parser.", majors=AIRFLOW3
    ),
    "dag_schedule_asset_name_reference": _owned(
        "Which asset names schedule a DAG: written by the parser.", majors=AIRFLOW3
    ),
    "dag_schedule_asset_uri_reference": _owned(
        "Which asset URIs schedule a DAG: written by the parser.", majors=AIRFLOW3
    ),
    "task_outlet_asset_reference": _owned("Which tasks update an asset: written by the parser.", majors=AIRFLOW3),
    "task_inlet_asset_reference": _owned(
        "Which tasks read an asset (Airflow 3.2+): written by the parser.", majors=AIRFLOW3
    ),
    "asset_trigger": _owned(
        "Which triggers watch an asset (Airflow 3.0): the new environment registers its own watchers; copying "
        "them would run every watcher twice.",
        majors=AIRFLOW3,
    ),
    "asset_watcher": _owned(
        "Which triggers watch an asset (Airflow 3.1+): the new environment registers its own watchers; copying "
        "them would run every watcher twice.",
        majors=AIRFLOW3,
    ),
    # --- web UI users (FAB). Notes point at users, so users come back; permissions are regenerated.
    "ab_user": _merged(
        "Web UI users, referenced by notes. Matched by username: a user the new environment already has "
        "(MWAA creates them at sign-in) is kept as is; others are inserted.",
        key=("username",),
    ),
    "ab_role": _merged("Roles, matched by name; custom roles come back (without their permissions).", key=("name",)),
    "ab_user_role": _merged("Which user has which role.", key=("user_id", "role_id")),
    # FAB's app creates the group tables when it first starts (a database upgraded from Airflow 2 lacks them).
    "ab_group": _merged(
        "FAB groups of users (Airflow 3's FAB provider), matched by name.",
        key=("name",),
        majors=AIRFLOW3,
        created_at_start=True,
    ),
    "ab_group_role": _merged(
        "Which group has which role.", key=("group_id", "role_id"), majors=AIRFLOW3, created_at_start=True
    ),
    "ab_user_group": _merged(
        "Which user is in which group.", key=("user_id", "group_id"), majors=AIRFLOW3, created_at_start=True
    ),
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
    "revoked_token": _owned(
        "API tokens revoked at sign-out (Airflow 3.2+): signed with the old environment's secret, invalid in the "
        "new one anyway.",
        majors=AIRFLOW3,
    ),
    "connection_test_request": _owned(
        "Connection tests waiting to run (Airflow 3.3+): short-lived requests, not history.", majors=AIRFLOW3
    ),
    "alembic_version": _owned("The schema revision: checked against the snapshot's, never copied."),
    "alembic_version_fab": _owned(
        "The FAB provider's schema revision (Airflow 3): set by the new environment's migration, never copied.",
        majors=AIRFLOW3,
    ),
}

# References the schema does not declare as foreign keys: (table, column) -> (referenced table, column).
# A column a schema lacks is ignored; references to UUID keys only order the tables (nothing to rewrite).
IMPLICIT_REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("dag", "pickle_id"): ("dag_pickle", "id"),
    ("dag_run", "creating_job_id"): ("job", "id"),
    ("dag_run", "scheduled_by_job_id"): ("job", "id"),
    ("dataset_event", "dataset_id"): ("dataset", "id"),
    ("asset_event", "asset_id"): ("asset", "id"),
    ("task_instance", "job_id"): ("job", "id"),
    ("task_instance", "queued_by_job_id"): ("job", "id"),
    ("task_instance_history", "job_id"): ("job", "id"),
    ("task_instance_history", "queued_by_job_id"): ("job", "id"),
    ("task_instance_history", "trigger_id"): ("trigger", "id"),
    ("task_instance_history", "dag_version_id"): ("dag_version", "id"),
    ("trigger", "triggerer_id"): ("job", "id"),
    ("xcom", "dag_run_id"): ("dag_run", "id"),
    ("partitioned_asset_key_log", "asset_id"): ("asset", "id"),
    ("partitioned_asset_key_log", "asset_event_id"): ("asset_event", "id"),
    ("partitioned_asset_key_log", "asset_partition_dag_run_id"): ("asset_partition_dag_run", "id"),
}

# Text columns holding an integer key as its decimal text: Airflow 3 stores the user of a note or a favourite
# as the auth manager's user id, str(ab_user.id) with FAB. Rewritten like integer references; a value that is
# no user id of the snapshot (another auth manager's) stays as it is. Airflow 2 declares these as integer FKs.
IMPLICIT_TEXT_REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("dag_run_note", "user_id"): ("ab_user", "id"),
    ("task_instance_note", "user_id"): ("ab_user", "id"),
    ("dag_favorite", "user_id"): ("ab_user", "id"),
}


def policy_for(table: str, *, versioned: bool = False) -> TablePolicy:
    """The policy of `table` (in a schema that versions DAGs, if `versioned`); UnclassifiedTable names it when
    nobody decided."""
    try:
        policy = TABLES[table]
    except KeyError:
        raise UnclassifiedTable(
            f"table {table!r} is in the database but not in mwaa_hibernate_engine.classification: this Airflow "
            "version has a table nobody decided how to snapshot. Add it to TABLES (copied, merged or owned, "
            "with the reason) before exporting or restoring this environment"
        ) from None
    return policy.versioned if versioned and policy.versioned else policy


def not_restored() -> list[tuple[str, str]]:
    """(table, reason) for every table a restore deliberately leaves to the new environment (in some schema)."""
    owned = []
    for table, policy in TABLES.items():
        owned += [(table, p.reason) for p in (policy, policy.versioned) if p is not None and p.kind is Kind.OWNED]
    return sorted(owned)


def classify(tables: Iterable[str]) -> dict[str, TablePolicy]:
    """Policies for every table of one schema, in the given order; fails on the first unclassified one."""
    tables = list(tables)
    versioned = VERSIONING_TABLE in tables
    return {table: policy_for(table, versioned=versioned) for table in tables}
