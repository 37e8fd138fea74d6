"""Read paths across apps: a store's Overview counts and its onboarding checklist."""

from dataclasses import dataclass

from django.urls import reverse

from conversations.models import ConversationConfiguration
from identity.models import IdentityRule
from imports.models import ImportStatus, ProfileImport
from profiles.models import Profile
from stores.models import Store
from traits.models import Trait


@dataclass(frozen=True)
class ChecklistStep:
    title: str
    description: str
    done: bool
    url: str
    action: str


def store_counts(*, store: Store) -> dict[str, int]:
    return {
        "profiles": Profile.objects.filter(store=store, merged_into__isnull=True).count(),
        "traits": Trait.objects.filter(store=store).count(),
        "identity_rules": IdentityRule.objects.filter(store=store).count(),
        "conversation_configurations": ConversationConfiguration.objects.filter(store=store).count(),
        "imports": ProfileImport.objects.filter(store=store).count(),
    }


def store_onboarding(*, store: Store) -> list[ChecklistStep]:
    """The onboarding checklist, each step judged from the store's real data."""
    configured = (
        Trait.objects.filter(store=store, is_default=False).exists()
        or IdentityRule.objects.filter(store=store, is_default=False).exists()
    )
    return [
        ChecklistStep(
            title="Set up conversations",
            description="Create a conversation configuration so conversations create and update profiles.",
            done=ConversationConfiguration.objects.filter(store=store).exists(),
            url=reverse("conversations:list", args=[store.pk]),
            action="Set up conversations",
        ),
        ChecklistStep(
            title="Configure traits and identifiers",
            description="Add the traits and identity rules your business needs beyond the defaults.",
            done=configured,
            url=reverse("traits:list", args=[store.pk]),
            action="Configure traits and identifiers",
        ),
        ChecklistStep(
            title="Add profiles (CSV)",
            description="Upload a CSV of customers and map its columns to identifiers and traits.",
            done=ProfileImport.objects.filter(store=store, status=ImportStatus.COMPLETED).exists(),
            url=reverse("imports:list", args=[store.pk]),
            action="Add profiles",
        ),
    ]
