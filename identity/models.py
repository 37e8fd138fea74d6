from django.db import models
from django.utils import timezone

from stores.models import Store


class RuleSource(models.TextChoices):
    API = "api", "API identifier"
    TRAITS = "traits", "Mapped traits"


class LimitPolicy(models.TextChoices):
    """What happens when a profile already holds `limit` values of a rule's kind and another comes
    (Twilio Memory's ``limit_policy``: the extra value is removed first in, first out, or last in,
    first out)."""

    LIFO = "lifo", "Keep existing values"
    FIFO = "fifo", "Replace the oldest value"


class IdentityRule(models.Model):
    """How identifiers of one kind create, match and merge profiles in a store.

    `priority` 1 is the highest; the resolution algorithm reads rules in priority order.
    `blocked_values` are patterns of values that never identify anyone (`identity.blocking`);
    `limit_policy` says which value gives way when a profile would hold more than `limit`.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="identity_rules")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=64)
    limit = models.PositiveSmallIntegerField(default=1)
    priority = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, choices=RuleSource.choices, default=RuleSource.API)
    mapped_traits = models.ManyToManyField("traits.Trait", blank=True, related_name="identity_rules")
    is_default = models.BooleanField(default=False)
    blocked_values = models.JSONField(default=list, blank=True)
    limit_policy = models.CharField(max_length=8, choices=LimitPolicy.choices, default=LimitPolicy.LIFO)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "kind"], name="identity_rule_kind_unique"),
            models.CheckConstraint(condition=models.Q(limit__gte=1, limit__lte=100), name="identity_rule_limit_range"),
        ]

    def __str__(self) -> str:
        return self.name


class Identifier(models.Model):
    """A normalised identifier value held by one profile: (store, kind, value) is unique."""

    # Both covered by composite indexes below (unique (store, kind, value); (profile, kind)).
    # Checked per statement, not per row: on PostgreSQL a trigger checks that every inserted or
    # moved identifier's profile exists in the identifier's store (migration 0006).
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="identifiers", db_index=False, db_constraint=False
    )
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="identifiers", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=64)
    value = models.CharField(max_length=255)
    # A default, not auto_now_add: bulk writers give the time they stand for (an import's or a
    # batch's), which a limit policy of FIFO orders identifiers by.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "kind", "value"], name="identifier_unique_in_store"),
        ]
        indexes = [models.Index(fields=["profile", "kind"], name="identifier_profile")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class MergeRecord(models.Model):
    """One profile merged into another by identity resolution: shown on the profile's history."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="merge_records")
    from_profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="merged_away")
    into_profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="merges_received")
    matching_identifiers = models.JSONField(default=list)
    source = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["into_profile", "-created_at"], name="merge_into_recent")]

    def __str__(self) -> str:
        return f"{self.from_profile_id} -> {self.into_profile_id}"
