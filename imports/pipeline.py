"""Read and check a file's rows, in child processes when the file is big enough to be worth it.

Checking rows (phone and email normalisation, typing values by the one text rule) is pure CPU work that
needs no database, while resolving and writing wait on PostgreSQL: forked children (one per core, up to four,
at least two) each read the whole file, check every n-th batch of rows and stream the results
through a pipe; the worker takes the batches from the children in turn, so rows arrive in file
order, while it resolves and writes earlier ones. Several children let the checks use whatever
CPU the worker and PostgreSQL leave idle. A child never touches the inherited database connection
and leaves with ``os._exit`` so no finaliser can write to the parent's socket. Without
``os.fork`` (or for small files) the rows are checked in-process; the results are the same
either way.
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

import orjson

from traits.coercion import DELETE

from .csvfile import COMMA, CsvLayout, FileRuleError, read_rows
from .rows import RowFailed, RowValidator

PARALLEL_MIN_ROWS = 20_000
BATCH = 2_000
CHILD_NICENESS = 10
BACKLOG_BLOCKS = 16  # at most ~16 MB of checked rows waiting for the worker


def checked_rows(
    path: Path, validator: RowValidator, *, total_rows: int, layout: CsvLayout = COMMA
) -> Iterator[tuple[int, object]]:
    """(line, validator result) for every data row, in file order, the file read as `layout` says."""
    if total_rows < PARALLEL_MIN_ROWS or not hasattr(os, "fork"):
        for line, cells in read_rows(path, layout):
            yield line, validator.validate(line, cells)
        return
    yield from _forked(path, validator, layout)


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
    """A row's outcome as a child sends it to the worker. A good row goes as a plain tuple of
    `RowOk`'s fields (pickling a named tuple costs 1.8 us more per row, a million times on the
    worker's side), its traits as orjson's JSON text when it deletes nothing: the worker writes a
    new profile's traits from the text as is, and only decodes it (with orjson, which reads back
    exactly what it wrote) when a later row or a merge needs it. Values orjson cannot write (an
    integer beyond 64 bits) go as they are. The worker reads either form the same way."""
    if isinstance(result, RowFailed):
        return result
    pairs, typed, notes = result
    if any(value is DELETE for values in typed.values() for value in values.values()):
        return (pairs, typed, notes)
    try:
        return (pairs, orjson.dumps(typed).decode(), notes)
    except TypeError:
        return (pairs, typed, notes)


def _child(
    path: Path, validator: RowValidator, out, *, index: int = 0, children: int = 1, layout: CsvLayout = COMMA
) -> None:
    """Read every row (line numbers and file rules need the whole file) but check and send only
    batches number index, index + children, ...: the parent reads the children in turn."""
    batch = []
    number = 0
    try:
        for line, cells in read_rows(path, layout):
            if number % children == index:
                batch.append((line, _pack(validator.validate(line, cells))))
            else:
                batch.append(None)  # another child's row: only counted
            if len(batch) >= BATCH:
                if number % children == index:
                    pickle.dump(("rows", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
                batch = []
                number += 1
        if batch and number % children == index:
            pickle.dump(("rows", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(("end", None), out)
    except FileRuleError as exc:
        pickle.dump(("file_error", str(exc)), out)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the import
        pickle.dump(("error", f"{type(exc).__name__}: {exc}"), out)
    out.flush()


def _checkers() -> int:
    """How many checking children: one per core, so the checks (the import's biggest CPU cost) use
    whatever the worker and PostgreSQL leave idle; at least two so the work interleaves."""
    return max(2, min(4, os.cpu_count() or 1))


def _forked(path: Path, validator: RowValidator, layout: CsvLayout) -> Iterator[tuple[int, object]]:
    count = _checkers()
    started: list[tuple[int, int]] = []  # (pid, read end)
    children: list[tuple[int, io.BufferedReader, _Backlog]] = []
    try:
        # Every child is forked before any reader thread starts: a fork copies only the forking
        # thread, and nothing a child uses may be left locked by another.
        for index in range(count):
            read_end, write_end = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no memory or process slots for a child
                os.close(read_end)
                os.close(write_end)
                break
            if pid == 0:  # a child: check its rows, write them to the pipe, leave without cleanup
                code = 0
                try:
                    # Below the worker and PostgreSQL, which wait on each other: the checks run ahead
                    # in the backlog and only need the CPU time those two leave.
                    with contextlib.suppress(OSError):
                        os.nice(CHILD_NICENESS)
                    os.close(read_end)
                    for _, other in started:  # the other children's pipes are not this one's
                        os.close(other)
                    with os.fdopen(write_end, "wb", buffering=1 << 20) as out:
                        _child(path, validator, out, index=index, children=count, layout=layout)
                except BaseException:  # noqa: BLE001 - e.g. the parent went away (broken pipe)
                    code = 1
                finally:
                    os._exit(code)
            os.close(write_end)
            started.append((pid, read_end))
        while started:
            pid, read_end = started[0]
            backlog = _Backlog(read_end)
            children.append((pid, io.BufferedReader(backlog, buffer_size=1 << 20), backlog))
            started.pop(0)
        if len(children) == count:
            yield from _merge(children)
            return
        _stop(children)  # could not start them all: check the rows here instead
        for line, cells in read_rows(path, layout):
            yield line, validator.validate(line, cells)
    finally:
        for pid, read_end in started:  # forked, not yet read (an error in between)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
        _stop(children)


def _merge(children) -> Iterator[tuple[int, object]]:
    """The children's batches in file order: batch n comes from child n % len(children)."""
    turn = 0
    while True:
        _, source, _ = children[turn % len(children)]
        try:
            kind, payload = pickle.load(source)
        except (EOFError, pickle.UnpicklingError):  # a child killed mid-write
            raise RuntimeError("a row checking process stopped unexpectedly") from None
        if kind == "rows":
            yield from (row for row in payload if row is not None)
        elif kind == "end":
            return
        elif kind == "file_error":
            raise FileRuleError(payload)
        else:
            raise RuntimeError(f"checking rows failed: {payload}")
        turn += 1


def _stop(children) -> None:
    """Once the import has what it needs (or failed): end the children, close their pipes."""
    for pid, _, backlog in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        backlog.stop()
    children.clear()
