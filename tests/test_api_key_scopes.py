"""Read-only API keys (issue 19): a key's scope is chosen at creation; a read-only key reads
everything and is refused (403) on every route that writes.

The route lists come from the OpenAPI document, so a route added later is covered without
changing these tests.
"""

import html
import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import ApiKey, ApiKeyScope, AuditEvent
from accounts.services import api_key_create
from identity.services import profile_identify
from memory_console.openapi import READ_ONLY_POSTS
from stores.models import Store
from tests.conftest import ApiClient
from traits.models import TraitGroup
from traits.services import trait_group_create

ERROR = {"$ref": "#/components/schemas/ErrorDetail"}
UNKNOWN_ID = 999999


@pytest.fixture
def document(client, db):
    return client.get("/api/v1/openapi.json").json()


@pytest.fixture
def read_only(client, account):
    return ApiClient(client, api_key_create(account=account, actor=None, name="BI export", scope="read_only")[1])


@pytest.fixture
def seeded(store, admin_user):
    """A store with a profile and a trait group, so reads answer with data."""
    result = profile_identify(
        store=store,
        identifiers=[("email", "ada@example.com")],
        traits={"Contact": {"firstName": "Ada"}},
        events=[],
        source="api:test",
    )
    group = trait_group_create(store=store, actor=admin_user, name="Loyalty")
    return {"store_id": store.pk, "profile_id": result.profile.pk, "group_id": group.pk}


def _operations(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):  # the health checks take no key
                yield path, method, operation


def _writes(method, operation):
    return method != "get" and operation["operationId"] not in READ_ONLY_POSTS


def _url(path, ids):
    """The document's path with each {name} filled from `ids` (an unknown id otherwise), less /api/v1."""
    filled = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), UNKNOWN_ID)), path)
    return filled.removeprefix("/api/v1")


def _timeless(body):
    """An answer without recall's ``queryTime`` (milliseconds, different on every call)."""
    if isinstance(body, dict):
        return {k: _timeless(v) for k, v in body.items() if k != "queryTime"}
    return body


def _state():
    """What a refused write must leave as it was."""
    return (Store.objects.count(), TraitGroup.objects.count(), AuditEvent.objects.count())


# --- the API ------------------------------------------------------------------------------------


def test_every_write_route_refuses_a_read_only_key_with_a_403_naming_why(document, read_only, api, seeded):
    writes = [(p, m) for p, m, o in _operations(document) if _writes(m, o)]
    assert len(writes) >= 20  # the document lists the API's writes (a broken listing would pass vacuously)
    before = _state()
    for path, method in writes:
        url = _url(path, seeded)
        for body in ("{}", '{"name": "x"', "\x00"):  # refused before the body is read, valid or not
            response = read_only.raw(method, url, body)
            assert response.status_code == 403, (method, path, response.content)
            detail = response.json()["detail"]
            assert "read-only" in detail and f"{method.upper()} /api/v1{url}" in detail, detail
    assert _state() == before
    # A full key is not refused on the same routes (unknown ids and empty bodies: 404 or 422 instead).
    for path, method in writes:
        response = api.raw(method, _url(path, {}), "{}")
        assert response.status_code != 403, (method, path)


def _answer(response):
    """A read's answer to compare: its JSON without times, or the CSV a profiles export streams."""
    if response["Content-Type"].startswith("text/csv"):
        return b"".join(response.streaming_content)
    return _timeless(response.json())


def test_every_read_route_answers_a_read_only_key_as_it_answers_a_full_key(document, read_only, api, seeded):
    reads = [(p, m) for p, m, o in _operations(document) if not _writes(m, o)]
    assert sum(m == "post" for _, m in reads) == len(READ_ONLY_POSTS)  # recall is among them
    answered = 0
    for path, method in reads:
        url = _url(path, seeded)
        body = {} if method == "post" else None
        full, limited = api.call(method, url, body), read_only.call(method, url, body)
        assert limited.status_code == full.status_code != 403, (method, path, limited.content)
        assert _answer(limited) == _answer(full), (method, path)
        answered += limited.status_code == 200
    assert answered >= 6  # stores, store, profiles, profile, groups, rules, recall, ...


def test_recall_is_a_read_a_read_only_key_may_ask(read_only, seeded):
    response = read_only.call("post", f"/stores/{seeded['store_id']}/profiles/{seeded['profile_id']}/recall", {})
    assert response.status_code == 200
    assert "Ada" in response.json()["text"]


