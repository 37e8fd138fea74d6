"""Reads of conversational memory for the console's and the API's memory pages (issue 17, Console):
one observation behind the tenant wall, and a profile's observations and summaries in pages."""

from django.db.models import Prefetch

from .models import Communication, Observation, ObservationRevision, Summary


def observation_get(*, store, profile_id: int, observation_id: int) -> Observation | None:
    """The observation `observation_id` of profile `profile_id` in `store`, or None (another store's
    or another profile's id is not found: the tenant wall)."""
    return Observation.objects.filter(store=store, profile_id=profile_id, pk=observation_id).first()


def _with_history(rows):
    return rows.prefetch_related(
        Prefetch("evidence", queryset=Communication.objects.only("id", "conversation_id").order_by("id")),
        Prefetch("revisions", queryset=ObservationRevision.objects.prefetch_related("evidence").order_by("-id")),
    )


def observations_page(*, profile, before_id: int | None = None, size: int = 50) -> list[Observation]:
    """A profile's observations, newest first by id, `size` at most after `before_id` (keyset
    pagination: stable while extraction adds more), with evidence and revisions (newest first)."""
    rows = Observation.objects.filter(profile=profile)
    if before_id is not None:
        rows = rows.filter(pk__lt=before_id)
    return list(_with_history(rows).order_by("-id")[:size])


def summaries_page(*, profile, before_id: int | None = None, size: int = 50) -> list[Summary]:
    """A profile's conversation summaries, newest first by id, `size` at most after `before_id`."""
    rows = Summary.objects.filter(profile=profile)
    if before_id is not None:
        rows = rows.filter(pk__lt=before_id)
    return list(rows.prefetch_related("evidence").order_by("-id")[:size])
