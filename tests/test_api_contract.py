"""The JSON API keeps its published contract (issue 13).

- The OpenAPI document lists every status each route can answer, with the error body schemas
  (checked here, and against real answers).
- A bounded schemathesis run against the live server (all checks) finds no 5xx and no answer that
  breaks the document. It runs once, in the PostgreSQL pass, where the issue's probes were made.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jsonschema_rs
import pytest

from accounts.services import api_key_create
from identity.services import profile_identify
from tests.factories import AccountFactory, StoreFactory

ERROR = {"$ref": "#/components/schemas/ErrorDetail"}
VALIDATION = {"$ref": "#/components/schemas/ValidationErrorDetail"}


@pytest.fixture
def document(client, db):
    return client.get("/api/v1/openapi.json").json()


def _operations(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _schema_of(response: dict) -> dict:
    return response["content"]["application/json"]["schema"]


def test_every_authenticated_route_documents_401(document):
    authenticated = [(p, m, o) for p, m, o in _operations(document) if o.get("security")]
    assert len(authenticated) == len(list(_operations(document))) - 2  # all but the health checks
    for path, method, operation in authenticated:
        assert _schema_of(operation["responses"]["401"]) == ERROR, (method, path)
    for health in ("/api/v1/health", "/api/v1/health/ready"):  # for load balancers and probes: no key
        assert "401" not in document["paths"][health]["get"]["responses"]


def test_store_routes_document_404_and_bodies_413_and_422(document):
    store_routes = 0
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        if "{store_id}" in path:
            store_routes += 1
            assert _schema_of(responses["404"]) == ERROR, (method, path)
        else:
            assert "404" not in responses, (method, path)
        if "requestBody" in operation:
            assert _schema_of(responses["413"]) == ERROR, (method, path)
            assert _schema_of(responses["422"]) == VALIDATION, (method, path)
        if operation.get("parameters") or "requestBody" in operation:
            assert _schema_of(responses["422"]) == VALIDATION, (method, path)
        if method in {"post", "put", "patch", "delete"}:
            assert _schema_of(responses["503"]) == ERROR, (method, path)
            assert "Retry-After" in responses["503"]["headers"]
        elif path == "/api/v1/health/ready":  # not ready: its own body, which says which check failed
            assert _schema_of(responses["503"]) == {"$ref": "#/components/schemas/Readiness"}
        else:
            assert "503" not in responses, (method, path)
    # 31 + the memory routes (4) + recall (issue 17) + a profile's PATCH, events and merges (issue 19)
    # + a profile's DELETE (erasure) and a store's PATCH and DELETE + the profiles CSV export (issue 19)
    assert store_routes == 43
    # Success answers are still the routes' own.
    assert "201" in document["paths"]["/api/v1/stores"]["post"]["responses"]
    assert "204" in document["paths"]["/api/v1/stores/{store_id}/identity-rules/{rule_id}"]["delete"]["responses"]


def test_the_error_schemas_describe_the_real_error_bodies(client, document, account, store):
    """Each documented error shape validates what the API really answers, and rejects the other shape."""
    raw = api_key_create(account=account, actor=None, name="CRM sync")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    other_store = StoreFactory(account=AccountFactory())
    components = {"components": document["components"]}

    def validator(name):
        return jsonschema_rs.validator_for({**components, "$ref": f"#/components/schemas/{name}"})

    error, invalid = validator("ErrorDetail"), validator("ValidationErrorDetail")
    unauthorized = client.get(f"/api/v1/stores/{store.pk}")
    not_found = client.get(f"/api/v1/stores/{other_store.pk}", **auth)
    schema_error = client.post(
        f"/api/v1/stores/{store.pk}/trait-groups", data=json.dumps({"name": 5}), content_type="application/json", **auth
    )
    service_error = client.post(
        f"/api/v1/stores/{store.pk}/trait-groups",
        data=json.dumps({"name": "Contact"}),
        content_type="application/json",
        **auth,
    )
    bad_path = client.get("/api/v1/stores/abc", **auth)
    assert (unauthorized.status_code, not_found.status_code) == (401, 404)
    assert (schema_error.status_code, service_error.status_code, bad_path.status_code) == (422, 422, 422)
    for response in (unauthorized, not_found):
        assert error.is_valid(response.json()) and not invalid.is_valid(response.json())
    for response in (schema_error, service_error, bad_path):
        assert invalid.is_valid(response.json()) and not error.is_valid(response.json())


# --- schemathesis against the live server -------------------------------------------------------

ST = Path(sys.executable).parent / "st"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# Bounded: examples per operation and a hard limit for the whole run (make ci must stay short).
MAX_EXAMPLES = int(os.environ.get("MC_SCHEMATHESIS_EXAMPLES", "25"))
TIME_LIMIT = int(os.environ.get("MC_SCHEMATHESIS_TIMEOUT", "300"))
SEED = os.environ.get("MC_SCHEMATHESIS_SEED", "13")
# Values the probes sent by hand (NUL, control and invisible characters, decomposed text,
# a timestamp beyond what the database holds after conversion to UTC), drawn for any string
# schemathesis generates, one time in ten, on top of its own generated strings.
HOSTILE = [
    "a\x00b",
    "chat:a\x00b",
    "email:ada\x00@example.com",
    "bell\x07",
    "line\nbreak",
    "\u200bzero width",
    "\ufeff",
    "Jose\u0301",
    "\xa0+1 415 555 0150\xa0",
    "9999-12-31T23:59:59-10:00",
    "0001-01-01T00:00:00+14:00",
]
CONFIG = f"""
[generation.dictionaries]
string = {{ dictionary = "hostile", probability = 0.1 }}

