from datetime import datetime
from decimal import Decimal

from django import template

from memory_console.jsonvalues import dumps

register = template.Library()

_SOURCE_LABELS = {"user": "Console", "import": "CSV import", "api": "API key", "conversation": "Conversation"}


@register.filter
def trait_display(value):
    """A trait value as a person reads it: text as stored, booleans as true/false, numbers with every
    digit as stored (``123456789012345678.5``, never rounded or localised), the empty string as
    "(empty string)", arrays as their items separated by "; " (``red; green``). An array item that
    could not be told apart there (one holding ``;`` or ``"``, empty, or with spaces at an end) is
    shown as a JSON string (``"a;b"; c``); booleans and null in arrays as true, false, null.
    (The inline edit box holds arrays as JSON instead: `profiles.views`.)"""
    if isinstance(value, list | tuple):
        return "; ".join(_item_display(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if value == "":
        return "(empty string)"
    return value


def _item_display(item) -> str:
    if isinstance(item, str):
        ambiguous = not item or ";" in item or '"' in item or item != item.strip()
        return dumps(item) if ambiguous else item
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


@register.filter
def exact_json(value):
    """Decoded JSON (an event's properties) as JSON text, every number with all its digits."""
    try:
        return dumps(value)
    except TypeError:
        return str(value)


@register.filter
def source_label(source):
    if not source:
        return ""
    kind, _, ident = str(source).partition(":")
    label = _SOURCE_LABELS.get(kind, kind)
    return f"{label} #{ident}" if kind == "import" else f"{label}: {ident}"


@register.filter
def iso_datetime(value):
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None
