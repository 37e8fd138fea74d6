"""CSV imports over the API: upload a file with its mapping, then poll the import."""

import json
from datetime import datetime

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile
from ninja.errors import HttpError

from memory_console.errors import FieldError
from memory_console.text import text_nfc
from stores.api import api_store

from .models import ImportStatus, ProfileImport
from .selectors import import_list as import_list_selector
from .selectors import import_progress
from .services import import_cancel as import_cancel_service
from .services import import_start

router = Router(tags=["Imports"])
ERRORS_SHOWN = 100


class RowErrorOut(Schema):
    line: int
    column: str
    value: str
    reason: str
    row_failed: bool


STATUS_DESCRIPTION = (
    "`mapping`: uploaded and checked, columns not mapped yet (console uploads); `queued`: waiting for a "
    "worker; `running`: being imported; `completed`: the good rows are applied; `failed`: nothing from the "
    "file is applied (`failure_reason` says why); `cancelled`: stopped by a user or API key "
    "(`POST .../cancel`), nothing from the file stays applied (`failure_reason` says who). While `undoing` "
    "is true, the rows a failed or cancelled import already wrote are still being removed."
)


class ImportOut(Schema):
    id: int
    file_name: str
    status: ImportStatus = Field(description=STATUS_DESCRIPTION)
    undoing: bool = Field(
        description="True while the rows a `failed` or `cancelled` import already wrote are still being removed "
        "(SQLite: such an import writes in short transactions and undoes them in the seconds after); "
        "poll until it is false"
    )
    total_rows: int
    rows_processed: int
    rows_written: int | None = Field(
        None,
        description="SQLite, while running, once every row is checked: the good rows written so far (of "
        "`total_rows - rows_failed`); null otherwise",
    )
    seconds_left: int | None = Field(None, description="While running: an estimate at the pace so far")
    rows_ingested: int
    rows_failed: int
    profiles_created: int
    profiles_updated: int
    profiles_merged: int
    identifiers_dropped: int  # the import's notes: identifiers not used as written, merges not made
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    failure_reason: str
    separator: str = Field(
        description='The file\'s separator: ",", ";", "\\t" or "|" (detected, or declared by a sep= line)'
    )
    file_notes: list[str] = Field(description="What the file check ignored, e.g. empty columns at the end")
    mapping: list[dict]
    errors: list[RowErrorOut]
    errors_total: int


def _out(profile_import: ProfileImport) -> dict:
    live = import_progress(profile_import=profile_import)
    errors = profile_import.row_errors.order_by("line", "id")
    return {
        **{field: getattr(profile_import, field) for field in ImportOut.model_fields if hasattr(profile_import, field)},
        "separator": profile_import.delimiter,
        "rows_processed": live.rows_processed,
        "rows_failed": live.rows_failed,
        "rows_written": live.rows_written if live.writing else None,
        "seconds_left": live.seconds_left,
        "undoing": live.undoing,
        "errors": list(errors.values("line", "column", "value", "reason", "row_failed")[:ERRORS_SHOWN]),
        "errors_total": errors.count(),
    }


SHAPE = '{"CSV header": "identifier:email" | "Group.trait"}'


class _Pairs(list):
    """A JSON object read as its (key, value) pairs, in order, duplicates kept."""


def _specs(raw: str) -> list[tuple[str, str]]:
    """The mapping field: a JSON object {"CSV header": "identifier:email" | "Group.trait"}, as
    (header, target) pairs: headers may hold "=", so they are never joined into "header=target"
    text. A header given twice (also once composed and once decomposed: headers compare in Unicode
    NFC, as the file's are read), or a target that is not a string, is refused naming it."""
    try:
        pairs = json.loads(raw, object_pairs_hook=_Pairs)  # pairs: a header given twice is seen
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands of levels deep
        raise ValidationError(FieldError(f"mapping: not valid JSON; expected {SHAPE}", ("mapping",))) from None
    if not isinstance(pairs, _Pairs):  # an array, a string, a number: not an object
        raise ValidationError(FieldError(f"mapping: expected an object {SHAPE}", ("mapping",)))
    errors, seen = [], set()
    for header, target in pairs:
        if not isinstance(target, str):
            errors.append(
                FieldError(f"mapping: “{header}”: the target must be a string; expected {SHAPE}", ("mapping", header))
            )
        if text_nfc(header) in seen:
            errors.append(FieldError(f"mapping: the column “{header}” is mapped twice", ("mapping", header)))
        seen.add(text_nfc(header))
    if errors:
        raise ValidationError(errors)
    return pairs


@router.post(
    "/{store_id}/imports",
    response={202: ImportOut},
    summary="Upload a CSV file with its column mapping and queue the import",
    description="Multipart form: `file` (the CSV) and `mapping`, a JSON object such as "
    '`{"Email": "identifier:email", "First Name": "Contact.firstName"}`. Columns not in the mapping '
    "are ignored; headers may hold `=` and trait paths dots (`Prefs.v2.tier`). The file may be separated by "
    "commas, semicolons, tabs or vertical bars (detected, or declared by an Excel `sep=X` first line; the answer's "
    "`separator` says which). File and mapping rules are checked before anything is queued (422 with the rule).",
)
def import_create(request, store_id: int, mapping: Form[str | None] = None, file: File[UploadedFile | None] = None):
    store = api_store(request, store_id)  # the tenant wall answers 404 before any input check
    missing = [name for name, value in (("file", file), ("mapping", mapping)) if value is None]
    if missing:
        raise ValidationError([FieldError(f"{name}: this field is required.", (name,)) for name in missing])
    specs = _specs(mapping)
    profile_import = import_start(
        store=store, actor=request.auth, file_name=file.name, chunks=file.chunks(), specs=specs
    )
    return Status(202, _out(profile_import))


@router.get("/{store_id}/imports", response=list[ImportOut], summary="The store's imports, newest first (50)")
def import_list(request, store_id: int):
    store = api_store(request, store_id)
    return [_out(i) for i in import_list_selector(store=store)[:50]]


@router.get(
    "/{store_id}/imports/{import_id}",
    response=ImportOut,
    summary="An import's status, counts and its first 100 row errors",
)
def import_get(request, store_id: int, import_id: int):
    store = api_store(request, store_id)
    return _out(get_object_or_404(ProfileImport, store=store, pk=import_id))


NOT_CANCELLABLE = {
    409: {
        "description": "The import is no longer queued or running (it completed, failed, was cancelled, or is "
        "still being mapped): `detail` says its status.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
    }
}


@router.post(
    "/{store_id}/imports/{import_id}/cancel",
    response=ImportOut,
    summary="Cancel a queued or running import",
    description="The import becomes `cancelled` at once and nothing from the file stays applied: a running "
    "import's rows already written are removed (on SQLite in the seconds after; `undoing` is true meanwhile). "
    "Answers the import; 409 if it is no longer queued or running.",
    openapi_extra={"responses": NOT_CANCELLABLE},
)
def import_cancel(request, store_id: int, import_id: int):
    store = api_store(request, store_id)
    profile_import = get_object_or_404(ProfileImport, store=store, pk=import_id)
    if not import_cancel_service(profile_import=profile_import, actor=request.auth):
        profile_import.refresh_from_db()
        status = profile_import.status
        raise HttpError(409, f"Import #{import_id} is {status}: only a queued or running import can be cancelled.")
    profile_import.refresh_from_db()
    return _out(profile_import)
