"""django-q2 entry points for conversations; the logic is in services.py."""

from memory_console.timestamps import timestamp_clean

from .services import conversations_advance


def conversations_advance_task(now: str | None = None) -> str:
    """One pass of the lifecycle worker (the per-minute schedule calls it without arguments).
    `now`: ISO 8601 text read as the current time instead of the clock's (tests move a clock
    through a real qcluster this way, never sleeping)."""
    counts = conversations_advance(now=timestamp_clean(now) if now is not None else None)
    return f"{counts.inactive} inactive, {counts.closed} closed, {counts.extractions} extractions queued"


def status_callbacks_send_task(prune: bool = True) -> str:
    """Send the due status callbacks. The per-minute schedule calls it without arguments and also
    prunes old finished deliveries; the task queued when deliveries are written sends only
    (`prune=False`)."""
    from .callbacks import deliveries_prune, status_callbacks_send

    counts = status_callbacks_send()
    if not prune:
        return f"{counts.delivered} delivered, {counts.retrying} to retry, {counts.failed} failed"
    pruned = deliveries_prune()
    return f"{counts.delivered} delivered, {counts.retrying} to retry, {counts.failed} failed, {pruned} old pruned"


def extraction_process_task(request_id: int | None = None) -> str:
    """Process memory extraction requests: request `request_id` (the task queued when it was made),
    or, without it (the per-minute schedule, or many requests made at once), a sweep of the
    pending ones."""
    from .memory import extraction_process_one, extractions_pending_process

    if request_id is not None:
        outcome = f"request {request_id}: {extraction_process_one(request_id=request_id) or 'nothing to do'}"
    else:
        counts = extractions_pending_process()
        outcome = f"{counts['done']} done, {counts['failed']} failed"
    return outcome + _embed()


def _embed() -> str:
    """With an embeddings endpoint configured (conversations.embeddings): embed the observations
    just written or updated (and any left from before), for semantic recall."""
    from .embeddings import embeddings_config, observations_embed_pending

    if embeddings_config() is None:
        return ""
    counts = observations_embed_pending()
    return f"; {counts['embedded']} embedded" + (f" ({counts['error']})" if counts["error"] else "")
