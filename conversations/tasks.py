"""django-q2 entry points for conversations; the logic is in services.py."""

from .services import conversations_advance


def conversations_advance_task() -> str:
    counts = conversations_advance()
    return f"{counts.inactive} inactive, {counts.closed} closed, {counts.extractions} extractions queued"


def status_callbacks_send_task() -> str:
    from .callbacks import deliveries_prune, status_callbacks_send

    counts = status_callbacks_send()
    pruned = deliveries_prune()
    return f"{counts.delivered} delivered, {counts.retrying} to retry, {counts.failed} failed, {pruned} old pruned"
