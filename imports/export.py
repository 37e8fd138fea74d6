"""Profiles export: a store's live profiles (all, or a Profiles search's matches) as a CSV file that
the CSV import reads back to the same profiles.

The file (UTF-8, comma separated, CRLF line ends, RFC 4180 quoting):

- headers: one ``identifier:KIND`` column per identity rule kind (in priority order), then
  ``identifier:KIND 2``, ``identifier:KIND 3``, ... for kinds a profile holds several values of (as
  many columns as the profile holding the most has), kinds without a rule last; then one
  ``Group.trait`` column per trait of the store (groups and traits in the Traits page's order). The
  import's mapping page suggests exactly these targets (`mapping.export_target`); through the API
  or ``import_csv`` the mapping is each header to itself, numbered identifier headers to their kind
  (`mapping.export_mapping`);
- one row per live profile, newest first: its identifiers of each kind oldest first (empty cells
  where it holds fewer), and a cell per trait written by its type's one rule (`trait_cell`);
- formula cells escaped by the failed-rows download's rule: a cell starting with ``= + - @``, a tab
  or a carriage return, or such a cell after ``'`` characters, gets one ``'`` before it
  (`csvfile.formula_escape`; a string trait never holds ``\\N``, which every path reads as
  "remove"); the import recognises an export by its headers (`csvfile.profiles_export`) and
  removes exactly that ``'`` (`csvfile.formula_unescape`), so
  ``=SUM(A1)``, ``-5``, ``+14155550100`` and ``'=x`` come back as they were.

Streamed: rows are produced a chunk of CHUNK profiles at a time by the Profiles search's keyset
pagination (`identity.search.profile_search`, ``after`` = the last id), so memory holds one chunk
whatever the store's size.

Not representable, so not exported as such: a profile without identifiers (its row has no
identifier and the import fails it, naming the line); an identifier reading exactly ``\\N`` (the
import skips it as empty). Headers are not escaped (the import needs them as the traits' names): a
group named ``=x`` makes a header a spreadsheet may read as a formula.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from identity.models import IdentityRule
from identity.search import ProfileSearch, parse_profile_query, profile_search
from memory_console.jsonvalues import dumps
from stores.models import Store
from traits.coercion import DELETE_MARKER
from traits.selectors import trait_groups_with_traits

from .csvfile import EXPORT_IDENTIFIER, formula_escape

CHUNK = 500  # profiles read (with their identifiers) per query


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = ""  # an identifier column: its kind, and which of the profile's values (0: the oldest)
    index: int = 0
    group: str = ""  # a trait column: the trait's group, name and data type
    trait: str = ""
    data_type: str = ""


class ExportQueryError(ValueError):
    """The search `q` cannot match anything (a malformed ``kind:value``, a value the trait refuses)."""


def trait_cell(data_type: str, present: bool, value) -> str:
    """A trait's value as the import reads it back (before `csvfile.formula_escape`), one rule per type:

    - absent: ``\\N`` (the import's "remove": nothing is set on the new profile);
    - the empty string (any type): an empty cell;
    - string: the text; number: its digits exactly as stored (``123456789012345678.5``, ``-5``);
    - boolean: ``true`` / ``false``;
    - array: items joined by ``|`` when every item is non-empty text without ``|``, with no space
      around it and the first not starting with ``[``; else the JSON array (``[1,true,"a|b"]``,
      ``[]``), which the import reads when the cell starts with ``[``.
    """
    if not present:
        return DELETE_MARKER
    if value == "" and not isinstance(value, bool):
        return ""
    if data_type == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if data_type == "array" and isinstance(value, list):
        plain = (
            value
            and all(isinstance(item, str) and item and "|" not in item and item == item.strip() for item in value)
            and not value[0].startswith("[")
        )
        return "|".join(value) if plain else dumps(value)
    if isinstance(value, bool):  # a boolean stored under another type: as the boolean rule writes it
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return value
    return dumps(value)


def _identifier_widths(store: Store) -> dict[str, int]:
    """{kind: the most values of that kind one live profile holds}, one grouped query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, MAX(n) FROM (SELECT i.kind AS kind, COUNT(*) AS n FROM identity_identifier i"
            " JOIN profiles_profile p ON p.id = i.profile_id"
            " WHERE i.store_id = %s AND p.store_id = %s AND p.merged_into_id IS NULL"
            " GROUP BY i.kind, i.profile_id) counts GROUP BY kind",
            [store.pk, store.pk],
        )
        return {kind: most for kind, most in cursor.fetchall()}


def export_columns(*, store: Store) -> list[Column]:
    """The export's columns for `store` (see the module doc)."""
    widths = _identifier_widths(store)
    kinds = list(IdentityRule.objects.filter(store=store).order_by("priority", "id").values_list("kind", flat=True))
    kinds += sorted(kind for kind in widths if kind not in kinds)
    columns = []
    for kind in kinds:
        for index in range(max(1, widths.get(kind, 0))):
            header = f"{EXPORT_IDENTIFIER}{kind}" + (f" {index + 1}" if index else "")
            columns.append(Column(header, kind=kind, index=index))
    for group in trait_groups_with_traits(store=store):
        for trait in group.traits.all():
            columns.append(
                Column(f"{group.name}.{trait.name}", group=group.name, trait=trait.name, data_type=trait.data_type)
            )
    return columns


def export_search(*, store: Store, q: str) -> ProfileSearch:
    """The Profiles search `q` as the export reads it; ExportQueryError when it cannot match."""
    search = parse_profile_query(store=store, q=q)
    if search.mode == "invalid":
        raise ExportQueryError(search.error)
    return search


def profile_cells(profile, columns: list[Column]) -> list[str]:
    """One profile's row (escaped), `profile.identifier_list` holding its identifiers by kind, oldest first."""
    by_kind: dict[str, list[str]] = {}
    for identifier in profile.identifier_list:
        by_kind.setdefault(identifier.kind, []).append(identifier.value)
    cells = []
    for column in columns:
        if column.kind:
            values = by_kind.get(column.kind, [])
            cell = values[column.index] if column.index < len(values) else ""
        else:
            values = profile.traits.get(column.group) or {}
            cell = trait_cell(column.data_type, column.trait in values, values.get(column.trait))
        cells.append(formula_escape(cell))
    return cells


def export_csv_lines(*, store: Store, q: str = "") -> Iterator[str]:
    """The export as CSV text, the header line first, then one chunk of CHUNK profiles per piece.

    Raises ExportQueryError before anything is produced when `q` cannot match (call it first, then
    stream the iterator). Profiles merged away meanwhile are skipped; a profile created meanwhile
    appears only if newer than none already read (the keyset walks down from the newest id)."""
    export_search(store=store, q=q)  # raises now, not in the middle of a response
    return _lines(store, q)


def _lines(store: Store, q: str) -> Iterator[str]:
    columns = export_columns(store=store)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.header for column in columns])
    yield buffer.getvalue()
    after = None
    while True:
        page = profile_search(store=store, q=q, after=after, limit=CHUNK)
        buffer.seek(0)
        buffer.truncate()
        for profile in page.profiles:
            writer.writerow(profile_cells(profile, columns))
        if buffer.tell():
            yield buffer.getvalue()
        if page.next_after is None:
            return
        after = page.next_after
