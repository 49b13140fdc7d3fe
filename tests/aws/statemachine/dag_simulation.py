"""The Airflow side of a hibernation, simulated: what the export and import DAGs do, seen from outside.

The MWAA double calls these when the trigger function creates a run of an unpaused hibernation DAG.
Like the real DAGs they validate the run's conf with the engine's own parser, decrypt the task token
with KMS under the agreed encryption context, and answer through the engine's TaskTokenCallback; the
snapshot they write uses the engine's store and manifest, so the verify function checks a real one.
Work runs on a thread, as a DAG run is asynchronous to the Lambda that triggered it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from mwaa_double import DagRun, MwaaDouble
from mwaa_hibernate_runtime.callback import TaskTokenCallback
from mwaa_hibernate_snapshot import (
    HIBERNATION_DAG_IDS,
    MANIFEST_NAME,
    PAUSED_STATE_NAME,
    Manifest,
    NoEncryption,
    open_store,
    read_paused_state,
    verify_snapshot,
    write_paused_state,
)
from mwaa_hibernate_snapshot.manifest import REQUIRED_TABLES, FileEntry, table_path
from mwaa_hibernate_snapshot.runconf import EXPORT_FAILED, IMPORT_FAILED, parse_export_conf, parse_import_conf

# One small table is enough: the state machines only see the manifest, sizes and checksums.
TABLE = "dag_run"
TABLE_CSV = b"id,dag_id,run_id,state\n1,sales_etl,scheduled__2026-11-23T00:00:00+00:00,success\n"
EXPORT_OUTCOMES = ("success", "fail", "silent", "truncated", "tampered", "reconfigured")
IMPORT_OUTCOMES = ("success", "fail", "silent", "hollow")


@dataclass
class DagSimulation:
    """Export and import DAG behaviour for one test; ``join()`` waits for the runs and re-raises their errors."""

    region: str
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    confs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    snapshots_written: list[str] = field(default_factory=list)
    # Extra tables the export writes ({table: CSV with a header}), e.g. the `dag` table the adaptive schedule reads.
    extra_tables: dict[str, bytes] = field(default_factory=dict)

    def _s3(self) -> Any:
        return boto3.client("s3", region_name=self.region)

    def _start(self, run: DagRun, work: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                work()
            except Exception:  # reported by join(), so a broken contract fails the test that caused it
                self.errors.append(f"{run.dag_id} {run.dag_run_id}: {traceback.format_exc()}")

        thread = threading.Thread(target=guarded, name=f"dag-{run.dag_id}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float = 30.0) -> None:
        for thread in self.threads:
            thread.join(timeout)
        assert not self.errors, "a simulated DAG run failed:\n" + "\n".join(self.errors)

    # --- export ---------------------------------------------------------------------------

    def export(self, outcome: str = "success") -> Callable[[DagRun, MwaaDouble], None]:
        """success: snapshot written, callback succeeds. fail: DAGs paused, then SendTaskFailure(ExportFailed).
        silent: DAGs paused, never calls back. truncated / tampered: like success, but a table is then replaced
        by a shorter file / by one of the same size with other bytes (only its sha256 tells). reconfigured: like
        success, but a task rewrites the saved configuration (a public web server, another role) before calling back
        (in AWS the bucket policy refuses that write; moto does not enforce bucket policies, so the stack's digest
        check is what is tested here)."""
        assert outcome in EXPORT_OUTCOMES

        def runner(run: DagRun, double: MwaaDouble) -> None:
            conf = parse_export_conf(run.conf)  # the real DAG's validation of what the trigger sent
            self.confs.append((run.dag_id, run.conf))
            env = double.environments[run.environment]

            def work() -> None:
                store = open_store(conf.snapshot.uri, s3_client=self._s3())
                with double._lock:
                    before = {d: paused for d, paused in env.dags.items() if d not in HIBERNATION_DAG_IDS}
                    for dag_id in before:
                        env.dags[dag_id] = True
                write_paused_state(store, before)
                callback = TaskTokenCallback(callback=conf.callback, environment=run.environment)
                if outcome == "silent":
                    return
                if outcome == "fail":
                    cause = "Export of table task_instance failed: could not read from the database (simulated)."
                    callback.fail(error=EXPORT_FAILED, cause=cause)
                    return
                version = env.config.get("AirflowVersion", "2.10.3")
                manifest = write_snapshot(
                    store,
                    snapshot_id=conf.snapshot.snapshot_id,
                    extra_tables=self.extra_tables,
                    airflow_version=version,
                )
                self.snapshots_written.append(conf.snapshot.uri)
                # Damage is done with a plain PutObject: the store never overwrites (and in AWS the bucket policy
                # refuses an overwrite; moto does not enforce bucket policies).
                bucket, prefix = conf.snapshot.uri[len("s3://") :].split("/", 1)
                if outcome == "truncated":
                    self._s3().put_object(
                        Bucket=bucket, Key=prefix + table_path(TABLE), Body=gzip.compress(b"id,dag_id\n", mtime=0)
                    )
                if outcome == "reconfigured":
                    key = prefix + "environment.json"
                    saved = json.loads(self._s3().get_object(Bucket=bucket, Key=key)["Body"].read())
                    saved.update(WebserverAccessMode="PUBLIC_ONLY", ExecutionRoleArn="arn:aws:iam::1:role/admin")
                    self._s3().put_object(Bucket=bucket, Key=key, Body=json.dumps(saved).encode())
                if outcome == "tampered":
                    original = store.get_bytes(table_path(TABLE))
                    damaged = original[:-1] + bytes([original[-1] ^ 0xFF])
                    self._s3().put_object(Bucket=bucket, Key=prefix + table_path(TABLE), Body=damaged)
                callback.succeed(
                    {
                        "snapshot_id": manifest.snapshot_id,
                        "tables": len(manifest.files),
                        "rows": manifest.rows,
                        "bytes": manifest.bytes,
                        "seconds": 0.2,
                    }
                )

            self._start(run, work)

        return runner

    # --- import ---------------------------------------------------------------------------

    def import_(self, outcome: str = "success") -> Callable[[DagRun, MwaaDouble], None]:
        """success: paused states and rows restored from the snapshot, callback succeeds. fail: nothing restored (one
        transaction), DAGs stay paused, SendTaskFailure(ImportFailed). silent: never calls back. hollow: reports
        success but restored nothing (what the check from outside must catch)."""
        assert outcome in IMPORT_OUTCOMES

        def runner(run: DagRun, double: MwaaDouble) -> None:
            conf = parse_import_conf(run.conf)
            self.confs.append((run.dag_id, run.conf))
            env = double.environments[run.environment]

            def work() -> None:
                store = open_store(conf.snapshot.uri, s3_client=self._s3())
                manifest = verify_snapshot(store)  # the real import refuses an unverified snapshot
                callback = TaskTokenCallback(callback=conf.callback, environment=run.environment)
                if outcome == "silent":
                    return
                if outcome == "fail":
                    cause = "Restore of table dag_run failed: duplicate key (simulated). Nothing was imported."
                    callback.fail(error=IMPORT_FAILED, cause=cause)
                    return
                states = read_paused_state(store) or {}
                with double._lock:
                    for dag_id, paused in states.items():
                        if dag_id in env.dags and outcome != "hollow":
                            env.dags[dag_id] = paused
                    if outcome != "hollow":
                        env.restored_rows = {f.table: f.rows or 0 for f in manifest.files if f.table}
                callback.succeed(
                    {
                        "snapshot_id": manifest.snapshot_id,
                        "tables": len(manifest.files),
                        "rows": manifest.rows,
                        "seconds": 0.3,
                        "dags_unpaused": sum(1 for paused in states.values() if not paused),
                    }
                )

            self._start(run, work)

        return runner


def probe(outcome: str = "usable") -> Callable[[DagRun, MwaaDouble], None]:
    """The probe DAG: its first task ran and branched to `outcome`'s task (docs/contracts.md, "Carriers")."""
    from mwaa_hibernate_snapshot.carrier import PROBE_OUTCOMES, PROBE_TASK_ID

    def runner(run: DagRun, double: MwaaDouble) -> None:
        run.task_states = {PROBE_TASK_ID: "success"} | {
            name: ("success" if name == outcome else "skipped") for name in PROBE_OUTCOMES
        }
        run.state = "success"

    return runner


