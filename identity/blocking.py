"""Blocked values: identifier values an identity rule never uses to identify anyone.

A rule's ``blocked_values`` is a list of text patterns (``IdentityRule.blocked_values``), e.g.
``["noreply@*", "test@test.com", "0000000000", "n/a"]``. This module holds the one rule for them,
database-free:

- **Shape** (`blocked_values_clean`, called by the console form, the API and the services): a list
  of text values, or one text with one value per line (the console's textarea; blank lines are
  skipped). Each value is trimmed of Unicode white space and zero-width characters
  (`memory_console.text.strip_invisible`), stored in NFC, non-empty, at most `MAX_PATTERN_LENGTH`
  (255) characters, and may not hold control characters or the invisible characters an identifier
  may not hold inside (format characters such as U+200B, line/paragraph separators), named by code
  point. A value that is only ``*`` is refused: it would block every value. Duplicates (ignoring
  case) are dropped without an error, keeping the first spelling; at most `MAX_PATTERNS` (100)
  values remain. Any refusal is ``ValidationError({"blocked_values": "..."})`` naming the entry.
- **Matching** (`BlockList(patterns).blocks(raw, normalised)`): ``*`` matches any run of characters,
  none included (``noreply@*``, ``*@example.invalid``, ``test*@*``); nothing else is a wildcard
  (``?``, ``[`` and ``\\`` are themselves). A pattern matches the whole value, ignoring case
  (``str.casefold``), both sides in NFC with invisible edges trimmed. A value is blocked when the
  pattern matches any of: the raw value as the client wrote it, its normalised form (when
  normalising succeeded), and, when the raw value holds digits and no letters, its digits alone in
  ASCII (so ``(000) 000-0000`` and ``000.000.0000`` are blocked by ``0000000000``).

`BlockList` is built once per rule and asked for every identifier of an import (a million rows), so
the common answers are cheap: an empty list answers at once, exact patterns are one dict lookup,
all ``*`` patterns are one compiled regular expression, run only when the value starts (or ends)
with the text before (after) the star of one of them, and the digits-only form is made only when
some pattern is digits (and stars), without regular expressions for ASCII values (about a
microsecond per value with the default lists). Each ``*`` pattern is compiled so that the
text between two stars is found at its first occurrence and never retried (atomic groups), so a
pattern with many stars costs time linear in the value, not exponential.
"""

import re
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from memory_console.text import (
    strip_invisible,
    text_nfc,
    text_visible,
)

from .normalization import hidden_problem

MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 255
WILDCARD = "*"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[^\W\d_]")  # a word character that is neither a digit nor "_"
_NOT_DIGIT = re.compile(r"\D+")
_ASCII_NON_DIGITS = bytes(code for code in range(128) if not 0x30 <= code <= 0x39)
_SHOWN = 60


def _key(text: str) -> str:
    """How a pattern or value is compared: invisible edges trimmed, NFC, case folded (then NFC
    again: folding can decompose, e.g. U+01F0 folds to j + U+030C)."""
    text = strip_invisible(text)
    if text.isascii():
        return text.lower()
    return text_nfc(text_nfc(text).casefold())


def _digits(raw: str) -> str | None:
    """The ASCII digits of `raw` when it holds digits and no letters (a phone number written with
    punctuation), else None."""
    if raw[:1] == "+" and raw[1:].isdigit() and raw.isascii():  # E.164 as sent: its digits
        return raw[1:]
    if raw.isascii():  # the common case, without regular expressions
        if raw.upper() != raw.lower():  # a letter
            return None
        return raw.encode().translate(None, _ASCII_NON_DIGITS).decode() or None
    if _HAS_LETTER.search(raw) or not _HAS_DIGIT.search(raw):
        return None
    digits = _NOT_DIGIT.sub("", raw)
    if not digits.isascii():
        digits = "".join(str(unicodedata.decimal(char)) for char in digits)
    return digits


def _glob_regex(pattern: str) -> str:
    """The regular expression for one ``*`` pattern (already a key), matched with `fullmatch`.

    Text between stars is found at its first occurrence inside an atomic group: the leftmost
    occurrence always leaves the most room for the rest, so never retrying it loses no match and
    keeps the cost linear in the value's length.
    """
    parts = pattern.split(WILDCARD)
    first, middle, last = parts[0], [p for p in parts[1:-1] if p], parts[-1]
    return re.escape(first) + "".join(f"(?>.*?{re.escape(p)})" for p in middle) + ".*" + re.escape(last)


