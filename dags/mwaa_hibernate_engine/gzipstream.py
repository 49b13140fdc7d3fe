"""gzip compression off the reading thread, so reading the database and compressing overlap.

COPY hands over one row per `write` call, so the rows first go through `io.BufferedWriter` (its
`write` is C code, much cheaper per row than any Python method) into blocks; a worker thread
compresses, hashes (through the store's writer) and uploads the blocks. zlib and hashlib release the GIL on
large buffers, so on two cores compression runs beside the COPY instead of after it. Memory stays
bounded: at most QUEUE_DEPTH blocks wait in the queue.

The deflate is python-isal's (Intel ISA-L) when it is installed: the same gzip format, which `gzip`
and zlib read, at several times zlib's speed for the same size, so the worker no longer competes with
the database server for CPU. Without it, zlib does the same job more slowly.
"""

from __future__ import annotations

import io
import queue
import threading
import zlib
from types import ModuleType
from typing import Any

_isal_zlib: ModuleType | None
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # optional: zlib writes the same format
    _isal_zlib = None

# Rows are handed over in blocks of this size: large enough that per-block costs vanish, small enough
# that QUEUE_DEPTH of them are a few MiB.
BLOCK_BYTES = 1024 * 1024
QUEUE_DEPTH = 4
# gzip level 1: about as fast as no compression at all and 6-16x smaller for Airflow's tables
# (docs/performance.md, "Baseline measurements"); higher levels cost CPU the worker needs and gain little. ISA-L's
# level 1 (of 0-3) compresses as well as zlib's.
GZIP_LEVEL = 1
# The deflate implementation: a module with zlib's `compressobj` and constants.
DEFLATE: ModuleType = _isal_zlib or zlib
_GZIP_WBITS = 31  # zlib's gzip container (16 + 15-bit window); header mtime 0, so output is reproducible
_DONE = object()


class _CompressingRaw(io.RawIOBase):
    """The raw end of the pipe: whole blocks in, compressed by the worker thread."""

    def __init__(self, sink: Any, level: int, deflate: ModuleType) -> None:
        self._sink = sink
        self._level = level
        self._deflate = deflate
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="mwaa-hibernate-gzip", daemon=True)
        self._thread.start()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.error is not None:
            raise self.error
        self._queue.put(bytes(data))
        return len(data)

    def finish(self, *, aborted: bool) -> None:
        if aborted and self.error is None:
            self.error = RuntimeError("aborted")
        self._queue.put(_DONE)
        self._thread.join()
        if not aborted and self.error is not None:
            raise self.error

    def _work(self) -> None:
        compressor = self._deflate.compressobj(self._level, self._deflate.DEFLATED, _GZIP_WBITS)
        while True:
            block = self._queue.get()
            if block is _DONE:
                break
            if self.error is not None:
                continue  # drain, so the producer never blocks on a full queue
            try:
                out = compressor.compress(block)
                if out:
                    self._sink.write(out)
            except BaseException as exc:
                self.error = exc
        if self.error is None:
            try:
                self._sink.write(compressor.flush())
            except BaseException as exc:
                self.error = exc


class GzipWriter:
    """A file-like sink: `write` rows, then leave the `with` block; worker errors surface in the caller."""

    def __init__(self, sink: Any, *, level: int = GZIP_LEVEL, deflate: ModuleType = DEFLATE) -> None:
        self._raw = _CompressingRaw(sink, level, deflate)
        self._buffered = io.BufferedWriter(self._raw, buffer_size=BLOCK_BYTES)
        self.write = self._buffered.write  # the C method itself: no Python frame per row

    def __enter__(self) -> GzipWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._buffered.flush()
            self._raw.finish(aborted=False)
        else:
            self._raw.finish(aborted=True)
