"""`mwaa-hibernate snapshot export|restore|verify|new-key`: the snapshot engine for operators and self-managed Airflow.

A thin shell over `mwaa_hibernate_engine`: options in, one engine call, a summary out (a table, or JSON
with `--json`), and an exit code a script can rely on (the whole table is in `mwaa_hibernate_cli.exits`):

    0  done
    1  unexpected error (a bug: please report it with the traceback)
    2  usage error: bad or missing options, unsupported database URL
    3  snapshot invalid or refused: no manifest (half-written), missing or altered file, other schema revision
    4  encryption problem: wrong key file, KMS refused, missing or wrong Fernet key
    5  export or restore failed part-way (nothing imported / no manifest written); the message says why
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mwaa_hibernate_cli.exits import EXIT_ENCRYPTION, EXIT_FAILED, EXIT_INVALID, EXIT_USAGE

app = typer.Typer(help="Export, restore and verify metadata-database snapshots directly.", no_args_is_help=True)
_err = Console(stderr=True)

ConnOption = Annotated[
    str,
    typer.Option(
        "--sql-alchemy-conn",
        envvar="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        help="The metadata database: postgresql+psycopg2://user:pw@host/airflow, or sqlite:////path/airflow.db.",
        show_default=False,
    ),
]
FernetOption = Annotated[
    str | None,
    typer.Option(
        "--fernet-key",
        envvar="AIRFLOW__CORE__FERNET_KEY",
        help="The environment's [core] fernet_key (comma-separated for rotation); omit if it has none.",
        show_default=False,
    ),
]
KeyFileOption = Annotated[
    Path | None, typer.Option("--key-file", help="Protect secrets with this local key file (see `new-key`).")
]
KmsOption = Annotated[str | None, typer.Option("--kms-key-id", help="Protect secrets with this AWS KMS key.")]
NoEncryptionOption = Annotated[
    bool, typer.Option("--no-encryption", help="Store secrets in plaintext. Only for throwaway data.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).")]


@app.command("export")
def export_command(
    sql_alchemy_conn: ConnOption,
    to: Annotated[str, typer.Option("--to", help="Snapshot folder: a local directory or s3://bucket/prefix/.")],
    key_file: KeyFileOption = None,
    kms_key_id: KmsOption = None,
    no_encryption: NoEncryptionOption = False,
    fernet_key: FernetOption = None,
    snapshot_id: Annotated[str | None, typer.Option(help="Default: the folder's last path segment.")] = None,
    exclude_dag_id: Annotated[
        list[str] | None, typer.Option(help="Leave this DAG's unfinished runs out (repeatable).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Export the metadata database into a new snapshot folder (manifest written last)."""
    import mwaa_hibernate_engine as engine_api
    import mwaa_hibernate_snapshot as snapshot_api

    cipher = _export_cipher(key_file, kms_key_id, no_encryption)
    with _exit_codes(), _database(sql_alchemy_conn) as db, _progress("Exporting", None, as_json) as progress:
        store = snapshot_api.open_store(to)
        if store.exists(snapshot_api.MANIFEST_NAME):
            _usage(f"{to} already holds a snapshot: a good snapshot is never overwritten, pick a new folder")
        manifest = engine_api.export_snapshot(
            engine=db,
            store=store,
            cipher=cipher,
            source_fernet=fernet_key or None,
            exclude_dag_ids=tuple(exclude_dag_id) if exclude_dag_id else snapshot_api.HIBERNATION_DAG_IDS,
            snapshot_id=snapshot_id,
            progress=progress,
        )
    _report(
        {
            "snapshot_id": manifest.snapshot_id,
            "uri": store.uri,
            "tables": len(manifest.files),
            "rows": manifest.rows,
            "bytes": manifest.bytes,
            "seconds": manifest.timings.get("seconds"),
            "encryption": manifest.encryption["scheme"],
        },
        as_json,
        "Snapshot exported",
    )


