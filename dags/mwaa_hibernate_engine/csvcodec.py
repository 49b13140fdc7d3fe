"""The snapshot's file format written from Python: PostgreSQL's CSV dialect, byte-compatible with
`COPY ... TO STDOUT WITH (FORMAT csv, HEADER)` for reading back with `COPY ... FROM STDIN`.

NULL is an empty unquoted field; every non-NULL value is quoted, so the empty string is `""`. Values
are PostgreSQL's own text output (`column::text`), so types round-trip through the server's parser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# Group small writes into blocks before they reach gzip and the store: one call per row is slow.
WRITE_BLOCK = 1024 * 1024


def encode_row(values: Sequence[str | None]) -> bytes:
    return (",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n").encode("utf-8")


def encode_rows(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> Iterable[bytes]:
    yield encode_row(header)
    for row in rows:
        yield encode_row(row)


class BlockWriter:
    """Coalesces many small writes (COPY sends one per row) into WRITE_BLOCK-sized writes."""

    def __init__(self, sink: Any, block: int = WRITE_BLOCK) -> None:
        self._sink = sink
        self._block = block
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | memoryview) -> int:
        self._parts.append(bytes(data))
        self._size += len(data)
        if self._size >= self._block:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._parts:
            self._sink.write(b"".join(self._parts))
            self._parts.clear()
            self._size = 0
