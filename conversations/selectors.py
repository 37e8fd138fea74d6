"""Read paths for conversation configurations."""

from django.db.models import Prefetch

from .capture import matches, specificity
from .lifecycle import Timeout, effective_timeouts
from .models import (
    CaptureRule,
    Communication,
    Conversation,
    ConversationConfiguration,
    Observation,
    ObservationRevision,
    Summary,
)


def configuration_list(*, store):
    return ConversationConfiguration.objects.filter(store=store).prefetch_related("captures")


def configuration_get(*, store, configuration_id: int) -> ConversationConfiguration | None:
    """The store's configuration, or None (another store's id is not found: the tenant wall)."""
    return ConversationConfiguration.objects.filter(store=store, pk=configuration_id).first()


def configuration_timeouts(*, configuration: ConversationConfiguration) -> dict[str, Timeout]:
    """{channel: Timeout}: the effective timeout of each channel the configuration captures."""
    channels = {rule.channel for rule in configuration.captures.all()}
    return effective_timeouts(channels=channels, timeout_minutes=configuration.timeout_minutes)


def configuration_capturing(*, store, channel: str, address: str) -> ConversationConfiguration | None:
    """The configuration that captures a business `address` (its stored form) on `channel`: the
    most specific of the store's matching rules (`conversations.capture.specificity`), or None."""
    rules = [
        rule
        for rule in CaptureRule.objects.filter(store=store, channel=channel).select_related("configuration")
        if matches(rule.pattern, address)
    ]
    if not rules:
        return None
    return max(rules, key=lambda rule: specificity(rule.pattern)).configuration


def conversations_page(
    *,
    store,
    status=None,
    channel=None,
    configuration_id=None,
    opened_from=None,
    opened_before=None,
    before_id=None,
    size: int = 50,
) -> list:
    """The store's conversations, newest first (by id), filtered, `size` at most after `before_id`
    (keyset pagination: stable while new conversations arrive). `opened_from` (inclusive) and
    `opened_before` (exclusive): aware datetimes bounding when a conversation was opened."""
    rows = Conversation.objects.filter(store=store).select_related("configuration")
    if opened_from is not None:
        rows = rows.filter(opened_at__gte=opened_from)
    if opened_before is not None:
        rows = rows.filter(opened_at__lt=opened_before)
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    if configuration_id is not None:
        rows = rows.filter(configuration_id=configuration_id)
    if before_id is not None:
        rows = rows.filter(pk__lt=before_id)
    return list(rows.order_by("-id")[:size])


def conversation_get(*, store, conversation_id: int):
    """The store's conversation with its configuration and profile, or None (the tenant wall)."""
    return (
        Conversation.objects.filter(store=store, pk=conversation_id).select_related("configuration", "profile").first()
    )


def profile_conversations(*, profile, limit: int = 20) -> list:
    """A profile's conversations, newest first (the profile page's Conversations section)."""
    return list(Conversation.objects.filter(profile=profile).select_related("configuration").order_by("-id")[:limit])


def conversation_agents(*, conversation) -> list[str]:
    """The names of the business's authors (agents, bots) of a conversation's outbound
    communications, in order of first appearance; unnamed authors are left out."""
    names = (
        conversation.communications.filter(direction="outbound")
        .exclude(author_name="")
        .values_list("author_name", flat=True)
        .order_by("id")
    )
    return list(dict.fromkeys(names))


def profile_observations(*, profile) -> list:
    """A profile's observations, newest first, with their evidence (the conversations it is in) and
    their revisions, newest first (the profile page's Observations section)."""
    return list(
        Observation.objects.filter(profile=profile)
        .prefetch_related(
            Prefetch("evidence", queryset=Communication.objects.only("id", "conversation_id").order_by("id")),
            Prefetch("revisions", queryset=ObservationRevision.objects.order_by("-id")),
        )
        .order_by("-updated_at", "-id")
    )


def profile_summaries(*, profile) -> list:
    """A profile's conversation summaries, newest first (the profile page's Summaries section)."""
    return list(Summary.objects.filter(profile=profile).order_by("-created_at", "-id"))
