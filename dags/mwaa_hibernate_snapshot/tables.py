"""Reading rows of a snapshot's table files: the one way to read them outside the engine.

Table files are PostgreSQL CSV with a header, gzip-compressed (`manifest.table_path`). Readers that need
a few facts from them (the adaptive schedule reads the `dag` and `dag_run` tables) go through
`read_rows` only, so a change in how table files are stored (for example encrypting them) is made here
once and every reader follows.

Values come back as PostgreSQL's text (timestamps like ``2026-11-24 09:00:00+00``); an empty field is
None (this reader does not tell NULL from the empty string, which the restore must and this does not).
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections.abc import Iterator, Sequence

from mwaa_hibernate_snapshot.errors import FileMissing, ManifestCorrupt
from mwaa_hibernate_snapshot.manifest import Manifest
from mwaa_hibernate_snapshot.store import SnapshotStore

# Large values (serialized JSON, long descriptions) exceed the csv module's default field limit of 128 KiB.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


def read_rows(
    store: SnapshotStore, manifest: Manifest, table: str, columns: Sequence[str]
) -> Iterator[dict[str, str | None]]:
    """Stream the rows of ``table`` as ``{column: text or None}`` for the ``columns`` asked for.

    A column the snapshot's table does not have (another Airflow version) is None in every row, so callers
    read "what exists". Raises FileMissing when the snapshot has no file for the table, and ManifestCorrupt
    when the file's header is not what the manifest says.
    """
    entry = manifest.file_for(table)
    if entry is None:
        raise FileMissing(f"{store.uri} holds no table {table!r}: the snapshot was taken without it")
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    with store.reader(entry.path) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        if entry.columns and tuple(header) != tuple(entry.columns):
            raise ManifestCorrupt(
                f"{store.uri}{entry.path} has the columns {header}, the manifest says {list(entry.columns)}"
            )
        positions = {name: index for index, name in enumerate(header)}
        wanted = [(name, positions.get(name)) for name in columns]
        for record in reader:
            yield {name: (record[index] or None) if index is not None else None for name, index in wanted}
