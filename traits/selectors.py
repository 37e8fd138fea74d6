from django.db.models import Prefetch

from memory_console.text import text_nfc
from stores.models import Store

from .models import Trait, TraitGroup


def trait_groups_with_traits(*, store: Store):
    return TraitGroup.objects.filter(store=store).prefetch_related(
        Prefetch("traits", queryset=Trait.objects.order_by("id"))
    )


def trait_schema(*, store: Store) -> dict[str, dict[str, Trait]]:
    """{group name: {trait name: Trait}} for validating and typing values."""
    schema: dict[str, dict[str, Trait]] = {}
    for trait in Trait.objects.filter(store=store).select_related("group").order_by("group_id", "id"):
        schema.setdefault(trait.group.name, {})[trait.name] = trait
    return schema


def name_key(name):
    """A group or trait name as a caller gave it, in the form names are stored (NFC), for looking it
    up: ``"Jose\u0301"`` finds the group stored as ``"José"``. Every lookup of a group or trait by
    name goes through this (trait values of the API and console, identity rules' mapped traits, the
    console search); a non-string is returned as it is (and then finds nothing)."""
    return text_nfc(name) if isinstance(name, str) else name


def trait_by_path(schema: dict[str, dict[str, Trait]], path: str) -> Trait | None:
    """The trait named by ``"Group.trait"`` in `schema` (`trait_schema`), the names read in NFC
    (`name_key`), or None. Group names may hold dots: every split is tried."""
    path = name_key(path)
    if not isinstance(path, str):
        return None
    for position, char in enumerate(path):
        if char == ".":
            trait = schema.get(path[:position], {}).get(path[position + 1 :])
            if trait is not None:
                return trait
    return None


def trait_group_get(*, store: Store, group_id: int) -> TraitGroup | None:
    return TraitGroup.objects.filter(store=store, pk=group_id).first()


def trait_get(*, store: Store, trait_id: int) -> Trait | None:
    return Trait.objects.select_related("group").filter(store=store, pk=trait_id).first()
