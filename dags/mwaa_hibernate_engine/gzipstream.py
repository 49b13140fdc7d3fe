"""gzip compression off the reading thread, so reading the database and compressing overlap.

COPY hands over one row per `write` call; rows are gathered into blocks, and a worker thread
compresses, hashes (through the store's writer) and uploads them. zlib and hashlib release the GIL on
large buffers, so on two cores compression runs beside the COPY instead of after it. Memory stays
bounded: at most QUEUE_DEPTH blocks wait in the queue.
"""

from __future__ import annotations

import queue
import threading
import zlib
from typing import Any

# Rows are handed over in blocks of this size: large enough that per-block costs vanish, small enough
# that QUEUE_DEPTH of them are a few MiB.
BLOCK_BYTES = 1024 * 1024
QUEUE_DEPTH = 4
# gzip level 1: about as fast as no compression at all and 6-16x smaller for Airflow's tables
# (tooling-airflow.md, section 5); higher levels cost CPU the worker needs and gain little.
GZIP_LEVEL = 1
_GZIP_WBITS = 31  # zlib's gzip container (16 + 15-bit window); header mtime 0, so output is reproducible
_DONE = object()


class GzipWriter:
    """A file-like sink: `write` rows, then `close()`; errors of the worker surface in the caller's thread."""

    def __init__(self, sink: Any, *, level: int = GZIP_LEVEL) -> None:
        self._sink = sink
        self._level = level
        self._buffer = bytearray()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="mwaa-hibernate-gzip", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= BLOCK_BYTES:
            self._hand_over()
        return len(data)

    def flush(self) -> None:
        """Rows stay buffered until a block is full or the writer closes."""

    def _hand_over(self) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(bytes(self._buffer))
        self._buffer.clear()

    def close(self) -> None:
        if self._buffer:
            self._hand_over()
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the worker without finishing the stream (the caller is failing anyway)."""
        self._error = self._error or RuntimeError("aborted")
        self._queue.put(_DONE)
        self._thread.join()

    def _work(self) -> None:
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, _GZIP_WBITS)
        while True:
            block = self._queue.get()
            if block is _DONE:
                break
            if self._error is not None:
                continue  # drain, so the producer never blocks on a full queue
            try:
                out = compressor.compress(block)
                if out:
                    self._sink.write(out)
            except BaseException as exc:
                self._error = exc
        if self._error is None:
            try:
                self._sink.write(compressor.flush())
            except BaseException as exc:
                self._error = exc

    def __enter__(self) -> GzipWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
