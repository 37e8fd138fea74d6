"""The JSON API root (django-ninja): authentication, error shapes, and each app's router.

Every endpoint authenticates with ``Authorization: Bearer <API key>``; a key sees only its
account's stores (any other store id answers 404). Invalid input answers 422 with
``{"detail": [{"loc": [...], "msg": "..."}]}``, the shape ninja uses for schema errors.
"""

from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema
from ninja.security import HttpBearer

from accounts.services import api_key_authenticate
from memory_console.busy import busy_api_response, is_database_busy
from memory_console.errors import error_items
from memory_console.openapi import openapi_add_error_responses


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token):
        key = api_key_authenticate(token)
        if key is not None:
            request.api_key = key
        return key


api = NinjaAPI(
    title="Memory Console API",
    version="1",
    description="Script everything the console does. Authenticate with `Authorization: Bearer <API key>` "
    "(create keys under Account > API keys). OpenAPI at /api/v1/openapi.json.",
    urls_namespace="api",
    auth=ApiKeyAuth(),
)


@api.exception_handler(OperationalError)
def database_busy(request, exc):
    if is_database_busy(exc):
        return busy_api_response()
    raise exc


@api.exception_handler(ValidationError)
def validation_error(request, exc):
    return api.create_response(request, {"detail": [_body(i) for i in error_items(exc)]}, status=422)


@api.exception_handler(MultiPartParserError)
def unreadable_form(request, exc):
    """A multipart body Django cannot parse (no or an empty boundary, a cut-off part): 422, not a
    server error (found by the schemathesis run, tests/test_api_contract.py)."""
    msg = f"The multipart form body cannot be read ({exc})."
    return api.create_response(request, {"detail": [{"loc": ["body"], "msg": msg}]}, status=422)


def _body(item):
    return {"loc": ["body", *item["loc"]], "msg": item["msg"]}


class Health(Schema):
    status: str


@api.get("/health", response=Health, auth=None, summary="Liveness check")
def health(request):
    return {"status": "ok"}


def _mount():
    from identity.api import router as identity_router
    from imports.api import router as imports_router
    from profiles.api import router as profiles_router
    from stores.api import router as stores_router
    from traits.api import router as traits_router

    api.add_router("/stores", stores_router)
    api.add_router("/stores", profiles_router)
    api.add_router("/stores", identity_router)
    api.add_router("/stores", traits_router)
    api.add_router("/stores", imports_router)


_mount()


def _openapi_schema(*, _build=api.get_openapi_schema, **kwargs):
    """ninja's document plus every error status each route can answer (memory_console.openapi)."""
    return openapi_add_error_responses(_build(**kwargs))


api.get_openapi_schema = _openapi_schema
