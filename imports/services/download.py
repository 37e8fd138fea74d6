"""The failed-rows download: an import's failed rows and notes as a CSV to fix and upload again."""

import csv

from ..csvfile import DOWNLOAD_COLUMNS, failed_rows_download, formula_escape
from ..models import ImportRowError, ProfileImport


def import_failed_rows_csv(*, profile_import: ProfileImport):
    """The failed rows and the notes (identifiers of ingested rows not kept), as on the details
    page; CSV text yielded a line at a time (a bad file may have a million).

    UTF-8 with a BOM, separated as the uploaded file was. Columns: the file's own headers, then
    ``line, kind, column, value, reason`` (prefixed with "import " if the file has a header of
    that name). A failed row is one line carrying its
    original cells, so the file can be fixed and uploaded again; when several of its cells failed,
    their columns, values and reasons are joined with " / ". A row with fewer cells than the header
    is padded with empty cells; one with more keeps them after ``reason``. A note has no cells.
    Cells starting with =, +, -, @ (or a tab/CR), possibly after ', get a leading ' so spreadsheets
    do not run them (`csvfile.formula_escape`); uploading the download again removes exactly that '
    and skips the notes (`csvfile.failed_rows_download`). The download of such a re-upload does not
    repeat the earlier download's five columns: it has the original file's columns and new ones.
    """

    class _Line:
        def write(self, text):
            return text

    # The uploaded file's separator and a UTF-8 BOM: a ";" file comes back as one, so the Excel that
    # wrote it (European locales) opens it in columns, and the BOM tells Excel the text is UTF-8.
    writer = csv.writer(_Line(), delimiter=profile_import.delimiter or ",")
    headers = list(profile_import.headers)
    end = len(headers)  # the row's cells after the header's columns: kept after "reason"
    if failed_rows_download(headers):
        headers = headers[: -len(DOWNLOAD_COLUMNS)]  # an earlier download's columns: replaced by ours
    ours = list(DOWNLOAD_COLUMNS)
    if set(ours) & set(headers):
        ours = [f"import {name}" for name in ours]
    width = len(headers)
    yield "\ufeff" + writer.writerow([*headers, *ours])
    rows = ImportRowError.objects.filter(profile_import=profile_import).order_by("line", "id")
    fields = ("line", "row_failed", "column", "value", "reason", "cells")
    group: list = []

    def emit(group):
        line, failed = group[0][0], group[0][1]
        cells = next((entry[5] for entry in group if entry[5]), None) or []
        mine = [formula_escape(cell) for cell in cells]
        own = [*mine[:width], *[""] * (width - len(mine))]
        joined = [" / ".join(entry[i] for entry in group if entry[i]) for i in (2, 3, 4)]
        kind = "failed row" if failed else "note"
        return writer.writerow([*own, line, kind, *(formula_escape(text) for text in joined), *mine[end:]])

    for entry in rows.values_list(*fields).iterator(500):  # a failed row may carry up to 100 MB of cells
        if group and not (entry[1] and group[0][1] and entry[0] == group[0][0]):
            yield emit(group)
            group = []
        group.append(entry)
    if group:
        yield emit(group)
