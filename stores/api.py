"""The API's tenant wall for store routes. The routes of the stores themselves (list, create, get)
are in `workspace.api`: creating a store adds the default traits and identity rules."""

from django.shortcuts import get_object_or_404

from .models import Store


def api_store(request, store_id: int) -> Store:
    """The store if it belongs to the API key's account; 404 otherwise (the tenant wall)."""
    return get_object_or_404(Store, pk=store_id, account_id=request.auth.account_id)
