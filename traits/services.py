"""Write paths for trait groups and traits."""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.services import audit_record
from memory_console.text import TextError, description_clean, text_nfc
from profiles.services import profile_traits_remove
from stores.config import store_config_bump
from stores.models import Store

from .charset import name_problem
from .defaults import DEFAULT_GROUP, DEFAULT_GROUP_DESCRIPTION, DEFAULT_TRAITS
from .models import DataType, Trait, TraitGroup

NAME_MAX = 64
DESCRIPTION_MAX = Trait._meta.get_field("description").max_length


def _clean_description(description: str) -> str:
    try:
        return description_clean(description, max_length=DESCRIPTION_MAX)
    except TextError as exc:
        raise ValidationError({"description": f"The description {exc.reason}."}) from None


def _clean_name(name: str, *, what: str, field: str = "name") -> str:
    name = text_nfc(name or "")
    problem = name_problem(name)
    if problem:
        raise ValidationError({field: f"The {what} name {problem}."})
    if len(name) > NAME_MAX:
        raise ValidationError({field: f"The {what} name can have at most {NAME_MAX} characters."})
    return name


def trait_defaults_create(*, store: Store) -> TraitGroup:
    """The default Contact group and its traits, created with every store."""
    group = TraitGroup.objects.create(
        store=store, name=DEFAULT_GROUP, description=DEFAULT_GROUP_DESCRIPTION, is_default=True
    )
    Trait.objects.bulk_create(
        Trait(store=store, group=group, name=name, data_type=data_type, description=description, is_default=True)
        for name, data_type, description in DEFAULT_TRAITS
    )
    return group


@transaction.atomic
def trait_group_create(*, store: Store, actor, name: str, description: str = "") -> TraitGroup:
    name = _clean_name(name, what="trait group")
    if TraitGroup.objects.filter(store=store, name__iexact=name).exists():
        raise ValidationError({"name": f"A trait group named “{name}” already exists in this memory store."})
    group = TraitGroup.objects.create(store=store, name=name, description=_clean_description(description))
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="trait_group.create",
        summary=f"Added trait group {name}",
        store_id=store.pk,
    )
    return group


@transaction.atomic
def trait_group_delete(*, group: TraitGroup, actor) -> int:
    """Delete a group, its traits, and their values on every profile. Returns profiles changed."""
    if group.is_default:
        raise ValidationError(f"The default trait group {group.name} cannot be deleted.")
    store = group.store
    changed = profile_traits_remove(store=store, group=group.name)
    name = group.name
    group.delete()
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="trait_group.delete",
        summary=f"Deleted trait group {name} and its values on {changed} profile(s)",
        store_id=store.pk,
        details={"profiles_changed": changed},
    )
    return changed


@transaction.atomic
def trait_create(*, group: TraitGroup, actor, name: str, data_type: str, description: str = "") -> Trait:
    name = _clean_name(name, what="trait")
    if data_type not in DataType.values:
        raise ValidationError({"data_type": "Choose string, number, boolean or array."})
    if Trait.objects.filter(group=group, name__iexact=name).exists():
        raise ValidationError({"name": f"The trait group {group.name} already has a trait named “{name}”."})
    trait = Trait.objects.create(
        store_id=group.store_id,
        group=group,
        name=name,
        data_type=data_type,
        description=_clean_description(description),
    )
    store_config_bump(store_id=group.store_id)
    audit_record(
        account=group.store.account,
        actor=actor,
        action="trait.create",
        summary=f"Added trait {group.name}.{name} ({data_type})",
        store_id=group.store_id,
    )
    return trait


@transaction.atomic
def trait_update(*, trait: Trait, actor, description: str, group: TraitGroup | None = None) -> Trait:
    """Edit a trait's description. Its group is permanent: asking to move it is refused."""
    if group is not None and group.pk != trait.group_id:
        raise ValidationError(
            {"group": "A trait's group is permanent: delete the trait and add it to the other group instead."}
        )
    trait.description = _clean_description(description)
    trait.save(update_fields=["description"])
    audit_record(
        account=trait.group.store.account,
        actor=actor,
        action="trait.update",
        summary=f"Edited trait {trait.path}",
        store_id=trait.store_id,
    )
    return trait


@transaction.atomic
def trait_delete(*, trait: Trait, actor) -> int:
    """Delete a trait and its value on every profile. Returns profiles changed."""
    if trait.is_default:
        raise ValidationError(f"{trait.path} is a default trait and cannot be deleted.")
    store = trait.group.store
    changed = profile_traits_remove(store=store, group=trait.group.name, trait=trait.name)
    path = trait.path
    trait.delete()
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="trait.delete",
        summary=f"Deleted trait {path} and its values on {changed} profile(s)",
        store_id=store.pk,
        details={"profiles_changed": changed},
    )
    return changed
