"""Row rules: turn one CSV row into identifiers and typed trait values, or say why it fails.

- a row must have as many cells as the header;
- values may hold any Unicode text: the allowed-character list (traits/charset.py) is for names
  (headers, groups, traits), not values. Every cell goes through the same rule as the API and the
  console: identifiers through `identity.normalization.normalize_identifier`, trait cells of every
  type, string included, through `traits.coercion.coerce_trait_value` (NFC, control characters
  refused by code point, 1 MB cap);
- at least one mapped identifier column must hold a value; a cell of only white space or
  invisible characters (`memory_console.text.strip_invisible`) is empty, like an empty cell;
  identifier values are normalised (an invalid phone or email fails the row);
- trait cells are typed by the trait's data type (a wrong type fails the row); an empty cell
  (empty or ``""``) sets the empty string, ``\\N`` deletes the trait; array cells are
  ``|``-separated, or a JSON array when the cell starts with ``[`` (the profiles export writes one for
  an array the ``|`` form cannot keep: numbers, booleans, items holding ``|``, empty or padded items);
- a value of a trait mapped by an identity rule is also an identifier of the rule's kind;
- each identifier goes through `identity.resolution.RuleSet.identifier` (blocked values, then the
  normaliser), the one rule every path uses.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from identity.normalization import IdentifierError
from identity.resolution import Code, Note, RuleSet
from memory_console.text import strip_invisible
from traits.coercion import DELETE_MARKER, coerce_trait_value

MAX_VALUE_SHOWN = 500


@dataclass
class RowFailure:
    line: int
    column: str
    value: str
    reason: str
    cells: list[str] | None = None  # the row's cells as in the file, on a failed row's first failure
    code: str = ""  # a note's identity.resolution.Code


def note_failure(line: int, note: Note) -> RowFailure:
    """A resolution note as a row note of the import (kept row): column = the identifier's kind,
    value = the identifier (a blocked merge: its matching identifiers), reason = the note's words."""
    if note.code is Code.MERGE_BLOCKED:
        return RowFailure(line, "", note.shown, note.message(), code=note.code)
    return RowFailure(line, note.kind, note.value, note.message(), code=note.code)


class RowCode(StrEnum):
    """Why a row failed (stored with each failure; the words are in `RowFailure.reason`)."""

    WIDTH = "row_width"  # not as many cells as the header has columns
    INVALID_IDENTIFIER = "invalid_identifier"  # an identifier cell the kind's normaliser refuses
    INVALID_VALUE = "invalid_value"  # a trait cell its data type refuses
    NO_IDENTIFIER = "no_identifier"  # no identifier column holds a value


class RowOk(NamedTuple):
    """A row that goes in: identifiers in priority order, typed traits ({group: {trait: value}},
    or their JSON text, see pipeline._pack) and notes of identifiers ignored (BLOCKED_VALUE)."""

    pairs: list[tuple[str, str]]
    traits: dict | str
    notes: tuple[Note, ...] = ()


class RowFailed(NamedTuple):
    """A row that fails: every failure, the first with the row's cells."""

    failures: list[RowFailure]


class RowValidator:
    def __init__(self, *, mapping: list[dict], headers: list[str], rules, schema, region: str):
        self.width = len(headers)
        self.ruleset = RuleSet.of(rules, region=region)
        self.identifier_columns = [
            (entry["column"], entry["header"], entry["identifier"]) for entry in mapping if "identifier" in entry
        ]
        self.trait_columns = [
            (
                entry["column"],
                entry["header"],
                entry["group"],
                entry["trait"],
                f"{entry['group']}.{entry['trait']}",
                schema[entry["group"]][entry["trait"]].data_type,
            )
            for entry in mapping
            if "trait" in entry
        ]
        # where a mapped trait's identifier came from, for its failure
        self.trait_cell = {(group, trait): (column, header) for column, header, group, trait, *_ in self.trait_columns}
        names = sorted({kind for _, _, kind in self.identifier_columns})
        self.no_identifier = "needs a value in at least one identifier column (" + ", ".join(names) + ")"

    def validate(self, line: int, cells: list[str]) -> RowOk | RowFailed:
        """The row's outcome: RowOk, or RowFailed with every failure."""
        if len(cells) != self.width:
            reason = f"the row has {len(cells)} cells but the header has {self.width} columns"
            return RowFailed([RowFailure(line, "", "", reason, cells, RowCode.WIDTH)])
        failures = []
        pairs: list[tuple[str, str]] = []
        notes: list[Note] = []
        identifier = self.ruleset.identifier
        for column, header, kind in self.identifier_columns:
            cell = cells[column]
            if not cell or cell == DELETE_MARKER:
                continue
            first = cell[0]  # blank is empty: only a cell starting with a space or non-ASCII can be blank
            if (first <= " " or first >= "\x7f") and not strip_invisible(cell):
                continue
            try:
                got = identifier(kind, cell)
            except IdentifierError as exc:
                failures.append(
                    RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"{exc.reason}", code=RowCode.INVALID_IDENTIFIER)
                )
                continue
            if isinstance(got, Note):
                notes.append(got)
            elif got not in pairs:
                pairs.append(got)
        typed: dict[str, dict] = {}
        for column, header, group, trait, label, data_type in self.trait_columns:
            cell = cells[column]
            # Every type goes through the one value rule shared with the API and the console ("" sets
            # the empty string, \N deletes). Array items are |-separated, trimmed, empty ones dropped;
            # a cell starting with [ is a JSON array, read by the same rule as the API's.
            raw = cell
            if data_type == "array" and cell and cell != DELETE_MARKER and not cell.lstrip().startswith("["):
                raw = [part.strip() for part in cell.split("|") if part.strip()]
            try:
                value = coerce_trait_value(data_type, raw, label=label)
            except ValueError as exc:  # TraitValueError, or anything else a value can raise
                reason = getattr(exc, "reason", str(exc))
                failures.append(
                    RowFailure(
                        line, header, cell[:MAX_VALUE_SHOWN], f"{reason} ({data_type})", code=RowCode.INVALID_VALUE
                    )
                )
                continue
            typed.setdefault(group, {})[trait] = value
        # Mapped traits' values are identifiers too: the same rule, and order, as the API's.
        for kind, item, mapped_from in self.ruleset.mapped_identifiers(typed):
            try:
                got = identifier(kind, item)
            except IdentifierError as exc:
                column, header = self.trait_cell[mapped_from]
                reason = f"as identifier {kind}: {exc.reason}"
                failures.append(
                    RowFailure(line, header, cells[column][:MAX_VALUE_SHOWN], reason, code=RowCode.INVALID_IDENTIFIER)
                )
                continue
            if isinstance(got, Note):
                notes.append(got)
            elif got not in pairs:
                pairs.append(got)
        if failures:
            failures[0].cells = cells
            return RowFailed(failures)
        if not pairs:
            return RowFailed([RowFailure(line, "", "", self.no_identifier, cells, RowCode.NO_IDENTIFIER)])
        self.ruleset.sort(pairs)
        return RowOk(pairs, typed, tuple(notes))
