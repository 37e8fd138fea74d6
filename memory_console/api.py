"""The JSON API root (django-ninja): authentication, body parsing, error shapes, and each app's router.

Every endpoint authenticates with ``Authorization: Bearer <API key>``; a key sees only its
account's stores (any other store id answers 404). A read-only key is refused with **403**
``{"detail": "..."}`` on every route that writes (`memory_console.openapi.operation_writes`: every
POST, PUT, PATCH and DELETE but the POSTs that only read, such as recall), before its input is read.
Everything a client sends is treated as hostile; every answer, errors included, is JSON:

- **422** ``{"detail": [{"loc": [...], "msg": "..."}]}`` (ninja's shape for schema errors) for
  invalid input. ``loc`` starts with where the value was: ``"body"`` (then the path inside the JSON
  body), ``"query"`` (then the parameter name) or ``"form"``. A body must be one JSON object (not
  ``1.5``, ``[]`` or ``null``) of valid UTF-8 JSON nested at most `MAX_DEPTH` (64) levels (the
  limit `memory_console.jsonvalues.loads` applies to array values too). Before any service runs,
  `ExactJSONParser` refuses a string (or key) holding NUL or a lone surrogate (``"\\ud800"``) and
  a non-finite number (``NaN``, ``Infinity``, ``1e400``), naming the path of each one (up to 1,000:
  a batch's answer names every bad item, ``["body", "items", 3, "body"]``), and a query or form
  value holding NUL.
- **413** ``{"detail": "..."}`` for a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, naming the limit
  (and for a form with more fields or files than Django reads).
- **500** ``{"detail": "Internal server error"}`` for anything unexpected; the traceback is logged
  (logger ``memory_console.api``), never sent.

Bodies are decoded by `memory_console.jsonvalues.loads`, so numbers arrive exact:
``123456789012345678.5`` reaches the services as a `Decimal` (through ``Any`` fields unchanged).
"""

import logging
import sys
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValidationError
from django.db import OperationalError, connection
from django.http.multipartparser import MultiPartParserError
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from accounts.services import api_key_authenticate
from conversations.api import communications_router
from conversations.api import router as conversations_router
from identity.api import router as identity_router
from imports.api import router as imports_router
from memory_console.api_docs import LocalSwagger
from memory_console.busy import busy_api_response, is_database_busy
from memory_console.errors import error_items
from memory_console.jsonvalues import MAX_DEPTH, JSONTooDeep, json_problem, json_problems, loads
from memory_console.openapi import openapi_add_error_responses, operation_writes
from memory_console.renderers import ExactJSONRenderer
from memory_console.text import describe_char, never_storable
from profiles.api import router as profiles_router
from traits.api import router as traits_router
from workspace.api import router as stores_router

logger = logging.getLogger("memory_console.api")

INTERNAL_ERROR = "Internal server error"


class BodyRefused(Exception):
    """A request body refused before any schema or service sees it: answered 422 at `loc`, and at
    each (loc, msg) of `more` (every other bad value of the body, e.g. of a batch's other items)."""

    def __init__(self, loc: tuple, msg: str, more: tuple = ()):
        self.loc, self.msg = tuple(loc), msg
        self.problems = [(self.loc, msg), *((tuple(where), text) for where, text in more)]
        super().__init__(msg)


