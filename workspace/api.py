"""The API's store routes: list, create (with the default traits and rules), get."""

from datetime import datetime

from ninja import Router, Schema, Status

from stores.api import api_store
from stores.selectors import store_list

from .services import store_create

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
