"""Row rules: turn one CSV row into identifiers and typed trait values, or say why it fails.

- a row must have as many cells as the header;
- imported cells may hold only the allowed characters (traits/charset.py);
- at least one mapped identifier column must hold a value; identifier values are normalised
  (an invalid phone or email fails the row);
- trait cells are typed by the trait's data type (a wrong type fails the row); an empty cell
  (empty or ``""``) sets the empty string, ``\\N`` deletes the trait; array cells are
  ``|``-separated (``;`` and ``,`` are not allowed characters);
- a value of a trait mapped by an identity rule is also an identifier of the rule's kind.
"""

import re
from dataclasses import dataclass

from identity.models import RuleSource
from identity.normalization import MAX_LENGTH, IdentifierError, normalize_identifier
from traits.charset import ALLOWED, describe, disallowed_characters
from traits.coercion import DELETE, DELETE_MARKER, coerce_trait_value

_ASCII_ALLOWED = "".join(sorted(c for c in ALLOWED if c.isascii()))
_ASCII_BAD = re.compile("[^" + re.escape(_ASCII_ALLOWED) + "]")
MAX_VALUE_SHOWN = 500


@dataclass
class RowFailure:
    line: int
    column: str
    value: str
    reason: str


def _identifier(kind: str, raw: str, region: str) -> str:
    """The normalised value; one that does not fit Identifier.value (a long email) fails like any invalid one."""
    value = normalize_identifier(kind, raw, region=region)
    if len(value) > MAX_LENGTH:
        raise IdentifierError(kind, raw, f"is longer than {MAX_LENGTH} characters")
    return value


def _bad_characters(cell: str) -> list[str]:
    if cell.isascii():
        found = _ASCII_BAD.findall(cell)
        return list(dict.fromkeys(found))
    return disallowed_characters(cell)


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
                schema[entry["group"]][entry["trait"]].data_type,
                mapped_by.get((entry["group"], entry["trait"]), []),
            )
            for entry in mapping
            if "trait" in entry
        ]
        self.columns = sorted(entry["column"] for entry in mapping if "identifier" in entry)  # values: coercion
        names = sorted({kind for _, _, kind in self.identifier_columns})
        self.no_identifier = "needs a value in at least one identifier column (" + ", ".join(names) + ")"

    def validate(self, line: int, cells: list[str]):
        """((kind, value) pairs in priority order, {group: {trait: typed}}), or a list of RowFailure."""
        if len(cells) != self.width:
            return [RowFailure(line, "", "", f"the row has {len(cells)} cells but the header has {self.width} columns")]
        failures = []
        imported = "".join([cells[column] for column in self.columns])
        # The common case: one scan of the whole row finds nothing to report.
        columns = () if imported.isascii() and not _ASCII_BAD.search(imported) else self.columns
        for column in columns:
            cell = cells[column]
            if cell and (bad := _bad_characters(cell)):
                failures.append(
                    RowFailure(
                        line,
                        self._header(column),
                        cell[:MAX_VALUE_SHOWN],
                        "contains characters that are not allowed: " + ", ".join(describe(c) for c in bad),
                    )
                )
        if failures:
            return failures
        pairs: list[tuple[str, str]] = []
        for column, header, kind in self.identifier_columns:
            cell = cells[column]
            if not cell or cell == DELETE_MARKER:
                continue
            try:
                pair = (kind, _identifier(kind, cell, self.region))
            except IdentifierError as exc:
                failures.append(RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"{exc.reason}"))
                continue
            if pair not in pairs:
                pairs.append(pair)
        typed: dict[str, dict] = {}
        for column, header, group, trait, data_type, kinds in self.trait_columns:
            cell = cells[column]
            if cell == DELETE_MARKER:
                value = DELETE
            elif cell == "":
                value = cell
            else:
                # items trimmed, empty ones dropped: as the a;b;c form of traits.coercion
                raw = [part.strip() for part in cell.split("|") if part.strip()] if data_type == "array" else cell
                try:
                    value = coerce_trait_value(data_type, raw, label=f"{group}.{trait}")
                except ValueError as exc:  # TraitValueError, or anything else a value can raise
                    reason = getattr(exc, "reason", str(exc))
                    failures.append(RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"{reason} ({data_type})"))
                    continue
            typed.setdefault(group, {})[trait] = value
            if kinds and value is not DELETE and value != "":
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, str | int) or isinstance(item, bool):
                        continue  # as identity.services._mapped_pairs: only text and whole numbers identify
                    for kind in kinds:
                        try:
                            pair = (kind, _identifier(kind, str(item), self.region))
                        except IdentifierError as exc:
                            failures.append(
                                RowFailure(line, header, cell[:MAX_VALUE_SHOWN], f"as identifier {kind}: {exc.reason}")
                            )
                            continue
                        if pair not in pairs:
                            pairs.append(pair)
        if failures:
            return failures
        if not pairs:
            return [RowFailure(line, "", "", self.no_identifier)]
        pairs.sort(key=lambda pair: self.rank[pair[0]])
        return pairs, typed

    def _header(self, column: int) -> str:
        for col, header, *_ in self.identifier_columns + self.trait_columns:
            if col == column:
                return header
        return ""  # pragma: no cover - only mapped columns are checked