class ExactJSONParser(Parser):
    """Bodies decoded with exact numbers, and the hostile values every path must refuse, refused.

    `parse_body` answers a dict or raises `BodyRefused` (ninja wraps it in a 400 `HttpError`,
    which `http_error` below turns into the 422). `parse_querydict` raises ninja's ValidationError
    (422, ``loc: ["query", name]``, or ``"form"``) for a query or form value holding NUL (Django
    turns undecodable bytes, the only way to a lone surrogate there, into U+FFFD, and drops
    unprintable characters from uploaded file names).
    """

    def parse_body(self, request) -> dict:
        try:
            data = loads(request.body)
        except UnicodeDecodeError:
            raise BodyRefused(("body",), "The request body is not UTF-8 text.") from None
        except JSONTooDeep:  # loads checks the depth, however deep, for bodies and array values alike
            raise BodyRefused(("body",), TOO_DEEP) from None
        except ValueError as exc:
            if "integer string conversion" in str(exc):  # Python reads integers of at most 4,300 digits
                limit = f"The request body holds an integer of more than {sys.get_int_max_str_digits():,} digits."
                raise BodyRefused(("body",), limit) from None
            raise BodyRefused(("body",), f"The request body is not valid JSON ({exc}).") from None
        if not isinstance(data, dict):
            raise BodyRefused(("body",), f"The request body must be a JSON object, not {_json_type(data)}.")
        if json_problem(data):  # the fast check; then every bad value, so a batch's answer names each item
            (loc, reason), *more = json_problems(data)
            raise BodyRefused(
                ("body", *loc), f"The value {reason}.", tuple((("body", *w), f"The value {r}.") for w, r in more)
            )
        return data

    def parse_querydict(self, data, list_fields, request) -> dict:
        where = "query" if data is request.GET else "form"
        for key, values in data.lists():
            for value in [key, *values]:
                if isinstance(value, str) and never_storable(value):
                    found = ", ".join(describe_char(c) for c in never_storable(value))
                    raise NinjaValidationError([{"loc": [where, key], "msg": f"The value contains {found}."}])
        return super().parse_querydict(data, list_fields, request)


TOO_DEEP = f"The request body nests objects and arrays more than {MAX_DEPTH} levels deep."


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "a number"


class ApiKeyAuth(HttpBearer):
    """The active key of ``Authorization: Bearer <key>`` (else 401); a read-only key on a route
    that writes raises the 403 (`HttpError`, answered by `http_error`)."""

    def authenticate(self, request, token):
        key = api_key_authenticate(token)
        if key is not None:
            # No mark (a route outside the API's routers) counts as a write: refused, never let through.
            if key.is_read_only and getattr(request, WRITES_MARK, True):
                raise HttpError(403, READ_ONLY_REFUSED.format(method=request.method, path=request.path))
            request.api_key = key
        return key


WRITES_MARK = "api_operation_writes"
READ_ONLY_REFUSED = (
    "This API key is read-only: it can read but not change data, so {method} {path} is refused. "
    "Use a key with full access (Account > API keys)."
)


def _mark_writes(run):
    """Applied by ninja to each operation's ``run`` (a bound method) when the routers are bound:
    marks the request with whether the operation writes, for `ApiKeyAuth`, which runs inside."""
    operation = getattr(run, "__self__", None)
    if operation is None:  # another view decorator wrapped it first: this one must come first
        raise TypeError(f"_mark_writes must be the first view decorator of an API operation, not {run!r}.")
    writes = any(operation_writes(method, api.get_openapi_operation_id(operation)) for method in operation.methods)

    def marked(request, *args, **kwargs):
        setattr(request, WRITES_MARK, writes)
        return run(request, *args, **kwargs)

    return marked


api = NinjaAPI(
    title="Memory Console API",
    version="1",
    description="Script everything the console does. Authenticate with `Authorization: Bearer <API key>` "
    "(create keys under Account > API keys). OpenAPI at /api/v1/openapi.json.",
    urls_namespace="api",
    auth=ApiKeyAuth(),
    parser=ExactJSONParser(),
    renderer=ExactJSONRenderer(),
    docs=LocalSwagger(),  # Swagger UI from static/vendor, not a CDN
)
api.add_decorator(_mark_writes, mode="view")  # "view": before authentication and parsing


@api.exception_handler(Exception)
def internal_error(request, exc):
    """Anything unexpected: logged with its traceback, answered as JSON (never Django's HTML page)."""
    logger.error("Internal server error: %s %s", request.method, request.path, exc_info=exc)
    return api.create_response(request, {"detail": INTERNAL_ERROR}, status=500)