def test_a_read_only_key_still_meets_the_tenant_wall_and_a_revoked_one_is_unknown(client, read_only, other_account):
    other = Store.objects.create(account=other_account, name="Not yours")
    assert read_only.call("get", f"/stores/{other.pk}").status_code == 404
    key = ApiKey.objects.get(name="BI export")
    key.revoked_at = key.created_at
    key.save()
    assert read_only.call("get", "/stores").status_code == 401
    assert read_only.call("post", "/stores", {"name": "x"}).status_code == 401  # 401 first: who, then what


def test_the_document_lists_403_on_exactly_the_write_routes(document):
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        if _writes(method, operation):
            assert responses["403"]["content"]["application/json"]["schema"] == ERROR, (method, path)
            assert "read-only" in responses["403"]["description"]
        else:
            assert "403" not in responses, (method, path)
    assert "403" not in document["paths"]["/api/v1/health"]["get"]["responses"]


# --- creating keys ------------------------------------------------------------------------------


def test_the_console_creates_a_read_only_key_shows_its_scope_and_audits_it(admin_client, account):
    admin_client.post(reverse("accounts:api_key_create"), {"name": "Full one", "scope": "full"})
    response = admin_client.post(
        reverse("accounts:api_key_create"), {"name": "BI export", "scope": "read_only"}, follow=True
    )
    assert response.redirect_chain == [(reverse("accounts:api_keys"), 302)]
    page = html.unescape(response.content.decode())
    assert "Created API key BI export (read-only)." in page
    rows = {name: row for row in page.split("<tr") for name in ("Full one", "BI export") if f'data-key="{name}"' in row}
    assert "Read-only" in rows["BI export"] and "Full access" not in rows["BI export"]
    assert "Full access" in rows["Full one"] and "Read-only" not in rows["Full one"]
    assert ApiKey.objects.get(name="BI export").scope == ApiKeyScope.READ_ONLY
    event = AuditEvent.objects.filter(action="api_key.create").order_by("-pk").first()
    assert (event.summary, event.details) == ("Created API key BI export (read-only)", {"scope": "read_only"})
    activity = html.unescape(admin_client.get(reverse("accounts:activity")).content.decode())
    assert "Created API key BI export (read-only)" in activity
    assert "Created API key Full one (full access)" in activity
    # The page lists the scope of keys made elsewhere too, and the form offers both.
    api_key_create(account=account, actor=None, name="Script", scope="read_only")
    page = html.unescape(admin_client.get(reverse("accounts:api_keys")).content.decode())
    assert 'value="read_only"' in page and 'value="full"' in page
    assert page.count("Read-only</span>") == 2


@pytest.mark.parametrize("scope", ["admin", "", "READ_ONLY"])
def test_the_console_refuses_an_unknown_scope_naming_the_field(admin_client, scope):
    response = admin_client.post(reverse("accounts:api_key_create"), {"name": "Odd", "scope": scope})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"scope"}
    assert not ApiKey.objects.filter(name="Odd").exists()


def test_the_service_refuses_an_unknown_scope(account):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        api_key_create(account=account, actor=None, name="Odd", scope="write")
    assert caught.value.message_dict.keys() == {"scope"}
    assert not ApiKey.objects.filter(name="Odd").exists()


def test_support_members_cannot_create_keys_of_either_scope(support_client):
    response = support_client.post(reverse("accounts:api_key_create"), {"name": "Sneaky", "scope": "read_only"})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()


def test_the_command_creates_a_read_only_key_with_read_only(account, client):
    out = StringIO()
    call_command("create_api_key", "--account", str(account.pk), "--name", "BI", "--read-only", stdout=out)
    raw = out.getvalue().strip()
    call_command("create_api_key", "--account", str(account.pk), "--name", "Sync", stdout=StringIO())
    assert dict(ApiKey.objects.values_list("name", "scope")) == {"BI": "read_only", "Sync": "full"}
    refused = ApiClient(client, raw).call("post", "/stores", {"name": "x"})
    assert refused.status_code == 403
    details = list(AuditEvent.objects.filter(action="api_key.create").order_by("pk").values_list("details", flat=True))
    assert details == [{"scope": "read_only"}, {"scope": "full"}]


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_existing_keys_full():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("accounts", "0003_auditevent_api_key")]
    executor = MigrationExecutor(connection)
    after = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        account = old.get_model("accounts", "Account").objects.create(name="Old")
        old.get_model("accounts", "ApiKey").objects.create(account=account, name="Old key", prefix="mc_x", key_hash="0")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    assert ApiKey.objects.get(name="Old key").scope == ApiKeyScope.FULL


def test_json_bodies_of_the_403_are_json(read_only, seeded):
    response = read_only.raw("post", f"/stores/{seeded['store_id']}/trait-groups", json.dumps({"name": "New"}))
    assert response.status_code == 403 and response["Content-Type"].startswith("application/json")
    assert not TraitGroup.objects.filter(name="New").exists()
