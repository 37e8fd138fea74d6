from django.conf import settings
from django.db import models


class Account(models.Model):
    """A tenant. Every user belongs to exactly one account through a Membership."""

    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMINISTRATOR = "admin", "Administrator"
    SUPPORT = "support", "Support"


class Membership(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SUPPORT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["account", "role"])]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()} of {self.account})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMINISTRATOR


class AuditEvent(models.Model):
    """Who changed what, when. Written by services only, shown on the Activity page."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_events")
    # Not a foreign key: the trail outlives deleted stores and users.
    store_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when the change came through the JSON API: the key that made it. The label above keeps the
    # key's name ("API key “CRM sync”") whatever happens to the key later (keys are revoked, not deleted).
    api_key = models.ForeignKey("ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label}: {self.summary}"


class ApiKeyScope(models.TextChoices):
    """What an API key may do, chosen when it is created (it never changes: create another key)."""

    FULL = "full", "Full access"
    READ_ONLY = "read_only", "Read-only"


class ApiKey(models.Model):
    """A secret for the JSON API. Only its SHA-256 is stored; the key is shown once, at creation.

    ``scope``: ``full`` may call every route; ``read_only`` is refused (403) on every route that
    changes data (memory_console.openapi.operation_writes decides which those are).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices, default=ApiKeyScope.FULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.audit_label

    @property
    def is_read_only(self) -> bool:
        return self.scope == ApiKeyScope.READ_ONLY

    @property
    def audit_label(self) -> str:
        """How the key is named as an actor: in the audit trail, on imports it uploaded."""
        return f"API key “{self.name}”"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