# What the simulated export reports as its duration (manifest timings), for the dashboard's export time.
EXPORT_SECONDS = 2.5


def write_snapshot(
    store: Any, *, snapshot_id: str, extra_tables: dict[str, bytes] | None = None, airflow_version: str = "2.10.3"
) -> Manifest:
    """A small, complete, valid snapshot in the engine's format: one table (and any extra ones), the paused state,
    the manifest last."""
    entries = []
    for name, csv_bytes in {TABLE: TABLE_CSV, **(extra_tables or {})}.items():
        with store.writer(table_path(name)) as writer:
            writer.write(gzip.compress(csv_bytes, mtime=0))
        entries.append(
            FileEntry(
                path=table_path(name),
                bytes=writer.bytes_written,
                sha256=writer.sha256,
                table=name,
                kind="copy" if name == TABLE else "merged",
                rows=csv_bytes.count(b"\n") - 1,
                columns=tuple(csv_bytes.split(b"\n", 1)[0].decode().split(",")),
            )
        )
    major = int(airflow_version.split(".")[0])
    for name in sorted(REQUIRED_TABLES.get(major, frozenset()) - {e.table for e in entries}):  # always there, empty
        with store.writer(table_path(name)) as writer:
            writer.write(gzip.compress(b"id\n", mtime=0))
        entries.append(FileEntry(table_path(name), writer.bytes_written, writer.sha256, name, "copy", 0, ("id",)))
    paused_bytes = store.get_bytes(PAUSED_STATE_NAME)
    paused = FileEntry(path=PAUSED_STATE_NAME, bytes=len(paused_bytes), sha256=hashlib.sha256(paused_bytes).hexdigest())
    _, encryption = NoEncryption().new_box(snapshot_id=snapshot_id)
    manifest = Manifest(
        snapshot_id=snapshot_id,
        created_at=datetime.now(UTC).isoformat(),
        dialect="postgresql",
        alembic_revision="5f2621c13b39",
        airflow_version=airflow_version,
        encryption=encryption,
        files=tuple(entries),
        excluded_dag_ids=HIBERNATION_DAG_IDS,
        paused_state=paused,
        timings={"seconds": EXPORT_SECONDS},
    )
    store.put_bytes(MANIFEST_NAME, manifest.dumps())
    return manifest