class BlockList:
    """The blocked values of one rule, compiled once: ``BlockList(rule.blocked_values)``.

    `patterns` are stored patterns (as `blocked_values_clean` returns them); `blocks` answers the
    pattern, as stored, that blocks a value, or None (an exact pattern before a ``*`` one, then in
    list order).
    """

    __slots__ = ("patterns", "_exact", "_regex", "_wild", "_starts", "_ends", "_anywhere", "_digit_patterns")

    def __init__(self, patterns: Iterable[str] = ()):
        self.patterns = tuple(patterns)
        self._exact: dict[str, str] = {}
        self._wild: list[str] = []
        regexes, starts, ends = [], set(), set()
        self._anywhere = False  # a pattern that starts and ends with *: no cheap test rules it out
        self._digit_patterns = False  # a pattern that can match digits alone
        for pattern in self.patterns:
            key = _key(pattern)
            bare = key.replace(WILDCARD, "")
            if bare.isascii() and bare.isdigit():
                self._digit_patterns = True
            if WILDCARD not in key:
                self._exact.setdefault(key, pattern)
                continue
            self._wild.append(pattern)
            regexes.append(f"({_glob_regex(key)})")
            first, last = key.split(WILDCARD)[0], key.rsplit(WILDCARD)[-1]
            if first:
                starts.add(first)
            elif last:
                ends.add(last)
            else:
                self._anywhere = True
        # Every * pattern either starts with one of `_starts`, or ends with one of `_ends`, or is
        # `_anywhere`: two C-speed string tests before the regular expression runs.
        self._starts, self._ends = tuple(starts), tuple(ends)
        self._regex = re.compile("|".join(regexes), re.DOTALL) if regexes else None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"BlockList({list(self.patterns)!r})"

    def blocks(self, raw: str, normalised: str | None = None) -> str | None:
        """The pattern that blocks this identifier, or None.

        `raw` is the value as the client wrote it; `normalised` its normalised form, or None when
        normalising failed. Also tried: the raw value's digits alone, when it holds digits and no
        letters.
        """
        if not self.patterns or not isinstance(raw, str):
            return None
        key = _key(raw)
        found = self._match(key)
        if found is None and normalised and normalised != raw:  # most data comes normalised already
            normal_key = _key(normalised)
            if normal_key != key:
                found = self._match(normal_key)
        if found is None and self._digit_patterns:
            digits = _digits(key)
            if digits and digits != key:
                found = self._match(digits)
        return found

    def _match(self, key: str) -> str | None:
        pattern = self._exact.get(key)
        if pattern is not None or self._regex is None:
            return pattern
        if not (self._anywhere or key.startswith(self._starts) or key.endswith(self._ends)):
            return None
        matched = self._regex.fullmatch(key)
        return None if matched is None else self._wild[matched.lastindex - 1]


def _shown(text: str) -> str:
    return text_visible(text[:_SHOWN]) + ("..." if len(text) > _SHOWN else "")


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _refuse(message: str):
    return ValidationError({"blocked_values": message})


def blocked_values_clean(values) -> list[str]:
    """The blocked values to store: trimmed, NFC, checked, duplicates (ignoring case) dropped.

    `values` is a list (or tuple) of text, or one text with a value per line (blank lines
    skipped). ``None`` is the empty list. Raises ``ValidationError({"blocked_values": ...})``
    naming the entry at fault (by position and value).
    """
    if values is None:
        return []
    if isinstance(values, str):
        noun = "Line"
        numbered = [(n, line) for n, line in enumerate(_LINE_BREAK.split(values), start=1) if strip_invisible(line)]
    elif isinstance(values, (list, tuple)):
        noun = "Blocked value"
        numbered = list(enumerate(values, start=1))
    else:
        raise _refuse(f"Blocked values must be a list of text values, not {_type_name(values)}.")
    cleaned: dict[str, str] = {}
    for number, entry in numbered:
        where = f"{noun} {number}"
        if not isinstance(entry, str):
            raise _refuse(f"{where} must be text, not {_type_name(entry)}.")
        text = strip_invisible(entry)
        if not text:
            raise _refuse(f"{where} is empty.")
        shown = f"{where} “{_shown(text)}”"
        problem = hidden_problem(text)  # the characters no identifier may hold inside
        if problem:
            raise _refuse(f"{shown} {problem}.")
        text = text_nfc(text)
        if len(text) > MAX_PATTERN_LENGTH:
            raise _refuse(f"{shown} is longer than {MAX_PATTERN_LENGTH} characters.")
        if not text.strip(WILDCARD):
            raise _refuse(f"{shown} would block every value: write some text beside the *.")
        cleaned.setdefault(_key(text), text)
    if len(cleaned) > MAX_PATTERNS:
        raise _refuse(f"At most {MAX_PATTERNS} blocked values are allowed (this list has {len(cleaned)}).")
    return list(cleaned.values())
