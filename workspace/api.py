"""The API's store routes: list, create (with the default traits and rules), get, edit, delete."""

from datetime import datetime

from ninja import Field, Query, Router, Schema, Status
from ninja.errors import ValidationError as NinjaValidationError

from stores.api import api_store
from stores.selectors import store_list
from stores.services import store_update

from .services import store_create, store_delete

router = Router(tags=["Memory stores"])


class StoreOut(Schema):
    id: int
    name: str
    description: str
    default_region: str
    created_at: datetime


class StoreIn(Schema):
    name: str | None = None
    description: str = ""


@router.get("", response=list[StoreOut], summary="List the account's memory stores")
def list_stores(request):
    return list(store_list(account_id=request.auth.account_id))


@router.post("", response={201: StoreOut}, summary="Create a memory store (with the default traits and rules)")
def create_store(request, payload: StoreIn):
    store = store_create(
        account=request.auth.account, actor=request.auth, name=payload.name, description=payload.description
    )
    return Status(201, store)


@router.get("/{store_id}", response=StoreOut, summary="Get one memory store")
def get_store(request, store_id: int):
    return api_store(request, store_id)


class StorePatchIn(Schema):
    name: str | None = Field(None, description="The new name, unique in the account (omit to keep it)")
    description: str | None = Field(None, description='The new description ("" empties it; omit to keep it)')
    default_region: str | None = Field(
        None,
        description="The region phone numbers without a country code are read in: an ISO 3166 code "
        "phone numbers know, e.g. GB (omit to keep it)",
    )


@router.patch("/{store_id}", response=StoreOut, summary="Edit a memory store's name, description or phone region")
def update_store(request, store_id: int, payload: StorePatchIn):
    """The console's settings form, through the API: the same rules (`stores.services.store_update`).
    A field omitted (or null) keeps its value. A name taken in the account, a name or description
    the text rules refuse, or an unknown region answers 422 naming the field (`["body", "name"]`).
    Recorded on the Activity page with the values changed."""
    store = api_store(request, store_id)
    return store_update(
        store=store,
        actor=request.auth,
        name=store.name if payload.name is None else payload.name,
        description=store.description if payload.description is None else payload.description,
        default_region=payload.default_region,
    )


@router.delete("/{store_id}", response={204: None}, summary="Delete a memory store and everything in it")
def delete_store(
    request,
    store_id: int,
    confirm_name: str | None = Query(
        None,
        description="Required: the store's name, exactly, as the console's delete asks (a script cannot delete "
        "a store by a wrong id)",
    ),
):
    """Delete the store and everything in it (`workspace.services.store_delete`, as the console's
    Delete): profiles with their identifiers, traits, events, merges, observations and summaries;
    traits, identity rules, conversations, imports and their files. `confirm_name` must be the
    store's name exactly (checked after the tenant wall, so another account's store answers 404), or
    422 at `["query", "confirm_name"]` and nothing is deleted. Answers 204;
    recorded on the Activity page."""
    store = api_store(request, store_id)
    if (confirm_name or "").strip() != store.name:
        raise NinjaValidationError(
            [{"loc": ["query", "confirm_name"], "msg": "confirm_name must be the memory store's name, exactly."}]
        )
    store_delete(store=store, actor=request.auth, confirm_name=confirm_name)
    return Status(204, None)