[dictionaries.hostile]
values = {json.dumps(HOSTILE)}

# Input the schema allows can still break a rule the schema cannot say (a name already taken, the
# default group, an identifier "kind:value"): the API answers 422 for it, as the document says.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "422"]
"""


@pytest.mark.postgres
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_server, transactional_db, tmp_path):
    account = AccountFactory(name="Fuzz")
    store = StoreFactory(account=account, name="Fuzzed")
    other = StoreFactory(account=AccountFactory(name="Neighbour"), name="Not yours")
    for n in range(3):
        profile_identify(
            store=store,
            identifiers=[("email", f"p{n}@example.com"), ("phone", f"+1415555010{n}")],
            traits={"Contact": {"firstName": f"P{n}"}},
            events=[],
            source="api:seed",
        )
    raw = api_key_create(account=account, actor=None, name="schemathesis")[1]
    config = tmp_path / "schemathesis.toml"
    # Input the schema allows can still break a rule the schema cannot say (a name already taken, the
    # default group, an identifier "kind:value"): the API answers 422 for it, as the document says.
    config.write_text(CONFIG)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "MC_FUZZ_STORE_ID": str(store.pk)}
    command = [
        str(ST),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--header",
        f"Authorization: Bearer {raw}",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
        # Not ready is a 503 by design when no qcluster runs (none does here); its answers are
        # tested against real clusters in tests/test_scale_out.py.
        "--exclude-path",
        "/api/v1/health/ready",
    ]
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT, cwd=tmp_path, env=env)
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"schemathesis ran over its {TIME_LIMIT} s limit (MC_SCHEMATHESIS_TIMEOUT):\n{partial}")
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, f"schemathesis found problems in {elapsed:.0f} s:\n{output}"
    assert "No issues found" in output or "passed" in output
    # The tenant wall held whatever was sent: the neighbour's store is untouched.
    other.refresh_from_db()
    assert other.name == "Not yours"


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_an_unreadable_multipart_body_is_a_422_naming_the_body(client, account, store, content_type):
    """Found by the schemathesis run: without a boundary the upload route answered a server error."""
    raw = api_key_create(account=account, actor=None, name="CRM sync")[1]
    response = client.post(
        f"/api/v1/stores/{store.pk}/imports",
        data=b"email\r\na@example.test\r\n",
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["body"] and "multipart form body cannot be read" in item["msg"]
