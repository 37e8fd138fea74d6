"""Read and check a file's rows, in a second process when the file is big enough to be worth it.

Checking rows (phone and email normalisation, typing, the character rules) is pure CPU work that
needs no database, while resolving and writing wait on PostgreSQL: a forked child reads and
checks the file and streams the results, in file order, through a pipe while the worker resolves
the previous rows. The child never touches the inherited database connection and leaves with
``os._exit`` so no finaliser can write to the parent's socket. Without ``os.fork`` (or for small
files) the rows are checked in-process; the results are the same either way.
"""

import contextlib
import io
import os
import pickle
import queue
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from traits.coercion import DELETE

from .csvfile import FileRuleError, read_rows
from .engine import compact_json
from .rows import RowValidator

PARALLEL_MIN_ROWS = 20_000
BATCH = 2_000
BACKLOG_BLOCKS = 16  # at most ~16 MB of checked rows waiting for the worker


def checked_rows(path: Path, validator: RowValidator, *, total_rows: int) -> Iterator[tuple[int, object]]:
    """(line, validator result) for every data row, in file order."""
    if total_rows < PARALLEL_MIN_ROWS or not hasattr(os, "fork"):
        for line, cells in read_rows(path):
            yield line, validator.validate(line, cells)
        return
    yield from _forked(path, validator)


class _Backlog(io.RawIOBase):
    """The read end of the pipe, drained by a thread into a bounded backlog of blocks.

    A pipe holds 64 KB: without this the child would stall whenever the worker is busy writing a
    chunk to the database, and the two would take turns instead of working at once. The backlog is
    bounded (BACKLOG_BLOCKS x 1 MB) so memory stays flat whatever the file size.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.blocks: queue.Queue = queue.Queue(maxsize=BACKLOG_BLOCKS)
        self.current = memoryview(b"")
        self.stopped = False
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            while not self.stopped and (block := os.read(self.fd, 1 << 20)):
                self.blocks.put(block)
        finally:
            self.blocks.put(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.current:
            self.current = memoryview(self.blocks.get())
            if not self.current:
                self.blocks.put(b"")  # stay at end of file for later reads
                return 0
        n = min(len(buffer), len(self.current))
        buffer[:n] = self.current[:n]
        self.current = self.current[n:]
        return n

    def stop(self) -> None:
        """Once the child has exited: let the thread finish (it may wait on a full backlog), close."""
        self.stopped = True
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.blocks.get(timeout=0.1)
        os.close(self.fd)


def _pack(result):
    """A good row's traits as JSON text when it deletes nothing: the worker writes a new profile's
    traits from the text as is, and only decodes it when a later row or a merge needs it."""
    if isinstance(result, list):
        return result
    pairs, typed = result
    if any(value is DELETE for values in typed.values() for value in values.values()):
        return result
    return pairs, compact_json(typed)


def _child(path: Path, validator: RowValidator, out) -> None:
    batch = []
    try:
        for line, cells in read_rows(path):
            batch.append((line, _pack(validator.validate(line, cells))))
            if len(batch) >= BATCH:
                pickle.dump(("rows", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
                batch = []
        pickle.dump(("rows", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(("end", None), out)
    except FileRuleError as exc:
        pickle.dump(("file_error", str(exc)), out)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the import
        pickle.dump(("error", f"{type(exc).__name__}: {exc}"), out)
    out.flush()


def _forked(path: Path, validator: RowValidator) -> Iterator[tuple[int, object]]:
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no memory or process slots for a child: check the rows here instead
        os.close(read_end)
        os.close(write_end)
        for line, cells in read_rows(path):
            yield line, validator.validate(line, cells)
        return
    if pid == 0:  # the child: check rows, write them to the pipe, leave without cleanup
        code = 0
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb", buffering=1 << 20) as out:
                _child(path, validator, out)
        except BaseException:  # noqa: BLE001 - e.g. the parent went away (broken pipe)
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    backlog = _Backlog(read_end)
    source = io.BufferedReader(backlog, buffer_size=1 << 20)
    finished = False
    try:
        while True:
            try:
                kind, payload = pickle.load(source)
            except EOFError:
                raise RuntimeError("the row checking process stopped unexpectedly") from None
            if kind == "rows":
                yield from payload
            elif kind == "end":
                finished = True
                return
            elif kind == "file_error":
                raise FileRuleError(payload)
            else:
                raise RuntimeError(f"checking rows failed: {payload}")
    finally:
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        backlog.stop()
