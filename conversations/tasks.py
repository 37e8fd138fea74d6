"""django-q2 entry points for conversations; the logic is in services.py."""

from .services import conversations_advance


def conversations_advance_task() -> str:
    counts = conversations_advance()
    return f"{counts.inactive} inactive, {counts.closed} closed, {counts.extractions} extractions queued"
