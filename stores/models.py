from django.db import models
from django.db.models.functions import Lower

from accounts.models import Account


class Store(models.Model):
    """A memory store: an isolated container of profiles and their configuration."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="stores")
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True, max_length=1000)
    # ISO 3166 region for phone numbers written without a country code (e.g. "US", "GB").
    default_region = models.CharField(max_length=2, default="US")
    # Bumped whenever traits or identity rules change; hot paths cache their configuration by it.
    config_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "account", name="store_name_unique_in_account"),
        ]

    def __str__(self) -> str:
        return self.name
