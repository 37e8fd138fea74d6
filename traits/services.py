"""Write paths for trait groups and traits.

Deleting a group or a trait also removes its values from every profile, an app above this one: those
deletes are `workspace.services.trait_group_delete` and `trait_delete`.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.services import audit_record
from memory_console.text import TextError, description_clean, text_nfc
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
