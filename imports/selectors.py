"""Read paths for CSV imports: the store's uploads, one upload, its failed rows and live progress."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, Case, Exists, OuterRef, Value, When

from stores.models import Store

from . import storage
from .models import ImportRowError, ImportStatus, ImportUndo, ProfileImport

# Statuses after which what a (SQLite) import already wrote is undone from its journal.
UNDONE_STATUSES = (ImportStatus.CANCELLED, ImportStatus.FAILED)


def import_list(*, store: Store):
    """The store's imports, newest first, each with `undoing` (see `import_undoing`)."""
    journalled = Exists(ImportUndo.objects.filter(profile_import=OuterRef("pk")))
    return (
        ProfileImport.objects.filter(store=store)
        .annotate(
            undoing=Case(
                When(status__in=UNDONE_STATUSES, then=journalled), default=Value(False), output_field=BooleanField()
            )
        )
        .order_by("-created_at", "-id")
    )


def import_get(*, store: Store, import_id: int) -> ProfileImport | None:
    return ProfileImport.objects.filter(store=store, pk=import_id).first()


def import_undoing(*, profile_import: ProfileImport) -> bool:
    """True while what a Cancelled or Failed import wrote is still being removed: its undo journal
    (`ImportUndo`, written by SQLite imports) still has rows. Read from `import_list`'s annotation
    when the import came from there."""
    annotated = getattr(profile_import, "undoing", None)
    if annotated is not None:
        return bool(annotated)
    if profile_import.status not in UNDONE_STATUSES:
        return False
    return ImportUndo.objects.filter(profile_import=profile_import).exists()


def import_row_errors(*, profile_import: ProfileImport):
    """Failed rows and notes (identifiers of kept rows not used as written, merges not made), in file order."""
    # The failed rows' original cells (up to 100 MB a row) are only for the download.
    return ImportRowError.objects.filter(profile_import=profile_import).defer("cells").order_by("line", "id")


@dataclass
class ImportProgress:
    status: str
    status_label: str
    total_rows: int
    rows_processed: int
    rows_failed: int
    active: bool
    seconds_left: int | None = None  # while running, once the pace is known: an estimate
    one_at_a_time: bool = False  # SQLite: imports of all stores take turns
    undoing: bool = False  # Cancelled or Failed, and what it wrote is still being removed
    rows_written: int | None = None  # SQLite, once every row is checked: good rows written so far
    removing: bool = False  # SQLite, still Running: the worker is undoing what it wrote (it failed)

    @property
    def writing(self) -> bool:
        """SQLite's second phase: every row checked, the good ones being written in steps."""
        return self.rows_written is not None and self.status == ImportStatus.RUNNING

    @property
    def rows_to_write(self) -> int:
        return max(0, self.total_rows - self.rows_failed)

    @property
    def state(self) -> str:
        """What the details page shows and polls for: "active" (queued or running: the progress),
        "undoing" (the rows already written being removed), or "done"."""
        if self.active:
            return "active"
        return "undoing" if self.undoing else "done"

    @property
    def waiting_text(self) -> str:
        if self.status != ImportStatus.QUEUED:
            return ""
        if self.one_at_a_time:
            return "Waiting for a worker (on SQLite one import runs at a time)…"
        return "Waiting for a worker…"

    @property
    def time_left(self) -> str:
        """ "about 2 min left", or "finishing" once every row is checked (the last chunks and the
        commit remain); "" while there is no estimate."""
        if self.seconds_left is None:
            return ""
        if self.rows_processed >= self.total_rows and not self.writing:
            return "finishing"
        if self.seconds_left < 10:
            return "a few seconds left"
        if self.seconds_left < 60:
            return f"about {self.seconds_left // 5 * 5} s left"
        return f"about {round(self.seconds_left / 60)} min left"

    @property
    def done_units(self) -> tuple[int, int]:
        """(work done, work in all) in rows: on SQLite checking and writing each count, from the
        start (the bar does not go back when the writing begins)."""
        if self.rows_written is None and not (self.one_at_a_time and self.status == ImportStatus.RUNNING):
            return self.rows_processed, self.total_rows
        return self.rows_processed + (self.rows_written or 0), self.total_rows + self.rows_to_write

    @property
    def percent(self) -> int:
        done, total = self.done_units
        if not total:
            return 0
        return min(100, round(100 * done / total))


def import_progress(*, profile_import: ProfileImport) -> ImportProgress:
    """Rows processed so far. While running, the worker's counts live in the progress file only:
    its transaction (and the counts written at its end) cannot be seen from another connection."""
    processed, failed = profile_import.rows_processed, profile_import.rows_failed
    seconds_left = written = None
    live: dict = {}
    if profile_import.status == ImportStatus.QUEUED:
        processed = failed = 0
    elif profile_import.status == ImportStatus.RUNNING:
        live = storage.progress_read(profile_import.file_path) or {}
        processed, failed = live.get("rows_processed", 0), live.get("rows_failed", 0)
        written = live.get("rows_applied")
    progress = ImportProgress(
        status=profile_import.status,
        status_label=profile_import.get_status_display(),
        total_rows=profile_import.total_rows,
        rows_processed=processed,
        rows_failed=failed,
        active=profile_import.is_active,
        seconds_left=seconds_left,
        one_at_a_time=connection.vendor == "sqlite",
        undoing=import_undoing(profile_import=profile_import),
        rows_written=written,
        removing=bool(live.get("undoing")),
    )
    if progress.status == ImportStatus.RUNNING and profile_import.started_at and "at" in live and not progress.removing:
        elapsed = live["at"] - profile_import.started_at.timestamp()
        progress.seconds_left = _seconds_left(*progress.done_units, elapsed)
    return progress


def _seconds_left(processed: int, total: int, elapsed: float) -> int | None:
    """At the pace so far; None until a hundredth of the rows (and a second) has gone by."""
    if elapsed < 1 or processed < max(1, total // 100):
        return None
    return max(0, round((total - processed) * elapsed / processed))


def import_live_counts(*, profile_import: ProfileImport) -> tuple[int, int] | None:
    """(rows processed, rows failed) as the worker last reported them; None before it started and
    once it has finished (its file is gone then, and the import's row holds the counts)."""
    live = storage.progress_read(profile_import.file_path)
    if live is None:
        return None
    return live.get("rows_processed", 0), live.get("rows_failed", 0)


def duration_text(delta) -> str:
    """A run time a person reads at a glance: "0.4 s", "42 s", "3 min 5 s", "1 h 2 min"."""
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
