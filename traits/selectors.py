from django.db.models import Prefetch

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


def trait_group_get(*, store: Store, group_id: int) -> TraitGroup | None:
    return TraitGroup.objects.filter(store=store, pk=group_id).first()


def trait_get(*, store: Store, trait_id: int) -> Trait | None:
    return Trait.objects.select_related("group").filter(store=store, pk=trait_id).first()
