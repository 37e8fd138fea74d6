"""Turn raw trait values (from CSV cells, API JSON or console forms) into typed values.

One set of rules for every write path (see `traits.services.profile_set_traits`):

- ``""`` (empty string) means "set to the empty string", whatever the type;
- ``None`` or the marker ``\\N`` means "remove the trait from the profile" (`DELETE`);
- string: text as given; JSON numbers become their decimal text; booleans, lists and objects fail;
- number: an int or a finite decimal (``"12"``, ``"-3.5"``, ``"1e3"``, JSON numbers); no NaN/inf;
- boolean: true/false/yes/no/1/0 in any case (or JSON true/false, 1/0);
- array: a JSON array of scalars, or a ``;``-separated list (items trimmed, empty items dropped).
"""

import json
import math
import re
from decimal import Decimal, InvalidOperation

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


class TraitValueError(ValueError):
    def __init__(self, label: str, value, reason: str):
        self.label, self.value, self.reason = label, value, reason
        shown = value if isinstance(value, str) else json.dumps(value)
        if isinstance(shown, str) and len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{label}: “{shown}” {reason}")


def _number(raw, label):
    if isinstance(raw, bool):
        raise TraitValueError(label, raw, "is not a number")
    if isinstance(raw, int):
        if abs(raw) >= 10**MAX_NUMBER_LENGTH:
            raise TraitValueError(label, raw, f"is too large (more than {MAX_NUMBER_LENGTH} digits)")
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise TraitValueError(label, raw, "is not a finite number")
        return int(raw) if raw.is_integer() and abs(raw) < 2**53 else raw
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > MAX_NUMBER_LENGTH:
            raise TraitValueError(label, raw, f"is too long for a number (over {MAX_NUMBER_LENGTH} characters)")
        if not _NUMBER.match(text):
            raise TraitValueError(label, raw, "is not a number (expected e.g. 42 or 3.14)")
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            raise TraitValueError(label, raw, "is not a number") from None
        if not value.is_finite():
            raise TraitValueError(label, raw, "is not a finite number")
        if value == value.to_integral_value() and "." not in text and "e" not in text.lower():
            return int(value)
        as_float = float(value)
        if not math.isfinite(as_float):
            raise TraitValueError(label, raw, "is too large")
        return int(as_float) if as_float.is_integer() and abs(as_float) < 2**53 else as_float
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


def _scalar_ok(item) -> bool:
    return (
        item is None
        or isinstance(item, str | int | float | bool)
        and not (isinstance(item, float) and not math.isfinite(item))
    )


def _array(raw, label):
    if isinstance(raw, list | tuple):
        items = list(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise TraitValueError(label, raw, "is not a valid JSON array") from None
            if not isinstance(items, list):  # pragma: no cover - "[" always parses to a list
                raise TraitValueError(label, raw, "is not a JSON array")
        else:
            items = [part.strip() for part in text.split(";") if part.strip()]
    else:
        raise TraitValueError(label, raw, "is not an array (expected a JSON array or a;b;c)")
    if not all(_scalar_ok(item) for item in items):
        raise TraitValueError(label, raw, "is an array that holds objects, arrays or non-finite numbers")
    return items


def _string(raw, label):
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise TraitValueError(label, raw, "is not text")
        return str(raw)
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
