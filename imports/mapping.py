"""Column mapping: what each CSV column becomes (an identifier kind or a trait), and its rules.

A mapping is a list of ``{"column": index, "header": text}`` plus either ``"identifier": kind`` or
``"group": name, "trait": name``. Columns not in the list are ignored.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from memory_console.text import text_nfc
from traits.selectors import trait_by_path

from .csvfile import DEFAULT_IDENTIFIER_KINDS, EXPORT_IDENTIFIER

MIN_TRAIT_COLUMNS = 2


def _squash(text: str) -> str:
    """Case- and punctuation-insensitive form used to suggest targets: "First Name" -> "firstname"."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


@dataclass
class Target:
    value: str  # "identifier:<kind>" or "trait:<trait id>"
    label: str


def target_choices(*, rules, schema) -> list[Target]:
    choices = [Target(f"identifier:{rule.kind}", f"Identifier: {rule.kind}") for rule in rules]
    for group, traits in schema.items():
        for name, trait in traits.items():
            choices.append(Target(f"trait:{trait.pk}", f"{group}.{name}"))
    return choices


def suggest_targets(*, headers: list[str], rules, schema) -> list[str]:
    """A suggested target per header ("" for none): identifiers first, then group+trait, then trait."""
    by_key: dict[str, str] = {}
    for group, traits in schema.items():
        for name, trait in traits.items():
            by_key.setdefault(_squash(group + name), f"trait:{trait.pk}")
    for traits in schema.values():
        for name, trait in traits.items():
            by_key.setdefault(_squash(name), f"trait:{trait.pk}")
    for rule in rules:  # identifiers win over a trait of the same name (Contact.phone)
        by_key[_squash(rule.kind)] = f"identifier:{rule.kind}"
        by_key.setdefault(_squash(rule.name), f"identifier:{rule.kind}")
    kinds = {rule.kind for rule in rules}
    suggestions, used = [], set()
    for header in headers:
        target = export_target(header, kinds=kinds, schema=schema) or by_key.get(_squash(header), "")
        if target.startswith("trait:") and target in used:
            target = ""  # a trait takes one column
        used.add(target)
        suggestions.append(target)
    return suggestions


_NUMBERED = re.compile(r"(.+) [0-9]+")


def export_target(header: str, *, kinds, schema) -> str:
    """The target a profiles export's header names (``identifier:phone 2`` -> ``identifier:phone``,
    ``Contact.firstName`` -> ``trait:<id>``), or "" when it names none of `kinds` or `schema`."""
    if header.startswith(EXPORT_IDENTIFIER):
        kind = header.removeprefix(EXPORT_IDENTIFIER)
        numbered = _NUMBERED.fullmatch(kind)
        kind = numbered.group(1) if numbered and kind not in kinds else kind
        return f"identifier:{kind}" if kind in kinds else ""
    trait = trait_by_path(schema, header)
    return f"trait:{trait.pk}" if trait is not None else ""


def export_mapping(headers: list[str]) -> dict[str, str]:
    """The API's ``mapping`` for a profiles export's headers: ``{"identifier:phone 2": "identifier:phone",
    "Contact.firstName": "Contact.firstName"}`` (each header names its own target)."""
    mapping = {}
    for header in headers:
        if header.startswith(EXPORT_IDENTIFIER):
            numbered = _NUMBERED.fullmatch(header)
            mapping[header] = numbered.group(1) if numbered else header
        else:
            mapping[header] = header
    return mapping


def mapping_from_targets(*, headers: list[str], targets: dict[int, str], schema) -> list[dict]:
    """Turn {column index: "identifier:kind" | "trait:<id>"} into the stored mapping."""
    traits_by_id = {trait.pk: trait for traits in schema.values() for trait in traits.values()}
    mapping = []
    for column in sorted(targets):
        target = targets[column]
        if not target:
            continue
        entry = {"column": column, "header": headers[column]}
        kind, _, rest = target.partition(":")
        if kind == "identifier":
            entry["identifier"] = rest
        elif kind == "trait" and rest.isdigit() and int(rest) in traits_by_id:
            trait = traits_by_id[int(rest)]
            entry.update(group=trait.group.name, trait=trait.name)
        else:
            raise ValidationError(f"Column “{headers[column]}”: unknown target “{target}”.")
        mapping.append(entry)
    return mapping


SPEC_SHAPE = "expected HEADER=identifier:KIND or HEADER=Group.trait"


