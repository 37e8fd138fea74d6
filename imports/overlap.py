"""Overlap the database with the worker during a CSV import: `ChunkPipeline` (see its docstring)."""

import sys
import threading

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, transaction

from .engine import ChunkRead, ChunkResolver, PendingWrite


class ChunkPipeline:
    """Overlaps the database with the worker: on PostgreSQL a thread, on the import's connection,
    writes chunk k-1 and then reads (locks and loads) chunk k+1, while the worker resolves chunk k in
    memory and gathers the rows of the next chunk.

    The connection is never used by both threads at once: the worker touches it only between two
    jobs (ids for the resolved chunk, savepoints). Chunk k+1 is read before chunk k is written, so
    what chunk k changes is carried over in memory and answers first (`ChunkResolver.adopt`). Each
    write runs in a savepoint: a write that loses a race for an identifier (IntegrityError) is
    rolled back and its chunk redone with a full lookup; the chunks resolved or read after it are
    then fed again. On SQLite, whose connections stay in their thread, each job runs at once."""

    def __init__(self, resolver: ChunkResolver, *, on_written, attempts: int, threaded: bool, between_jobs=None):
        """`between_jobs()`: called once per step while no job uses the connection (the worker may
        query then, e.g. for a cancel; an exception it raises stops the pipeline)."""
        self.resolver = resolver
        self.between_jobs = between_jobs
        self.on_written = on_written  # called with (rows, outcome) once a chunk is written, in order
        self.attempts = attempts
        self.threaded = threaded
        self.resolved: tuple[list, PendingWrite] | None = None  # resolved, not yet handed to a write
        self.job: _Job | None = None
        self.shared = None  # the connection, while shared with job threads
        self.switch_interval = sys.getswitchinterval()

    def add(self, rows: list) -> None:
        self._step(rows)

    def finish(self) -> None:
        while self.job is not None or self.resolved is not None:
            self._step(None)

    def close(self) -> None:
        """Wait for a job still running (after an error elsewhere), before anything else uses the
        connection; stop sharing it."""
        thread = self.job.thread if self.job is not None else None
        if thread is not None and thread.ident is not None:  # started (start() itself may have failed)
            thread.join()
        self.job = None
        if self.shared is not None:
            self.shared.dec_thread_sharing()
            self.shared = None
            sys.setswitchinterval(self.switch_interval)

    def _step(self, rows: list | None) -> None:
        """Wait for the job; start the next (write the resolved chunk, read `rows`); resolve the
        chunk the finished job read."""
        done = self.job  # cleared by _settle once its thread is joined: close() must still see it
        read = self._settle(done) if done is not None else None
        if read is _REDONE:
            if rows is not None:
                self._step(rows)
            return
        if self.between_jobs is not None:
            self.between_jobs()
        write = None
        if self.resolved is not None:
            (written_rows, pending), self.resolved = self.resolved, None
            savepoint = transaction.savepoint()
            self.resolver.prepare(pending)  # ids: before the next chunk is adopted and the write sent
            write = (written_rows, pending, savepoint)
        if write is not None or rows is not None:
            self._start(_Job(write, rows))
        if read is not None:
            self.resolver.adopt(read)
            self.resolved = (done.rows, self.resolver.resolve_read(done.rows))

    def _start(self, job: "_Job") -> None:
        if not self.threaded:
            job.run(self.resolver)
            self.job = job
            return
        if self.shared is None:
            self.shared = connections[DEFAULT_DB_ALIAS]
            self.shared.inc_thread_sharing()
            # The job thread mostly waits on the database; each time it gets an answer it needs the
            # interpreter lock, which the resolving thread hands over only every switch interval
            # (5 ms by default): a millisecond while jobs run.
            sys.setswitchinterval(min(self.switch_interval, 0.001))
        shared = self.shared

        def run() -> None:
            connections[DEFAULT_DB_ALIAS] = shared  # this thread's queries go to the import's connection
            job.run(self.resolver)

        job.thread = threading.Thread(target=run, name="import-database", daemon=True)
        self.job = job
        job.thread.start()

    def _settle(self, job: "_Job"):
        """The finished job's read; or _REDONE after redoing a chunk whose write lost a race."""
        if job.thread is not None:
            job.thread.join()
        self.job = None
        if job.write is not None:
            written_rows, pending, savepoint = job.write
            if job.error is None:
                transaction.savepoint_commit(savepoint)
                self.on_written(written_rows, pending.outcome)
            else:
                _rollback_to(savepoint, job.error)
                if not isinstance(job.error, IntegrityError) or self.attempts < 2:
                    raise job.error
                self._redo(written_rows, job)
                return _REDONE
        if job.error is not None:
            raise job.error
        return job.read

    def _redo(self, rows: list, job: "_Job") -> None:
        """Redo a chunk whose write lost a race, then feed again the chunks resolved or read since
        (against writes now rolled back)."""
        later = [self.resolved[0]] if self.resolved is not None else []
        if job.rows is not None:
            later.append(job.rows)
        self.resolved = None
        self.resolver.reset()  # the database now holds every write before this chunk
        for attempt in range(1, self.attempts):
            savepoint = transaction.savepoint()
            try:
                outcome = self.resolver.run(rows, full_lookup=True)
            except IntegrityError as exc:
                _rollback_to(savepoint, exc)
                self.resolver.reset()
                if attempt == self.attempts - 1:
                    raise
                continue
            transaction.savepoint_commit(savepoint)
            self.on_written(rows, outcome)
            break
        for chunk in later:
            self._step(chunk)


_REDONE = object()


class _Job:
    """One turn of the database: write a prepared chunk (in its savepoint), then read the next."""

    def __init__(self, write, rows):
        self.write = write  # (rows, PendingWrite, savepoint) or None
        self.rows = rows  # the rows to read, or None
        self.read: ChunkRead | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def run(self, resolver: ChunkResolver) -> None:
        try:
            if self.write is not None:
                resolver.write(self.write[1])
            if self.rows is not None:
                self.read = resolver.read(self.rows)
        except BaseException as exc:  # noqa: BLE001 - raised in the worker's thread by _settle
            self.error = exc


def _rollback_to(savepoint, error: BaseException) -> None:
    """Undo a chunk's writes after `error`, as leaving an atomic block with an error does: an error
    inside one of Django's own savepoint-less blocks (bulk_create's) marked the whole transaction
    for rollback, but after the rollback to this savepoint the transaction is sound again. If the
    rollback fails too (a broken connection), `error` is raised: it names the cause."""
    transaction.set_rollback(False)  # first: no statement runs while it is set, the rollback neither
    try:
        transaction.savepoint_rollback(savepoint)
    except DatabaseError:
        transaction.set_rollback(True)
        raise error  # noqa: B904 - the rollback's own failure stays attached as the context
