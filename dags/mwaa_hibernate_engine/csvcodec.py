"""The snapshot's file format written from Python: PostgreSQL's CSV dialect, byte-compatible with
`COPY ... TO STDOUT WITH (FORMAT csv, HEADER)` for reading back with `COPY ... FROM STDIN`.

NULL is an empty unquoted field; every non-NULL value is quoted, so the empty string is `""`. Values
are PostgreSQL's own text output (`column::text`), so types round-trip through the server's parser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def encode_row(values: Sequence[str | None]) -> bytes:
    return (",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n").encode("utf-8")


def encode_rows(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> Iterable[bytes]:
    yield encode_row(header)
    for row in rows:
        yield encode_row(row)
