"""Turn raw trait values (from CSV cells, API JSON or console forms) into typed values.

One set of rules for every write path (see `profiles.services.profile_traits_set`) and for the
console's search (`identity.search.parse_profile_query`):

- ``""`` (empty string) means "set to the empty string", whatever the type;
- ``None`` or the marker ``\\N`` means "remove the trait from the profile" (`DELETE`);
- string: any Unicode text as given, stored in NFC, line breaks and tabs allowed; control
  characters and lone surrogates are refused, named by code point; at most 1 MB
  (`memory_console.text.text_clean`, the rule every path shares). A JSON integer becomes its
  digits (``42`` is ``"42"``); a JSON number with a decimal point or exponent is refused, since its
  text is gone once decoded (``0.10`` is read as 0.1, ``1E5`` as 100000.0), asking for text
  instead; booleans, lists and objects fail;
- number: an int or a finite decimal (``"12"``, ``"-3.5"``, ``"1e3"``, JSON numbers, `Decimal`),
  kept **exactly**: an integer value is an `int` (``"2.0"`` is 2), another value a `float` when the
  float's shortest text is the same number (``0.1``), else a `Decimal` with every digit
  (``123456789012345678.5``, ``1.0000000000000001``), which `memory_console.jsonvalues` writes and
  reads back exactly. Refused: NaN/infinity, magnitudes at or above 10^64 or (but 0) below 10^-64,
  text over 64 characters,
  and group separators (``1,234.5``, ``1.234,5``, ``1,5``: which digits are decimals is ambiguous);
- boolean: true/false/yes/no/1/0 in any case (or JSON true/false, 1/0);
- array: a JSON array of scalars, or a ``;``-separated list (items trimmed, empty items dropped);
  string items follow the string rule, number items keep their exact value. JSON text nesting
  arrays more than `memory_console.jsonvalues.MAX_DEPTH` (64) levels is refused as such, however
  deep (Python's decoder would run out of stack at about 1,000 levels).
"""

import math
import re
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation

from memory_console.jsonvalues import JSONTooDeep, dumps, exact_number, loads
from memory_console.text import TextError, text_clean, text_visible

DELETE_MARKER = "\\N"


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"

    def __reduce__(self):
        return "DELETE"  # unpickles as this module's DELETE: `value is DELETE` holds across processes


DELETE = _Delete()

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
MAX_NUMBER_LENGTH = 64
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_LIMIT = 10**MAX_NUMBER_LENGTH
_TOO_LARGE = f"is too large (more than {MAX_NUMBER_LENGTH} digits before the decimal point)"
_NO_ROUNDING = Context(prec=4 * MAX_NUMBER_LENGTH, Emax=MAX_EMAX, Emin=MIN_EMIN)  # numbers here have <= 64 digits
_SMALLEST = Decimal(1).scaleb(-MAX_NUMBER_LENGTH)  # 10^-64: a smaller number but 0 has more digits after the point
_TOO_SMALL = f"is too small (more than {MAX_NUMBER_LENGTH} digits after the decimal point)"
# Digits with group or decimal separators a locale may use: "1,234.5", "1.234,5", "1 234", "1'234".
_GROUPED = re.compile(r"^[+-]?\d[\d.,' _\u00a0\u202f]*\d$")
_SEPARATOR_HINT = "write numbers without thousands separators and with “.” for decimals, e.g. 1234.5"
# What a value may show of itself in a message: control characters and surrogates are escaped.


def _shown(value) -> str:
    """`value` as a message quotes it: at most 80 characters, hidden characters as ``<U+200B>``."""
    if isinstance(value, str):
        shown = value
    elif isinstance(value, float) and not math.isfinite(value):
        shown = repr(value)
    else:
        try:
            shown = dumps(value)
        except TypeError:
            shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return text_visible(shown)


class TraitValueError(ValueError):
    def __init__(self, label: str, value, reason: str):
        self.label, self.value, self.reason = label, value, reason
        super().__init__(f"{label}: “{_shown(value)}” {reason}")


def _exact(value: Decimal, raw, label):
    """A finite Decimal below 10^64 as int, float or Decimal: the plainest type that is exact."""
    if not value.is_finite():
        raise TraitValueError(label, raw, "is not a finite number")
    if value.copy_abs() >= _LIMIT:
        raise TraitValueError(label, raw, _TOO_LARGE)
    if value and value.copy_abs() < _SMALLEST:
        raise TraitValueError(label, raw, _TOO_SMALL)
    if value == value.to_integral_value():
        return int(value)
    as_float = exact_number(str(value))
    # One text per number (1.50000000000000001, not ...010): equal Decimals are equal JSON text.
    return as_float if isinstance(as_float, float) else value.normalize(_NO_ROUNDING)


