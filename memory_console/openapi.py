"""The error answers of the JSON API, added to its OpenAPI document so generated clients handle them.

django-ninja documents only the success status each route declares. ``openapi_add_error_responses``
post-processes the document ninja builds (``memory_console.api`` wraps ``api.get_openapi_schema``
with it) and adds, per operation, every error status the route can answer, with its body schema:

- 401 on every authenticated route (no, unknown or revoked ``Authorization: Bearer`` key);
- 403 on every route that writes (`operation_writes`: a read-only API key is refused there);
- 404 on every route under ``/stores/{store_id}`` (another account's store, or an unknown store,
  profile, group, trait, rule or import id: the tenant wall);
- 413 on every route that takes a request body (a body over the server's size limit,
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` for JSON);
- 422 on every route that takes a body, path or query parameters (invalid input with the location
  of each bad value: a body that is not a JSON object or not readable, a field of the wrong type or
  breaking a rule, a store id that is not an integer);
- 503 with ``Retry-After`` on every POST, PUT, PATCH and DELETE route (SQLite only: another writer, such as an
  import, held the database longer than ``SQLITE_BUSY_TIMEOUT``).

Bodies: 422 is ``{"detail": [{"loc": ["body" | "query" | "path", ...], "msg": "..."}]}`` (ninja's
shape for schema errors, which may add ``type`` and ``ctx`` to each item); every other error is
``{"detail": "..."}``. A status a route already documents is left as the route says.
"""

from copy import deepcopy

ERROR_SCHEMA = "ErrorDetail"
VALIDATION_SCHEMA = "ValidationErrorDetail"

SCHEMAS = {
    ERROR_SCHEMA: {
        "title": ERROR_SCHEMA,
        "type": "object",
        "description": "An error with one message a person can act on.",
        "properties": {"detail": {"title": "Detail", "type": "string"}},
        "required": ["detail"],
    },
    VALIDATION_SCHEMA: {
        "title": VALIDATION_SCHEMA,
        "type": "object",
        "description": "Invalid input: one item per problem, each with the path of the field it concerns.",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "loc": {
                            "title": "Location",
                            "description": 'Where the problem is: "body", "query" or "path", then field names '
                            "and item indexes.",
                            "type": "array",
                            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        },
                        "msg": {"title": "Message", "type": "string"},
                    },
                    "required": ["loc", "msg"],
                },
            }
        },
        "required": ["detail"],
    },
}

DESCRIPTIONS = {
    401: "No valid API key: send `Authorization: Bearer <key>` with an active key.",
    403: "The API key is read-only: it can read but not change data; use a key with full access.",
    404: "No such store in the key's account (another account's store answers the same), or no such item in the store.",
    413: "The request body is larger than the server accepts; the message says the limit.",
    422: "Invalid input: `detail` lists each problem with the location of the field.",
    503: "The database is busy (SQLite: another writer such as an import holds it); "
    "try again after `Retry-After` seconds.",
}

WRITE_METHODS = {"post", "put", "patch", "delete"}

# POST routes that only read (their body is a question, not a change): a read-only API key may call
# them. By operation id (``<module>_<function>``, as in the document); every other POST, PUT, PATCH
# and DELETE writes. Recall marks the observations it returns as recalled (bookkeeping for pruning),
# which changes nothing a client sees.
READ_ONLY_POSTS = frozenset({"conversations_api_recall_profile"})


def operation_writes(method: str, operation_id: str) -> bool:
    """Whether an operation changes data, so a read-only API key is refused it (403): every POST,
    PUT, PATCH and DELETE (``method`` in any case) except the `READ_ONLY_POSTS`."""
    method = method.lower()
    return method in WRITE_METHODS and not (method == "post" and operation_id in READ_ONLY_POSTS)


def _response(status: int) -> dict:
    schema = VALIDATION_SCHEMA if status == 422 else ERROR_SCHEMA
    response = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
        }
    return response


def error_statuses(path: str, method: str, operation: dict) -> list[int]:
    """The error statuses one operation can answer (see the module docstring for the rules)."""
    statuses = []
    has_body = "requestBody" in operation
    has_params = bool(operation.get("parameters"))
    if operation.get("security"):
        statuses.append(401)
        if operation_writes(method, operation.get("operationId", "")):
            statuses.append(403)
    if "{store_id}" in path:
        statuses.append(404)
    if has_body:
        statuses.append(413)
    if has_body or has_params:
        statuses.append(422)
    if method in WRITE_METHODS:
        statuses.append(503)
    return statuses


def openapi_add_error_responses(schema: dict) -> dict:
    """Add the error responses and their schemas to an OpenAPI document (a dict; changed and returned)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in SCHEMAS.items():
        components.setdefault(name, deepcopy(definition))
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in error_statuses(path, method, operation):
                responses.setdefault(status, _response(status))
    return schema