@app.command("restore")
def restore_command(
    sql_alchemy_conn: ConnOption,
    from_: Annotated[str, typer.Option("--from", help="Snapshot folder: a local directory or s3://bucket/prefix/.")],
    key_file: KeyFileOption = None,
    kms_key_id: KmsOption = None,
    no_encryption: NoEncryptionOption = False,
    fernet_key: FernetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a snapshot into a migrated metadata database, in one transaction (safe to run twice)."""
    import mwaa_hibernate_engine as engine_api
    import mwaa_hibernate_snapshot as snapshot_api

    with _exit_codes():
        store = snapshot_api.open_store(from_)
        manifest = snapshot_api.load_manifest(store)
        cipher = _restore_cipher(manifest.encryption.get("scheme"), key_file, kms_key_id, no_encryption)
        with _database(sql_alchemy_conn) as db, _progress("Restoring", 2 * len(manifest.files), as_json) as progress:
            result = engine_api.restore_snapshot(
                engine=db, store=store, cipher=cipher, target_fernet=fernet_key or None, progress=progress
            )
    _report(result.to_json(), as_json, "Already restored: nothing changed" if result.already_restored else "Restored")


@app.command("verify")
def verify_command(
    from_: Annotated[str, typer.Option("--from", help="Snapshot folder: a local directory or s3://bucket/prefix/.")],
    as_json: JsonOption = False,
) -> None:
    """Check a snapshot: manifest present, every file there with its recorded size and sha256."""
    import mwaa_hibernate_snapshot as snapshot_api

    with _exit_codes():
        store = snapshot_api.open_store(from_)
        total = len(snapshot_api.load_manifest(store).files)
        with _progress("Verifying", total, as_json) as progress:
            manifest = snapshot_api.verify_snapshot(store, progress=progress)
    _report(
        {
            "snapshot_id": manifest.snapshot_id,
            "valid": True,
            "tables": len(manifest.files),
            "rows": manifest.rows,
            "bytes": manifest.bytes,
            "alembic_revision": manifest.alembic_revision,
            "airflow_version": manifest.airflow_version,
            "encryption": manifest.encryption.get("scheme"),
            "created_at": manifest.created_at,
        },
        as_json,
        "Snapshot is complete and intact",
    )


@app.command("new-key")
def new_key_command(
    path: Annotated[Path, typer.Argument(help="Where to write the key file (must not exist).")],
) -> None:
    """Create a random key file for --key-file (readable by its owner only). Keep it: without it, secrets are lost."""
    from mwaa_hibernate_snapshot import KeyFileCipher

    if path.exists():
        _usage(f"{path} exists: a key file is never overwritten")
    KeyFileCipher.generate(path)
    _err.print(f"Key file written to {path}")


# --- helpers -------------------------------------------------------------------------------------


def _usage(message: str) -> None:
    _err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def _export_cipher(key_file: Path | None, kms_key_id: str | None, no_encryption: bool) -> Any:
    from mwaa_hibernate_snapshot import KeyFileCipher, KmsCipher, NoEncryption

    chosen = [
        name
        for name, on in (("--key-file", key_file), ("--kms-key-id", kms_key_id), ("--no-encryption", no_encryption))
        if on
    ]
    if len(chosen) != 1:
        _usage(
            "choose how secrets are protected in the snapshot: exactly one of --key-file, --kms-key-id or "
            f"--no-encryption (got {', '.join(chosen) or 'none'})"
        )
    if key_file is not None:
        if not key_file.is_file():
            _usage(f"key file {key_file} not found: create one with `mwaa-hibernate snapshot new-key {key_file}`")
        return KeyFileCipher(key_file)
    return KmsCipher(kms_key_id) if kms_key_id else NoEncryption()


def _restore_cipher(scheme: str | None, key_file: Path | None, kms_key_id: str | None, no_encryption: bool) -> Any:
    """The manifest says how the snapshot was encrypted; options only supply what that needs (a key file)."""
    from mwaa_hibernate_snapshot import KeyFileCipher, KmsCipher, NoEncryption

    if key_file is not None:
        return KeyFileCipher(key_file)
    if kms_key_id or scheme == "kms":
        return KmsCipher(kms_key_id)
    if no_encryption or scheme == "none":
        return NoEncryption()
    _usage("this snapshot's secrets are protected by a key file: pass --key-file with the key used at export")
    return None  # unreachable: _usage exits


@contextmanager
def _database(url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError

    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        _usage(f"cannot use --sql-alchemy-conn: {exc}")
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _progress(verb: str, total: int | None, quiet: bool) -> Iterator[Callable[[str, str, int], None]]:
    """A Rich progress display on stderr (stdout stays clean for --json); silent when not a terminal."""
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=_err, transient=True, disable=quiet or not _err.is_terminal) as bar:
        task = bar.add_task(verb, total=total)

        def update(phase: str, table: str, rows: int) -> None:
            bar.update(task, advance=1, description=f"{verb}: {phase} {table} ({rows:,} rows)")

        yield update


@contextmanager
def _exit_codes() -> Iterator[None]:
    """Engine errors become one line on stderr and the documented exit code."""
    from mwaa_hibernate_engine import UnsupportedDatabase
    from mwaa_hibernate_snapshot import CipherError, SnapshotError, SnapshotInvalid

    try:
        yield
    except SnapshotInvalid as exc:
        _fail(EXIT_INVALID, "snapshot refused", exc)
    except CipherError as exc:
        _fail(EXIT_ENCRYPTION, "encryption", exc)
    except UnsupportedDatabase as exc:
        _fail(EXIT_USAGE, "unsupported database", exc)
    except SnapshotError as exc:
        _fail(EXIT_FAILED, "failed", exc)


def _fail(code: int, label: str, exc: Exception) -> None:
    _err.print(f"[red]{label}:[/red] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _report(data: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data) + os.linesep)
        return
    table = Table(title=title, show_header=False)
    for key, value in data.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    Console().print(table)
