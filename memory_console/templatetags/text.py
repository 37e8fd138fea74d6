"""Template filters for text the console quotes back to people (`memory_console.text`)."""

from django import template

from memory_console.text import text_visible

register = template.Library()


@register.filter
def visible(value):
    """`value` with hidden characters (controls, zero-width, bidi) written as ``<U+200B>``: for
    cells that show what a file or a client sent, e.g. a failed row's value."""
    return text_visible(value) if isinstance(value, str) else value
