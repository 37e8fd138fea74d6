from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from stores.api import api_store
from workspace import services as workspace_services

from . import services
from .models import Trait, TraitGroup
from .selectors import trait_groups_with_traits

router = Router(tags=["Traits"])


class TraitOut(Schema):
    id: int
    name: str
    data_type: str
    description: str
    is_default: bool


class TraitGroupOut(Schema):
    id: int
    name: str
    description: str
    is_default: bool
    traits: list[TraitOut]

    @staticmethod
    def resolve_traits(obj):
        return list(obj.traits.all())


class TraitGroupIn(Schema):
    name: str
    description: str = ""


class TraitIn(Schema):
    name: str
    data_type: str = "string"
    description: str = ""


class Deleted(Schema):
    deleted: bool
    profiles_changed: int


@router.get("/{store_id}/trait-groups", response=list[TraitGroupOut], summary="List trait groups and their traits")
def list_groups(request, store_id: int):
    return list(trait_groups_with_traits(store=api_store(request, store_id)))


@router.post("/{store_id}/trait-groups", response={201: TraitGroupOut}, summary="Add a trait group")
def create_group(request, store_id: int, payload: TraitGroupIn):
    store = api_store(request, store_id)
    group = services.trait_group_create(
        store=store, actor=request.auth, name=payload.name, description=payload.description
    )
    return Status(201, group)


@router.delete("/{store_id}/trait-groups/{group_id}", response=Deleted, summary="Delete a trait group and its values")
def delete_group(request, store_id: int, group_id: int):
    group = get_object_or_404(TraitGroup, pk=group_id, store=api_store(request, store_id))
    return {"deleted": True, "profiles_changed": workspace_services.trait_group_delete(group=group, actor=request.auth)}


@router.post(
    "/{store_id}/trait-groups/{group_id}/traits",
    response={201: TraitOut},
    summary="Add a trait to a group (its group is permanent)",
)
def create_trait(request, store_id: int, group_id: int, payload: TraitIn):
    group = get_object_or_404(TraitGroup, pk=group_id, store=api_store(request, store_id))
    trait = services.trait_create(
        group=group, actor=request.auth, name=payload.name, data_type=payload.data_type, description=payload.description
    )
    return Status(201, trait)


@router.delete("/{store_id}/traits/{trait_id}", response=Deleted, summary="Delete a trait and its values")
def delete_trait(request, store_id: int, trait_id: int):
    trait = get_object_or_404(Trait.objects.select_related("group"), pk=trait_id, store=api_store(request, store_id))
    return {"deleted": True, "profiles_changed": workspace_services.trait_delete(trait=trait, actor=request.auth)}