def trait_path_split(path: str, schema) -> tuple[str, str] | None:
    """``(group, trait)`` named by ``"Group.trait"``, or None when no trait of `schema` has that path:
    the one rule for such paths (`traits.selectors.trait_by_path`: names read in NFC, group names
    may hold dots), which the Profiles search and the API's mapped traits use too."""
    trait = trait_by_path(schema, path)
    if trait is None:
        return None
    for group, traits in schema.items():  # the group's name as the schema holds it (no query)
        if traits.get(trait.name) is trait:
            return group, trait.name
    return None  # pragma: no cover - trait_by_path found it in the schema


def _spec_split(spec: str, headers: list[str]) -> tuple[str, str] | None:
    """``HEADER=TARGET`` split at the ``=`` after a header the file has (headers may hold ``=``),
    else at the first ``=``; None without any ``=``. The header part is given in Unicode NFC, as
    the file's headers are read (`csvfile.read_headers`)."""
    if "=" not in spec:
        return None
    position = spec.find("=")
    while position >= 0:
        if text_nfc(spec[:position]) in headers:
            return text_nfc(spec[:position]), spec[position + 1 :]
        position = spec.find("=", position + 1)
    header, _, target = spec.partition("=")
    return text_nfc(header), target


def mapping_from_specs(*, headers: list[str], specs: list, schema) -> list[dict]:
    """The stored mapping from command-line specs ``'Header=identifier:email'`` /
    ``'Header=Group.trait'`` or from ``(header, target)`` pairs (the API's JSON object).

    Headers are compared in Unicode NFC (the file's headers are read so), so a header typed or
    sent decomposed names the same column. Every entry is checked, and ValidationError lists each
    problem: an entry without ``=``, a
    header the file does not have ("the file has no column X"), a target that is neither
    ``identifier:KIND`` nor ``Group.trait``. Trait paths are read by `trait_path_split`; a path
    naming no trait is kept split at its first dot so `mapping_validate` names it."""
    mapping, errors = [], []
    for spec in specs:
        if isinstance(spec, tuple):
            (header, target), shown = (text_nfc(spec[0]), spec[1]), f"{spec[0]}={spec[1]}"
        else:
            split = _spec_split(spec, headers)
            if split is None:
                errors.append(f"“{spec}”: no “=”; {SPEC_SHAPE}.")
                continue
            (header, target), shown = split, spec
        if header not in headers:
            errors.append(f"“{shown}”: the file has no column “{header}”.")
            continue
        entry = {"column": headers.index(header), "header": header}
        if target.startswith("identifier:") and target != "identifier:":
            entry["identifier"] = target.removeprefix("identifier:")
        else:
            found = trait_path_split(target, schema)
            if found is None and "." not in target[1:-1]:
                errors.append(f"“{shown}”: the target “{target}” is neither identifier:KIND nor Group.trait.")
                continue
            group, trait = found or target.split(".", 1)
            entry.update(group=group, trait=trait)
        mapping.append(entry)
    if errors:
        raise ValidationError(errors)
    return mapping


def mapping_validate(*, mapping: list[dict], headers: list[str], rules, schema) -> None:
    """Every mapping rule; ValidationError lists each problem (nothing is queued until all pass)."""
    errors = []
    kinds = {rule.kind for rule in rules}
    seen_columns, seen_traits = set(), {}
    identifier_kinds, trait_columns = set(), 0
    for entry in mapping:
        column, header = entry.get("column"), entry.get("header", "")
        if not isinstance(column, int) or not 0 <= column < len(headers) or headers[column] != header:
            errors.append(f"Column “{header}” is not in the file.")
            continue
        if column in seen_columns:
            errors.append(f"Column “{header}” is mapped twice.")
        seen_columns.add(column)
        if "identifier" in entry:
            kind = entry["identifier"]
            if kind not in kinds:
                errors.append(f"Column “{header}”: there is no identity rule for the identifier kind “{kind}”.")
            identifier_kinds.add(kind)
        else:
            group, trait = entry.get("group", ""), entry.get("trait", "")
            if trait not in schema.get(group, {}):
                errors.append(
                    f"Column “{header}”: the trait “{group}.{trait}” does not exist in this memory store; "
                    "create it on the Traits page first."
                )
                continue
            if (group, trait) in seen_traits:
                errors.append(
                    f"Columns “{seen_traits[(group, trait)]}” and “{header}” are both mapped to {group}.{trait}."
                )
            seen_traits[(group, trait)] = header
            trait_columns += 1
    if not identifier_kinds & set(DEFAULT_IDENTIFIER_KINDS):
        errors.append("Map at least one column to a default identifier: phone, email or whatsappid.")
    if trait_columns < MIN_TRAIT_COLUMNS:
        errors.append(f"Map at least {MIN_TRAIT_COLUMNS} columns to traits (now {trait_columns}).")
    if errors:
        raise ValidationError(errors)