@api.exception_handler(HttpError)
def http_error(request, exc):
    if isinstance(exc.__cause__, BodyRefused):
        refused = exc.__cause__
        detail = [{"loc": list(loc), "msg": msg} for loc, msg in refused.problems]
        return api.create_response(request, {"detail": detail}, status=422)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


BODY_PARAMETER = "payload"  # every handler names its JSON body parameter so


@api.exception_handler(NinjaValidationError)
def schema_error(request, exc):
    """ninja's 422, with ``loc`` the path inside the JSON body (``["body", "name"]``), as the
    parser's and the services' errors have it, not ``["body", "payload", "name"]``."""
    detail = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if loc[:2] == ["body", BODY_PARAMETER]:
            loc = ["body", *loc[2:]]
        detail.append({**error, "loc": loc})
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(RequestDataTooBig)
def body_too_big(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return api.create_response(
        request,
        {
            "detail": f"The request body is larger than the limit of {limit:,} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE); send fewer items per request."
        },
        status=413,
    )


@api.exception_handler(TooManyFieldsSent)
@api.exception_handler(TooManyFilesSent)
def too_many_parts(request, exc):
    """A form with more fields or files than Django reads (DATA_UPLOAD_MAX_NUMBER_FIELDS / _FILES)."""
    fields, files = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, settings.DATA_UPLOAD_MAX_NUMBER_FILES
    return api.create_response(
        request, {"detail": f"The request has more than {fields:,} form fields or {files:,} files."}, status=413
    )


@api.exception_handler(OperationalError)
def database_busy(request, exc):
    if is_database_busy(exc):
        return busy_api_response()
    return internal_error(request, exc)


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
    """Liveness: the web process answers (nothing else is asked, so a database outage does not get
    web processes restarted). For a load balancer's or Kubernetes' liveness probe; README,
    "Health checks"."""
    return {"status": "ok"}


class CheckOut(Schema):
    ok: bool
    ms: float = Field(description="Milliseconds the check took.")
    detail: str = Field("", description="Why it failed; empty when ok.")


class Readiness(Schema):
    status: str = Field(description='"ok", or "unavailable" when any check failed (then the answer is 503).')
    checks: dict[str, CheckOut] = Field(description="database, broker, workers.")
    clusters: int = Field(description="qclusters that reported in the last 3 seconds.")
    workers: int = Field(description="Their worker processes.")


def _database_check() -> CheckOut:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready"
        logger.warning("readiness: the database cannot be reached: %s", exc)
        return CheckOut(ok=False, ms=_ms(started), detail=f"The database cannot be reached ({type(exc).__name__}).")
    return CheckOut(ok=True, ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@api.get("/health/ready", response={200: Readiness, 503: Readiness}, auth=None, summary="Readiness check")
def readiness(request):
    """Readiness: the database answers, the task broker answers, and at least one worker (qcluster)
    reported in the last 3 seconds (memory_console.cluster). 200 when all hold, else 503 with the
    failing check's `detail`. Counts only: no host names or process ids. README, "Health checks"."""
    from .cluster import broker_check, workers_check

    broker = broker_check()
    workers, clusters = workers_check()
    checks = {
        "database": _database_check(),
        "broker": CheckOut(ok=broker.ok, ms=broker.ms, detail=broker.detail),
        "workers": CheckOut(ok=workers.ok, ms=workers.ms, detail=workers.detail),
    }
    ok = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "clusters": len(clusters),
        "workers": sum(c.workers for c in clusters),
    }
    return Status(200 if ok else 503, body)


api.add_router("/stores", stores_router)
api.add_router("/stores", profiles_router)
api.add_router("/stores", identity_router)
api.add_router("/stores", traits_router)
api.add_router("/stores", imports_router)
api.add_router("/stores", conversations_router)
api.add_router("/stores", communications_router)


def _openapi_schema(*, _build=api.get_openapi_schema, **kwargs):
    """ninja's document plus every error status each route can answer (memory_console.openapi)."""
    return openapi_add_error_responses(_build(**kwargs))


api.get_openapi_schema = _openapi_schema