def _number(raw, label):
    if isinstance(raw, bool):
        raise TraitValueError(label, raw, "is not a number")
    if isinstance(raw, int):
        if abs(raw) >= _LIMIT:
            raise TraitValueError(label, raw, _TOO_LARGE)
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise TraitValueError(label, raw, "is not a finite number")
        if raw and not 1e-60 < abs(raw) < 1e60:
            # Near the limits, judge the number the float stands for (its shortest text, as
            # jsonvalues.loads reads it), not its binary value: JSON 1e-64 is 10^-64, which is kept.
            return _number(Decimal(repr(raw)), label)
        if not raw.is_integer():
            return raw
        # Beyond 2^53 a float's binary value is not the number written: 1e23 is 99999999999999991611392.
        # Its shortest text is (jsonvalues.loads gives a float only then).
        return int(raw) if abs(raw) < 2**53 else int(Decimal(repr(raw)))
    if isinstance(raw, Decimal):  # a JSON number a float would round (memory_console.jsonvalues.loads)
        if raw.is_finite() and len(str(raw)) > MAX_NUMBER_LENGTH:
            raise TraitValueError(label, raw, f"is too long for a number (over {MAX_NUMBER_LENGTH} characters)")
        return _exact(raw, raw, label)
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > MAX_NUMBER_LENGTH:
            raise TraitValueError(label, raw, f"is too long for a number (over {MAX_NUMBER_LENGTH} characters)")
        match = _NUMBER.match(text)
        if match is None:
            if _GROUPED.match(text):
                used = "".join(dict.fromkeys(c for c in text if not c.isdigit() and c not in "+-."))
                if used or text.count(".") > 1:
                    separators = " and ".join(f"“{c}”" if c.strip() else "a space" for c in used or ".")
                    reason = f"is not a number: it uses {separators}, a thousands or decimal separator"
                    raise TraitValueError(label, raw, f"{reason}; {_SEPARATOR_HINT}")
            raise TraitValueError(label, raw, "is not a number (expected e.g. 42 or 3.14)")
        if match.group(3) is None and match.group(1).isdigit():  # digits only: an int (the common case)
            value = int(text)
            if abs(value) >= _LIMIT:
                raise TraitValueError(label, raw, _TOO_LARGE)
            return value
        as_float = float(text)
        if (as_float == 0 or 1e-60 < abs(as_float) < 2**53) and repr(as_float) == text:  # exact (common case)
            return int(as_float) if as_float.is_integer() else as_float
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            raise TraitValueError(label, raw, "is not a number") from None
        return _exact(value, raw, label)
    raise TraitValueError(label, raw, "is not a number")


def _boolean(raw, label):
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TraitValueError(label, raw, "is not a boolean (expected true/false, yes/no or 1/0)")


def _text(raw: str, label, original=None) -> str:
    try:
        return text_clean(raw, multiline=True)
    except TextError as exc:
        raise TraitValueError(label, raw if original is None else original, exc.reason) from None


def _item(item, raw, label):
    """One array item: a string by the string rule, a number by the number rule (the same type and
    so the same stored text as a number trait's value: ``1.0`` is 1, ``1e20`` is 10^20), a boolean
    or null."""
    if isinstance(item, str):
        return _text(item, label, raw)
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, int | float | Decimal):
        try:
            return _number(item, label)
        except TraitValueError as exc:
            if exc.reason.endswith("is not a finite number"):
                reason = "is an array that holds objects, arrays or non-finite numbers"
            elif exc.reason.startswith("is too long"):
                reason = f"is an array that holds a number over {MAX_NUMBER_LENGTH} characters"
            else:
                reason = "is an array that holds a number out of range (10^-64 to 10^64)"
            raise TraitValueError(label, raw, reason) from None
    raise TraitValueError(label, raw, "is an array that holds objects, arrays or non-finite numbers")


def _array(raw, label):
    if isinstance(raw, list | tuple):
        items = list(raw)
    elif isinstance(raw, str):
        text = _text(raw, label).strip()
        if text.startswith("["):
            try:
                items = loads(text)  # numbers exactly as written
            except JSONTooDeep as exc:  # [[[...]]] thousands deep would exhaust the decoder's stack
                raise TraitValueError(label, raw, f"is not an array of values: {exc}") from None
            except ValueError:
                raise TraitValueError(label, raw, "is not a valid JSON array") from None
            if not isinstance(items, list):  # pragma: no cover - "[" always parses to a list
                raise TraitValueError(label, raw, "is not a JSON array")
        else:
            items = [part.strip() for part in text.split(";") if part.strip()]
    else:
        raise TraitValueError(label, raw, "is not an array (expected a JSON array or a;b;c)")
    return [_item(item, raw, label) for item in items]


_NUMBER_FOR_TEXT = (
    "is a number with a decimal point or exponent, whose digits as written are not kept: send text for a string "
    'trait, e.g. "0.10"'
)


def _string(raw, label):
    if isinstance(raw, str):
        return _text(raw, label)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)  # a JSON integer: its digits are the text it was written as
    if isinstance(raw, float | Decimal):
        # JSON 0.10, 1E5, 1e23 arrive as 0.1, 100000.0, 1e+23: refused rather than stored as other text.
        raise TraitValueError(label, raw, _NUMBER_FOR_TEXT)
    raise TraitValueError(label, raw, "is not text")


_COERCERS = {"string": _string, "number": _number, "boolean": _boolean, "array": _array}


def coerce_trait_value(data_type: str, raw, *, label: str = "value"):
    """The typed value for `raw`, `DELETE`, or TraitValueError naming `label` and the value."""
    if raw is None or raw == DELETE_MARKER:
        return DELETE
    if raw == "":
        return ""
    try:
        coercer = _COERCERS[data_type]
    except KeyError:
        raise ValueError(f"unknown data type {data_type!r}") from None
    return coercer(raw, label)
