"""Write paths that reach across apps, so they stand above all of them.

- A new store gets the default traits (`traits`) and identity rules (`identity`).
- Deleting a store deletes the rows of every app that belong to it, then its uploaded files
  (`imports`).
- Deleting a trait or a trait group removes its values from every profile (`profiles`).
- Deleting a profile (right to erasure) removes what every app holds about it and answers a receipt
  (`profile_erase`).

Each calls the owning apps' services explicitly, in one transaction; no signals.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.services import audit_record
from conversations.models import (
    CallbackDelivery,
    CaptureRule,
    Communication,
    Conversation,
    ConversationConfiguration,
    ExtractionDecision,
    ExtractionRequest,
    LifecycleEvent,
    Observation,
    ObservationRevision,
    Summary,
)
from identity.models import Identifier, IdentityRule, MergeRecord
from identity.services import identity_rules_defaults_create
from imports.models import ImportRowError, ImportUndo, ProfileImport
from imports.services import import_store_files_delete
from profiles.models import Event, Profile
from profiles.services import profile_traits_remove
from stores.config import store_config_bump
from stores.models import Store
from stores.services import store_create_empty
from traits.models import Trait, TraitGroup
from traits.services import trait_defaults_create


@transaction.atomic
def store_create(*, account: Account, actor, name: str | None = None, description: str = "") -> Store:
    """Create a store with the default Contact traits and identity rules; without a name, generate a
    readable one unique in the account."""
    store = store_create_empty(account=account, name=name, description=description)
    trait_defaults_create(store=store)
    identity_rules_defaults_create(store=store)
    audit_record(
        account=store.account,
        actor=actor,
        action="store.create",
        summary=f"Created memory store {store.name}",
        store_id=store.pk,
    )
    return store


@transaction.atomic
def store_delete(*, store: Store, actor, confirm_name: str) -> None:
    """Delete a store and everything in it. The typed name must match exactly."""
    if (confirm_name or "").strip() != store.name:
        raise ValidationError({"confirm_name": f"Type the store name “{store.name}” exactly to delete it."})
    account, name, pk = store.account, store.name, store.pk
    # First, as the triggers guarding profile and identifier references expect (identity migration
    # 0006): writers in this store wait for the delete, or the delete waits for them.
    Store.objects.select_for_update().filter(pk=pk).first()
    _delete_store_rows(store)
    store.delete()
    import_store_files_delete(store_id=pk)  # uploaded CSV files, once the delete is committed
    audit_record(
        account=account,
        actor=actor,
        action="store.delete",
        summary=f"Deleted memory store {name} and everything in it",
        store_id=pk,
    )


def store_scoped_models():
    """Every model with a `store` foreign key, children before parents (delete order)."""
    return [
        CallbackDelivery,
        ExtractionDecision,
        ObservationRevision,
        Observation,
        Summary,
        ExtractionRequest,
        LifecycleEvent,
        Communication,
        Conversation,
        ImportRowError,
        MergeRecord,
        Event,
        Identifier,
        Profile,
        IdentityRule,
        Trait,
        TraitGroup,
        CaptureRule,
        ConversationConfiguration,
        ProfileImport,
    ]


def _delete_store_rows(store: Store) -> None:
    """One DELETE per table instead of Django's collector, which would load every profile.

    tests/test_stores.py checks that this list covers every model with a `store` foreign key.
    """
    with connection.cursor() as cursor:
        # An import's undo journal (SQLite) has no store column: it goes with its imports.
        cursor.execute(
            f"DELETE FROM {ImportUndo._meta.db_table} WHERE profile_import_id IN "
            f"(SELECT id FROM {ProfileImport._meta.db_table} WHERE store_id = %s)",
            [store.pk],
        )
        for model in store_scoped_models():
            for m2m in model._meta.many_to_many:  # e.g. a rule's mapped traits
                through = m2m.remote_field.through._meta
                column = m2m.m2m_column_name()
                cursor.execute(
                    f"DELETE FROM {through.db_table} WHERE {column} IN "
                    f"(SELECT id FROM {model._meta.db_table} WHERE store_id = %s)",
                    [store.pk],
                )
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE store_id = %s", [store.pk])


@dataclass(frozen=True)
class DeletionReceipt:
    """What a profile deletion removed: no personal data (no identifier or trait value, no name).

    ``profile_id``: the live profile deleted (its merged-away ids went with it); ``store_id``;
    ``deleted_at``: when (UTC); ``counts``: rows removed (or, for ``conversations_unlinked``,
    conversations kept without the profile) per kind, every kind of `RECEIPT_KINDS` present.
    """

    profile_id: int
    store_id: int
    deleted_at: datetime
    counts: dict[str, int]

    def as_dict(self) -> dict:
        return {
            "profile_id": self.profile_id,
            "store_id": self.store_id,
            "deleted_at": self.deleted_at.isoformat(),
            "counts": dict(self.counts),
        }


RECEIPT_KINDS = (
    "profiles",  # the profile and its merged-away tombstones
    "merged_away_profiles",  # of which tombstones
    "trait_values",
    "identifiers",
    "events",
    "merge_records",
    "observations",
    "observation_revisions",
    "extraction_decisions",
    "summaries",
    "evidence_links",
    "conversations_unlinked",
)


@transaction.atomic
def profile_erase(*, profile: Profile, actor) -> DeletionReceipt:
    """Delete a live profile and everything about it (right to erasure), in one transaction.

    Removed: the profile and every profile merged into it (tombstones, however chained), their
    trait values, identifiers, events, the merge records between them, their observations (with
    revisions, the extraction decisions that produced them, and evidence links) and summaries (with
    evidence links). Their conversations stay, without the profile (`Conversation.profile` emptied).
    Other profiles are untouched. Recorded in the Activity trail as ``profile.delete`` with the
    receipt (ids and counts only: no value the profile held). Raises ValueError for a tombstone
    (resolve it to its live profile first).
    """
    if profile.merged_into_id:
        raise ValueError("A merged-away profile is erased through the profile it was merged into.")
    store = profile.store
    # As store_delete: lock the store first, as the profile delete trigger does (identity migration
    # 0006), so a writer in this store waits for the erasure, or the erasure for it.
    Store.objects.select_for_update().filter(pk=store.pk).first()
    ids = {profile.pk}
    frontier = [profile.pk]
    while frontier:
        frontier = list(
            Profile.objects.filter(store=store, merged_into_id__in=frontier)
            .exclude(pk__in=ids)
            .values_list("pk", flat=True)
        )
        ids.update(frontier)
    trait_values = sum(len(group) for group in (profile.traits or {}).values() if isinstance(group, dict))
    observations = Observation.objects.filter(store=store, profile_id__in=ids)
    observation_ids = list(observations.values_list("pk", flat=True))
    counts = dict.fromkeys(RECEIPT_KINDS, 0)
    counts["profiles"] = len(ids)
    counts["merged_away_profiles"] = len(ids) - 1
    counts["trait_values"] = trait_values
    counts["extraction_decisions"] = _deleted(
        ExtractionDecision.objects.filter(store=store, observation_id__in=observation_ids)
    )
    for label, n in _delete_counted(observations).items():
        counts[_KIND_OF[label]] += n
    for label, n in _delete_counted(Summary.objects.filter(store=store, profile_id__in=ids)).items():
        counts[_KIND_OF[label]] += n
    counts["conversations_unlinked"] = Conversation.objects.filter(store=store, profile_id__in=ids).update(profile=None)
    counts["merge_records"] = _deleted(
        MergeRecord.objects.filter(store=store, from_profile_id__in=ids)
        | MergeRecord.objects.filter(store=store, into_profile_id__in=ids)
    )
    counts["events"] = _deleted(Event.objects.filter(store=store, profile_id__in=ids))
    counts["identifiers"] = _deleted(Identifier.objects.filter(store=store, profile_id__in=ids))
    # Children first, so no row is left pointing at a deleted one.
    Profile.objects.filter(pk__in=ids).update(merged_into=None)
    Profile.objects.filter(pk__in=ids).delete()
    receipt = DeletionReceipt(profile_id=profile.pk, store_id=store.pk, deleted_at=timezone.now(), counts=counts)
    audit_record(
        account=store.account,
        actor=actor,
        action="profile.delete",
        summary=f"Deleted profile #{profile.pk} and everything about it (right to erasure)",
        store_id=store.pk,
        details=receipt.as_dict(),
    )
    return receipt


_KIND_OF = {
    Observation._meta.label: "observations",
    ObservationRevision._meta.label: "observation_revisions",
    Summary._meta.label: "summaries",
    Observation.evidence.through._meta.label: "evidence_links",
    ObservationRevision.evidence.through._meta.label: "evidence_links",
    Summary.evidence.through._meta.label: "evidence_links",
}


def _delete_counted(queryset) -> dict[str, int]:
    """Django's delete (it follows the cascades: revisions, evidence links): rows per model label."""
    return queryset.delete()[1]


