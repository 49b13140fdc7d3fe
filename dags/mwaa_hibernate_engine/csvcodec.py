"""The snapshot's file format written from Python: PostgreSQL's CSV dialect, byte-compatible with
`COPY ... TO STDOUT WITH (FORMAT csv, HEADER)` for reading back with `COPY ... FROM STDIN`.

NULL is an empty unquoted field; every non-NULL value is quoted, so the empty string is `""`. Values
are PostgreSQL's own text output (`column::text`), so types round-trip through the server's parser.
`decode_rows` reads the same dialect back (what COPY writes too, which quotes only where needed) for
databases without COPY; Python's csv module cannot tell NULL from the empty string before 3.12.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

# One field and what ends it: a quoted value (quotes doubled inside) or a bare one, then `,` or a newline.
_FIELD = re.compile(r'"((?:[^"]+|"")*)"([,\n])|([^,"\n]*)([,\n])')
_READ_CHARS = 1024 * 1024


def encode_row(values: Sequence[str | None]) -> bytes:
    return (",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n").encode("utf-8")


def encode_rows(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> Iterable[bytes]:
    yield encode_row(header)
    for row in rows:
        yield encode_row(row)


def decode_rows(stream: BinaryIO) -> Iterator[list[str | None]]:
    """Every record of a PostgreSQL CSV stream (the header too), NULL as None, at bounded memory."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    buffer, pos, done = "", 0, False
    record: list[str | None] = []
    while True:
        match = _FIELD.match(buffer, pos)
        if match is None:
            if done:
                if pos < len(buffer) or record:
                    raise ValueError(f"malformed CSV near {buffer[pos : pos + 40]!r}")
                return
            chunk = text.read(_READ_CHARS)
            buffer, pos = buffer[pos:] + chunk, 0
            if not chunk:
                done = True
                if buffer and not buffer.endswith("\n"):
                    buffer += "\n"
            continue
        quoted, end = match.group(1), match.group(2)
        if quoted is not None:
            record.append(quoted.replace('""', '"'))
        else:
            bare, end = match.group(3), match.group(4)
            record.append(bare or None)
        pos = match.end()
        if end == "\n":
            yield record
            record = []
