from decimal import Decimal

from django import template

from memory_console.jsonvalues import dumps

register = template.Library()

_SOURCE_LABELS = {"user": "Console", "import": "CSV import", "api": "API key", "conversation": "Conversation"}


@register.filter
def trait_display(value):
    """A trait value as a person reads it (arrays as a;b, booleans as true/false, numbers with every
    digit as stored: ``123456789012345678.5``, never rounded or localised)."""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if value == "":
        return "(empty string)"
    return value


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
    from datetime import datetime

    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None
