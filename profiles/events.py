"""The one rule for an event's fields, on every path that records events (identify, identify-batch,
a profile's events through the API).

- **name**: text by `memory_console.text.text_clean` (NFC; control characters and lone surrogates
  refused, named by code point), trimmed, required, at most `EVENT_NAME_MAX` characters (refused
  beyond, never cut).
- **timestamp**: `memory_console.timestamps.timestamp_clean` (UTC, 1900-01-01 to 9999-12-30; naive read as
  UTC); missing means now.
- **properties**: a JSON object. Keys are single-line text, string values multi-line text (tab,
  line feed and carriage return allowed), both NFC by `text_clean`; numbers are kept exactly as
  decoded (`int`, `float`, `Decimal`), non-finite numbers refused; nested objects and arrays follow
  the same rules.
"""

import math
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from memory_console.errors import FieldError
from memory_console.text import TextError, text_clean
from memory_console.timestamps import TimestampError, timestamp_clean

EVENT_NAME_MAX = 128


def event_clean(*, name, timestamp=None, properties=None) -> dict:
    """``{"name": str, "timestamp": aware UTC datetime, "properties": dict}`` ready to store.

    Raises ValidationError of `FieldError`s located relative to the event (``("name",)``,
    ``("timestamp",)``, ``("properties", key, ...)``), every problem listed.
    """
    errors: list[FieldError] = []
    clean_name = ""
    if not isinstance(name, str):
        errors.append(FieldError("The event name must be text.", ("name",)))
    else:
        try:
            clean_name = text_clean(name.strip(), max_length=EVENT_NAME_MAX)
        except TextError as exc:
            errors.append(FieldError(f"The event name {exc.reason}.", ("name",)))
        else:
            if not clean_name:
                errors.append(FieldError("An event needs a name.", ("name",)))
    when: datetime | None = None
    try:
        when = timezone.now() if timestamp is None else timestamp_clean(timestamp)
    except TimestampError as exc:
        errors.append(FieldError(f"The event timestamp {exc.reason}.", ("timestamp",)))
    clean_properties = {}
    if properties is None:
        pass
    elif not isinstance(properties, dict):
        errors.append(FieldError("The event properties must be a JSON object.", ("properties",)))
    else:
        clean_properties = _clean_json(properties, ("properties",), errors)
    if errors:
        raise ValidationError(errors)
    return {"name": clean_name, "timestamp": when, "properties": clean_properties}


def events_clean(events) -> tuple[list[dict], list[FieldError]]:
    """`event_clean` for each event of a list: ``(cleaned events, errors)``, each error located at
    ``("events", position, field, ...)`` and its message starting ``events[position]:``, so every
    path that takes a list of events (identify, a profile's events) names a bad one alike."""
    cleaned, errors = [], []
    for position, event in enumerate(events or []):
        if not isinstance(event, dict):
            errors.append(FieldError(f"events[{position}]: an event is a JSON object.", ("events", position)))
            continue
        try:
            cleaned.append(
                event_clean(
                    name=event.get("name"), timestamp=event.get("timestamp"), properties=event.get("properties")
                )
            )
        except ValidationError as exc:
            errors += [
                FieldError(f"events[{position}]: {error.message}", ("events", position, *error.message.loc))
                for error in exc.error_list
            ]
    return cleaned, errors


def _clean_json(value, loc: tuple, errors: list):
    if isinstance(value, str):
        try:
            return text_clean(value, multiline=True)
        except TextError as exc:
            errors.append(FieldError(f"The property value {exc.reason}.", loc))
            return value
    if isinstance(value, bool) or value is None or isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            errors.append(FieldError("The property value is not a finite number.", loc))
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError("The property value is not a finite number (or is too large).", loc))
        return value
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            key_text = key if isinstance(key, str) else str(key)
            try:
                key_text = text_clean(key_text)
            except TextError as exc:
                errors.append(FieldError(f"The property name {exc.reason}.", (*loc, key_text)))
                continue
            if key_text in cleaned:
                errors.append(
                    FieldError("Two property names are the same once written in Unicode NFC.", (*loc, key_text))
                )
                continue
            cleaned[key_text] = _clean_json(item, (*loc, key_text), errors)
        return cleaned
    if isinstance(value, list | tuple):
        return [_clean_json(item, (*loc, position), errors) for position, item in enumerate(value)]
    errors.append(FieldError(f"The property value is not JSON ({type(value).__name__}).", loc))
    return value