def _deleted(queryset) -> int:
    return queryset.delete()[0]


@transaction.atomic
def trait_group_delete(*, group: TraitGroup, actor) -> int:
    """Delete a group, its traits, and their values on every profile. Returns profiles changed."""
    if group.is_default:
        raise ValidationError(f"The default trait group {group.name} cannot be deleted.")
    return _traits_delete(
        store=group.store,
        actor=actor,
        row=group,
        group=group.name,
        trait=None,
        action="trait_group.delete",
        what=f"trait group {group.name}",
    )


@transaction.atomic
def trait_delete(*, trait: Trait, actor) -> int:
    """Delete a trait and its value on every profile. Returns profiles changed."""
    if trait.is_default:
        raise ValidationError(f"{trait.path} is a default trait and cannot be deleted.")
    return _traits_delete(
        store=trait.group.store,
        actor=actor,
        row=trait,
        group=trait.group.name,
        trait=trait.name,
        action="trait.delete",
        what=f"trait {trait.path}",
    )


def _traits_delete(*, store, actor, row, group: str, trait: str | None, action: str, what: str) -> int:
    """Remove the values from every profile, delete the group or trait row, and record it."""
    changed = profile_traits_remove(store=store, group=group, trait=trait)
    row.delete()
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action=action,
        summary=f"Deleted {what} and its values on {changed} profile(s)",
        store_id=store.pk,
        details={"profiles_changed": changed},
    )
    return changed
