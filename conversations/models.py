from django.db import models

from stores.models import Store

from .lifecycle import Channel, Grouping, Lifecycle


class ConversationConfiguration(models.Model):
    """How a store captures conversations: lifecycle, timeout, grouping, observations, and (as
    `CaptureRule`s) the business addresses whose traffic it takes. Written by
    `conversations.services`; the rules are in `conversations.lifecycle` and `.capture`."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversation_configurations")
    name = models.CharField(max_length=64)  # at most 32 characters (the seed's friendly name), checked on save
    description = models.CharField(max_length=500, blank=True)
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.BASIC)
    inactivity_minutes = models.PositiveIntegerField(null=True, blank=True)  # Open -> Inactive (INACTIVE only)
    timeout_minutes = models.PositiveIntegerField(null=True, blank=True)  # None: the channels' defaults
    grouping = models.CharField(max_length=24, choices=Grouping.choices, default=Grouping.ADDRESSES_CHANNEL)
    observations_enabled = models.BooleanField(default=False)  # off by default, as in the product
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class CaptureRule(models.Model):
    """One channel and address pattern a configuration captures (`conversations.capture`). A pattern
    belongs to at most one configuration of a store."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    configuration = models.ForeignKey(ConversationConfiguration, on_delete=models.CASCADE, related_name="captures")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    pattern = models.CharField(max_length=255)

    class Meta:
        ordering = ["channel", "pattern"]
        constraints = [
            models.UniqueConstraint(fields=["store", "channel", "pattern"], name="capture_once_per_store"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.pattern}"
