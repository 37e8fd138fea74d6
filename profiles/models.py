from django.db import models

from memory_console.jsonvalues import ExactJSONDecoder, ExactJSONEncoder
from stores.models import Store


class Profile(models.Model):
    """One customer in one memory store.

    Trait values live in one JSON column, ``{"<group>": {"<trait>": value}}`` (JSONB with a GIN
    index on PostgreSQL): see docs/ARCHITECTURE.md for why. ``trait_sources`` mirrors its shape
    with ``[changed_at_iso, source]`` for every value, the most common one stored once
    (``profiles.stamps``), written by the same service.
    """

    # Indexed by profile_store_recent (store, -id) and, for tombstones only, profile_merged_into:
    # every index is paid for on each of the millions of rows an import writes.
    # No row-by-row foreign key constraint on PostgreSQL: statement-level triggers check the whole
    # batch at once (identity migration 0006, docs/ARCHITECTURE.md "Referential integrity").
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="profiles", db_index=False, db_constraint=False
    )
    # Numbers exactly as written (123456789012345678.5 stays so): Decimals are written with every
    # digit and read back as Decimals (memory_console.jsonvalues), on PostgreSQL and SQLite alike.
    traits = models.JSONField(default=dict, blank=True, encoder=ExactJSONEncoder, decoder=ExactJSONDecoder)
    trait_sources = models.JSONField(default=dict, blank=True)
    # Set when identity resolution merged this profile into another: it stays as a tombstone
    # so its id still resolves (to the live profile it points to).
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="tombstones", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["store", "-id"], name="profile_store_recent"),
            models.Index(
                fields=["merged_into"], name="profile_merged_into", condition=models.Q(merged_into__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        contact = self.traits.get("Contact") or {}
        name = " ".join(
            str(contact.get(key)) for key in ("firstName", "lastName") if contact.get(key) not in (None, "")
        )
        return name or f"Profile {self.pk}"


class Event(models.Model):
    """Something the customer did, e.g. ``order_placed`` with its properties."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="events")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=128)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True, encoder=ExactJSONEncoder, decoder=ExactJSONDecoder)
    source = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["profile", "-timestamp"], name="event_profile_timeline")]

    def __str__(self) -> str:
        return f"{self.name} at {self.timestamp:%Y-%m-%d %H:%M}"
