from django.conf import settings
from django.db import models

from stores.models import Store


class ImportStatus(models.TextChoices):
    MAPPING = "mapping", "Mapping"  # uploaded and checked, columns not mapped yet
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"  # stopped by a user; nothing from the file stays applied


ACTIVE_STATUSES = (ImportStatus.QUEUED, ImportStatus.RUNNING)
FAILED_ROWS_LIMIT = 100  # this many failed rows (or more) fail the whole file


class ProfileImport(models.Model):
    """One uploaded CSV file and what became of it.

    The file is checked on upload (file rules), mapped by the user, then ingested by a worker:
    either every good row is applied (Completed) or nothing is (Failed, Cancelled). PostgreSQL
    ingests it in one transaction; SQLite in short ones, each journalled (`ImportUndo`) so that a
    Failed or Cancelled import, or a dead worker's, is undone (docs/ARCHITECTURE.md, "CSV import").
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="imports")
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500, blank=True, default="")
    file_size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    headers = models.JSONField(default=list, blank=True)
    # How the worker reads the file, as the upload check found it: the separator, and whether an
    # Excel "sep=X" first line declared it (that line is skipped but still counts in line numbers).
    delimiter = models.CharField(max_length=1, default=",")
    separator_declared = models.BooleanField(default=False)
    file_notes = models.JSONField(default=list, blank=True)  # what the check ignored (trailing empty columns)
    samples = models.JSONField(default=list, blank=True)  # the first rows, per column
    mapping = models.JSONField(default=list, blank=True)  # [{"column": i, "header": h, "target": t}]
    total_rows = models.IntegerField(default=0)
    rows_processed = models.IntegerField(default=0)
    rows_ingested = models.IntegerField(default=0)
    rows_failed = models.IntegerField(default=0)
    profiles_created = models.IntegerField(default=0)
    profiles_updated = models.IntegerField(default=0)
    profiles_merged = models.IntegerField(default=0)
    identifiers_dropped = models.IntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True, default="")
    attempt = models.IntegerField(default=0)  # bumped on every (re)queue; a stale task sees a newer one
    worker = models.CharField(max_length=255, blank=True, default="")  # "host:pid" of the running worker

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["store", "status"])]

    def __str__(self) -> str:
        return self.file_name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class ImportRowError(models.Model):
    """One failed row (or one identifier of a row that could not be kept), with the reason."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    profile_import = models.ForeignKey(ProfileImport, on_delete=models.CASCADE, related_name="row_errors")
    line = models.IntegerField()  # the file's line where the row starts (the header is line 1)
    column = models.CharField(max_length=255, blank=True, default="")
    value = models.TextField(blank=True, default="")
    reason = models.TextField()
    # identity.resolution.Code of a note, imports.rows.RowCode of a failure ("" before issue 14)
    code = models.CharField(max_length=32, blank=True, default="")
    row_failed = models.BooleanField(default=True)  # False: a note (an identifier dropped), the row went in
    # The row's cells as in the file, on the first error of each failed row (for the download).
    cells = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["line", "id"]
        indexes = [models.Index(fields=["profile_import", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportUndo(models.Model):
    """What one short transaction of a SQLite import changed, so that it can be undone.

    Written by `imports.undo` (temporary triggers on the worker's connection, and the id ranges
    of the rows each transaction inserted), in the same transaction as the change itself: a
    transaction the worker did not commit left no rows and no journal. `batch` numbers the
    transactions of one import; undo runs them newest first. Deleted once the import is Completed
    or undone. `op`: "I" rows `row_id`..`last_id` were inserted; "U" row `row_id` was updated from
    `old` to `new`; "D" row `row_id` (`old`) was deleted. `old` and `new` are JSON objects of the
    row's columns as SQLite's json_object() wrote them.
    """

    profile_import = models.ForeignKey(ProfileImport, on_delete=models.CASCADE, related_name="+")
    batch = models.IntegerField()
    table_name = models.CharField(max_length=64)
    op = models.CharField(max_length=1)
    row_id = models.BigIntegerField()
    last_id = models.BigIntegerField(null=True)
    old = models.TextField(null=True)  # noqa: DJ001 - NULL (not "") where an op has no image: triggers write it
    new = models.TextField(null=True)  # noqa: DJ001

    class Meta:
        indexes = [models.Index(fields=["profile_import", "batch"], name="import_undo_batch")]

    def __str__(self) -> str:
        return f"{self.op} {self.table_name} {self.row_id}"


class UploadsMarker(models.Model):
    """The token the web side writes to IMPORTS_DIR/.memory-console-uploads before its first upload
    (one row). A worker that does not find the same token in its IMPORTS_DIR cannot see the uploads
    and refuses to start (imports.storage.uploads_dir_problem; README, "Running several workers")."""

    token = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"uploads marker {self.token[:8]}"
