"""JSON that keeps every number exactly as written, and the check every request body passes.

Python's `json` reads ``123456789012345678.5`` and ``1.0000000000000001`` as floats, which round
them (to ``123456789012345680.0`` and ``1.0``); PostgreSQL's JSONB keeps any precision, and so must
we on every path: an API body, a CSV cell, a stored profile read back, an answer.

- `loads` reads a JSON number with a fraction or exponent as a `float` when the float's shortest
  text is the same number (``0.1``, ``2.5e-3``: the usual case), else as a `Decimal` that keeps
  every digit. Integers are `int`, of any size. A number too large for a float (``1e400``) and the
  non-standard ``NaN``/``Infinity`` literals come back as non-finite floats, which `json_problem`
  refuses. JSON nesting arrays and objects more than `MAX_DEPTH` (64) levels deep is refused with
  `JSONTooDeep` (a ValueError), however deep: the one limit for API bodies and array values.
- `dumps` writes `Decimal` and integers beyond 64 bits as their exact digits (orjson, with
  `orjson.Fragment` for those).
- `json_problem` finds the first value in decoded JSON that must not be stored: a string holding
  NUL or a lone surrogate (no database stores them), or a non-finite number.
"""

import json
import math
from decimal import Decimal

import orjson

from memory_console.text import describe_char, never_storable


def exact_number(text: str) -> float | Decimal:
    """A JSON number with a fraction or exponent: a float when that loses nothing, else a Decimal."""
    value = float(text)
    if repr(value) == text or not math.isfinite(value) or Decimal(repr(value)) == Decimal(text):
        return value  # the first test answers the usual case (0.1, 2.5) without building Decimals
    return Decimal(text)


def _constant(name: str) -> float:
    return float(name)  # NaN, Infinity, -Infinity: refused by json_problem with the field named


# How deeply arrays and objects may nest in JSON a client sends (a body, an array trait's text).
# Python's decoder recurses once per level and fails at about 1,000 with RecursionError; no value
# this service stores nests more than a few levels.
MAX_DEPTH = 64


class JSONTooDeep(ValueError):
    """JSON that nests arrays and objects more than `MAX_DEPTH` levels deep. ``str()`` is the reason."""

    def __init__(self):
        super().__init__(f"it nests arrays and objects more than {MAX_DEPTH} levels deep")


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether decoded JSON nests dicts and lists more than `limit` levels (a scalar is 0 levels,
    ``[]`` one); checked with a stack, not recursion."""
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


def loads(data: str | bytes):
    """Decode JSON keeping numbers exact (see the module docstring).

    Raises ValueError when malformed (UnicodeDecodeError, a ValueError, for bytes that are not
    UTF-8) and its subclass `JSONTooDeep` when arrays and objects nest more than `MAX_DEPTH` levels.
    """
    try:
        value = json.loads(data, parse_float=exact_number, parse_constant=_constant)
    except RecursionError:  # thousands of levels: the decoder ran out of stack
        raise JSONTooDeep() from None
    if too_deep(value):
        raise JSONTooDeep()
    return value


def _exact(value):
    if isinstance(value, Decimal):
        return _decimal(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decimal(value: Decimal):
    if not value.is_finite():
        raise TypeError(f"{value} is not a finite number")
    return orjson.Fragment(str(value))


def _big_ints(value):
    """`value` with integers beyond 64 bits as orjson fragments of their digits."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return orjson.Fragment(str(value)) if not -(2**63) <= value < 2**64 else value
    if isinstance(value, dict):
        return {key: _big_ints(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints(item) for item in value]
    return value


def dumps_bytes(value, *, option: int = 0, default=None) -> bytes:
    """UTF-8 JSON for `value`, every number exact. Raises TypeError for what JSON cannot hold.

    `option`: orjson's options (e.g. ``orjson.OPT_PASSTHROUGH_DATETIME``). `default`: called with
    any other value orjson cannot write (after `Decimal`), returns what to write instead.
    """
    if default is None:
        fallback = _exact
    else:

        def fallback(item):
            return _decimal(item) if isinstance(item, Decimal) else default(item)

    try:
        return orjson.dumps(value, default=fallback, option=option)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        return orjson.dumps(_big_ints(value), default=fallback, option=option)


def dumps(value) -> str:
    return dumps_bytes(value).decode()


class ExactJSONEncoder(json.JSONEncoder):
    """For Django's ``JSONField(encoder=...)``: `encode` writes exact numbers through `dumps`."""

    def encode(self, o) -> str:
        return dumps(o)


class ExactJSONDecoder(json.JSONDecoder):
    """For Django's ``JSONField(decoder=...)``: numbers come back as `loads` reads them."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parse_float", exact_number)
        kwargs.setdefault("parse_constant", _constant)
        super().__init__(*args, **kwargs)


# What PostgreSQL's numeric (and so a JSONB number) holds: 131072 digits before the point, 16383
# after (PostgreSQL documentation, "Arbitrary Precision Numbers"); "1e-20000" is refused there.
NUMERIC_DIGITS_BEFORE = 131072
NUMERIC_DIGITS_AFTER = 16383


def json_problem(value, loc: tuple = ()) -> tuple[tuple, str] | None:
    """The first value in decoded JSON that must not be stored, as (loc, reason), or None.

    Strings (keys included) holding NUL or a lone surrogate, non-finite numbers (``NaN``,
    ``Infinity``, ``1e400``) and exact numbers PostgreSQL's numeric cannot hold (``1e-20000``).
    Other control characters are left to each kind's own rule (a string trait value may hold a
    line break; a name may not).
    """
    if isinstance(value, str):
        found = never_storable(value)
        return (loc, "contains " + ", ".join(describe_char(c) for c in found)) if found else None
    if isinstance(value, float):
        return None if math.isfinite(value) else (loc, "is not a finite number (or is too large)")
    if isinstance(value, Decimal):
        if not value.is_finite():
            return loc, "is not a finite number"
        if value and (value.adjusted() >= NUMERIC_DIGITS_BEFORE or value.as_tuple().exponent < -NUMERIC_DIGITS_AFTER):
            return loc, "is a number with more digits than can be stored"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and never_storable(key):
                return (*loc, key), "is a key that " + json_problem(key)[1]
            problem = json_problem(item, (*loc, key))
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for position, item in enumerate(value):
            problem = json_problem(item, (*loc, position))
            if problem:
                return problem
    return None


PROBLEMS_MAX = 1000  # `json_problems` lists at most this many (a 10 MiB body may hold a million)


def json_problems(value, loc: tuple = (), *, limit: int = PROBLEMS_MAX) -> list[tuple[tuple, str]]:
    """Every value `json_problem` would find, in document order, as [(loc, reason)], at most `limit`:
    so one answer names each bad item of a batch, not only the first. Slower than `json_problem`
    (it never stops early): call it once that has found one."""
    found: list[tuple[tuple, str]] = []

    def walk(item, where: tuple) -> None:
        if len(found) >= limit:
            return
        if isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and never_storable(key):
                    found.append(((*where, key), "is a key that " + json_problem(key)[1]))
                    if len(found) >= limit:
                        return
                    continue
                walk(inner, (*where, key))
        elif isinstance(item, list):
            for position, inner in enumerate(item):
                walk(inner, (*where, position))
        else:
            problem = json_problem(item, where)
            if problem:
                found.append(problem)

    walk(value, loc)
    return found[:limit]
