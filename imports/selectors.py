"""Read paths for CSV imports: the store's uploads, one upload, its failed rows and live progress."""

from dataclasses import dataclass

from stores.models import Store

from . import storage
from .models import ImportRowError, ImportStatus, ProfileImport


def import_list(*, store: Store):
    """The store's imports, newest first."""
    return ProfileImport.objects.filter(store=store).order_by("-created_at", "-id")


def import_get(*, store: Store, import_id: int) -> ProfileImport | None:
    return ProfileImport.objects.filter(store=store, pk=import_id).first()


def import_row_errors(*, profile_import: ProfileImport):
    """Failed rows and notes (identifiers dropped from kept rows), in file order."""
    return ImportRowError.objects.filter(profile_import=profile_import).order_by("line", "id")


@dataclass
class ImportProgress:
    status: str
    status_label: str
    total_rows: int
    rows_processed: int
    rows_failed: int
    active: bool

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 0
        return min(100, round(100 * self.rows_processed / self.total_rows))


def import_progress(*, profile_import: ProfileImport) -> ImportProgress:
    """Rows processed so far. While running, the worker's counts live in the progress file only:
    its transaction (and the counts written at its end) cannot be seen from another connection."""
    processed, failed = profile_import.rows_processed, profile_import.rows_failed
    if profile_import.status == ImportStatus.QUEUED:
        processed = failed = 0
    elif profile_import.status == ImportStatus.RUNNING:
        processed, failed = import_live_counts(profile_import=profile_import) or (0, 0)
    return ImportProgress(
        status=profile_import.status,
        status_label=profile_import.get_status_display(),
        total_rows=profile_import.total_rows,
        rows_processed=processed,
        rows_failed=failed,
        active=profile_import.is_active,
    )


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
