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
  ``|``-separated;
- a value of a trait mapped by an identity rule is also an identifier of the rule's kind.
"""

from dataclasses import dataclass

from identity.models import RuleSource
from identity.normalization import IdentifierError, normalize_identifier
from memory_console.text import strip_invisible
from traits.coercion import DELETE, DELETE_MARKER, coerce_trait_value

MAX_VALUE_SHOWN = 500


@dataclass
class RowFailure:
    line: int
    column: str
    value: str
    reason: str
    cells: list[str] | None = None  # the row's cells as in the file, on a failed row's first failure


class RowValidator:
    def __init__(self, *, mapping: list[dict], headers: list[str], rules, schema, region: str):
        self.width = len(headers)
        self.region = region
        self.rank = {rule.kind: position for position, rule in enumerate(rules)}
        mapped_by: dict[tuple[str, str], list[str]] = {}
        for rule in rules:
            if rule.source == RuleSource.TRAITS:
                for trait in rule.mapped_traits.all():
                    mapped_by.setdefault((trait.group.name, trait.name), []).append(rule.kind)
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
                mapped_by.get((entry["group"], entry["trait"]), []),
            )
            for entry in mapping
            if "trait" in entry
        ]
        names = sorted({kind for _, _, kind in self.identifier_columns})
        self.no_identifier = "needs a value in at least one identifier column (" + ", ".join(names) + ")"

    def validate(self, line: int, cells: list[str]):
        """((kind, value) pairs in priority order, {group: {trait: typed}}), or a list of RowFailure."""
        if len(cells) != self.width:
            reason = f"the row has {len(cells)} cells but the header has {self.width} columns"
            return [RowFailure(line, "", "", reason, cells)]
        failures = []
        pairs: list[tuple[str, str]] = []
        for column, header, kind in self.identifier_columns:
            cell = cells[column]
            if not cell or cell == DELETE_MARKER:
                continue
            first = cell[0]  # blank is empty: only a cell starting with a space or non-ASCII can be blank
            if (first <= " " or first >= "\x7f") and not strip_invisible(cell):
                continue
            try:
                pair = (kind, normalize_identifier(kind, cell, region=self.region))
            except IdentifierError as exc:
                failures.append(RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"{exc.reason}"))
                continue
            if pair not in pairs:
                pairs.append(pair)
        typed: dict[str, dict] = {}
        for column, header, group, trait, label, data_type, kinds in self.trait_columns:
            cell = cells[column]
            # Every type goes through the one value rule shared with the API and the console ("" sets
            # the empty string, \N deletes). Array items are |-separated, trimmed, empty ones dropped.
            raw = cell
            if data_type == "array" and cell and cell != DELETE_MARKER:
                raw = [part.strip() for part in cell.split("|") if part.strip()]
            try:
                value = coerce_trait_value(data_type, raw, label=label)
            except ValueError as exc:  # TraitValueError, or anything else a value can raise
                reason = getattr(exc, "reason", str(exc))
                failures.append(RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"{reason} ({data_type})"))
                continue
            typed.setdefault(group, {})[trait] = value
            if kinds and value is not DELETE and value != "":
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, str | int) or isinstance(item, bool):
                        continue  # as identity.services._mapped_pairs: only text and whole numbers identify
                    if isinstance(item, str) and not strip_invisible(item):
                        continue  # blank is empty: a value of only spaces makes no identifier, as in the API
                    for kind in kinds:
                        try:
                            pair = (kind, normalize_identifier(kind, str(item), region=self.region))
                        except IdentifierError as exc:
                            failures.append(
                                RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"as identifier {kind}: {exc.reason}")
                            )
                            continue
                        if pair not in pairs:
                            pairs.append(pair)
        if failures:
            failures[0].cells = cells
            return failures
        if not pairs:
            return [RowFailure(line, "", "", self.no_identifier, cells)]
        pairs.sort(key=lambda pair: self.rank[pair[0]])
        return pairs, typed
