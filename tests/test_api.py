import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from identity.models import IdentityRule
from profiles.models import Profile
from profiles.stamps import trait_stamp
from tests.factories import StoreFactory
from traits.models import Trait


def test_openapi_schema_and_docs_are_published(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Memory Console API"
    for path in ("/api/v1/stores/{store_id}/profiles/identify", "/api/v1/stores/{store_id}/identity-rules/order"):
        assert path in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer mc_notarealkey", "Basic abc"])
def test_requests_without_a_valid_key_are_refused(client, store, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    assert client.get("/api/v1/stores", **extra).status_code == 401


def test_a_revoked_key_is_refused(client, account, store):
    key, raw = api_key_create(account=account, actor=None, name="old")
    assert client.get("/api/v1/stores", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    api_key_revoke(key=key, actor=None)
    assert client.get("/api/v1/stores", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_keys_are_stored_hashed_and_record_last_use(account, api, store):
    stored = ApiKey.objects.get(name="CRM sync")
    assert stored.last_used_at is None
    api.call("get", "/stores")
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    assert len(stored.key_hash) == 64 and stored.prefix.startswith("mc_")


# Satisfies every request schema, so the answer is about the store, not the body.
ANY_VALID_BODY = {
    "identifiers": {"email": "a@example.com"},
    "items": [],
    "name": "x",
    "kind": "x_id",
    "limit": 1,
    "rule_ids": [1],
    "channel": "sms",  # a communication
    "from": "+14155550123",
    "to": "+14155550100",
    "direction": "inbound",
    "token": "0123456789abcdef0123456789abcdef",  # a Twilio auth token
    "content": "Prefers SMS",  # an observation
    "events": [{"name": "x"}],  # a profile's events
}


def test_a_key_gets_404_for_every_store_route_of_another_account(client, api, other_account, db):
    foreign = StoreFactory(account=other_account, name="Foreign")
    schema = client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, methods in schema["paths"].items():
        if "{store_id}" not in path:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: str(foreign.pk) if m.group(1) == "store_id" else "1", path)
        url += "?identifier=email:a@example.com"  # the one required query parameter; ignored elsewhere
        for method in methods:
            response = api.call(
                method, url.removeprefix("/api/v1"), body=ANY_VALID_BODY if method in ("post", "put", "patch") else None
            )
            assert response.status_code == 404, f"{method.upper()} {url} answered {response.status_code}"
            checked += 1
    assert checked >= 12


def test_list_and_create_stores_seeds_defaults_like_the_console(api, account, store):
    assert [s["name"] for s in api.call("get", "/stores").json()] == [store.name]
    created = api.call("post", "/stores", {"name": "From API"})
    assert created.status_code == 201
    new_id = created.json()["id"]
    assert list(IdentityRule.objects.filter(store_id=new_id).values_list("kind", flat=True)) == [
        "phone",
        "email",
        "whatsappid",
        "chat",
    ]
    assert Trait.objects.filter(store_id=new_id, group__name="Contact").count() == 4
    clash = api.call("post", "/stores", {"name": "from api"})
    assert clash.status_code == 422
    assert clash.json()["detail"][0]["loc"] == ["body", "name"]


def test_identify_creates_matches_and_merges_with_a_full_report(api, store):
    first = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {
            "identifiers": {"email": "Ada@Example.com", "loyalty": "L1"},
            "traits": {"Contact": {"firstName": "Ada"}},
            "events": [{"name": "signup", "timestamp": "2026-01-02T03:04:05Z", "properties": {"plan": "pro"}}],
        },
    )
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["created"] is True and body["added_identifiers"] == ["email:ada@example.com"]
    assert body["ignored_identifiers"][0]["kind"] == "loyalty"
    assert body["changed_traits"] == ["Contact.firstName"]
    other = api.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"phone": "+1 415 555 2671"}})
    merged = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "ada@example.com", "phone": ["(415) 555-2671", "+1 628 200 0001"]}},
    ).json()
    assert merged["profile_id"] == other.json()["profile_id"]  # phone outranks email
    assert merged["merged_profile_ids"] == [body["profile_id"]]
    assert merged["added_identifiers"] == ["phone:+16282000001"]
    profile = Profile.objects.get(pk=merged["profile_id"])
    assert trait_stamp(profile.trait_sources, "Contact", "firstName")[1] == "api:CRM sync"


def test_identify_bad_input_answers_422_with_field_paths_and_writes_nothing(api, store):
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "nope", "phone": "12"}, "traits": {"Contact": {"shoeSize": 9}}},
    )
    assert response.status_code == 422
    locs = {tuple(item["loc"]): item["msg"] for item in response.json()["detail"]}
    assert locs[("body", "identifiers", "email")] == (
        "email: “nope” is not a valid email address (An email address must have an @-sign.)"
    )
    assert ("body", "identifiers", "phone") in locs
    assert locs[("body", "traits", "Contact", "shoeSize")] == "Unknown trait “Contact.shoeSize”."
    schema_error = api.call("post", f"/stores/{store.pk}/profiles/identify", {"traits": {}})
    assert schema_error.status_code == 422 and schema_error.json()["detail"][0]["loc"][-1] == "identifiers"
    assert not Profile.objects.filter(store=store).exists()


def test_find_profile_by_identifier_and_get_a_tombstone(api, store):
    a = api.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"email": "a@example.com"}}).json()
    b = api.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"phone": "+14155552671"}}).json()
    api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"phone": "+14155552671", "email": "a@example.com"}},
    )
    found = api.call("get", f"/stores/{store.pk}/profiles?identifier=email:A@EXAMPLE.com")
    assert found.status_code == 200 and found.json()["id"] == b["profile_id"]
    assert {"kind": "email", "value": "a@example.com"} in found.json()["identifiers"]
    assert api.call("get", f"/stores/{store.pk}/profiles?identifier=email:z@example.com").status_code == 404
    assert api.call("get", f"/stores/{store.pk}/profiles?identifier=nocolon").status_code == 422
    tomb = api.call("get", f"/stores/{store.pk}/profiles/{a['profile_id']}").json()
    assert tomb["id"] == b["profile_id"] and tomb["merged_into"] == b["profile_id"]
    assert tomb["merges"][0]["from_profile_id"] == a["profile_id"]
    live = api.call("get", f"/stores/{store.pk}/profiles/{b['profile_id']}").json()
    assert live["merged_into"] is None


def test_rules_and_traits_can_be_scripted(api, store):
    group = api.call("post", f"/stores/{store.pk}/trait-groups", {"name": "Account"}).json()
    trait = api.call("post", f"/stores/{store.pk}/trait-groups/{group['id']}/traits", {"name": "userId"})
    assert trait.status_code == 201
    rule = api.call(
        "post",
        f"/stores/{store.pk}/identity-rules",
        {"name": "User ID", "kind": "user_id", "source": "traits", "mapped_traits": ["Account.userId"]},
    )
    assert (
        rule.status_code == 201 and rule.json()["priority"] == 5 and rule.json()["mapped_traits"] == ["Account.userId"]
    )
    rules = api.call("get", f"/stores/{store.pk}/identity-rules").json()
    order = [rule.json()["id"], *[r["id"] for r in rules if r["kind"] != "user_id"]]
    reordered = api.call("put", f"/stores/{store.pk}/identity-rules/order", {"rule_ids": order}).json()
    assert [r["kind"] for r in reordered] == ["user_id", "phone", "email", "whatsappid", "chat"]
    bad_order = api.call("put", f"/stores/{store.pk}/identity-rules/order", {"rule_ids": order[:2]})
    assert bad_order.status_code == 422
    unknown = api.call(
        "put",
        f"/stores/{store.pk}/identity-rules/{rule.json()['id']}",
        {"name": "X", "limit": 2, "mapped_traits": ["No.pe"]},
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "mapped_traits", "No.pe"]
    assert api.call("delete", f"/stores/{store.pk}/identity-rules/{rule.json()['id']}").status_code == 204
    deleted = api.call("delete", f"/stores/{store.pk}/trait-groups/{group['id']}")
    assert deleted.json() == {"deleted": True, "profiles_changed": 0}
    groups = api.call("get", f"/stores/{store.pk}/trait-groups").json()
    assert [g["name"] for g in groups] == ["Contact"]


def test_create_api_key_command_prints_a_working_key(client, account, store):
    out = StringIO()
    call_command("create_api_key", "--account", str(account.pk), "--name", "script", stdout=out)
    raw = out.getvalue().strip()
    assert client.get("/api/v1/stores", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_console_shows_a_new_key_once_and_revokes_it(admin_client, account, client):
    # POST-redirect-GET: the secret is not in the POST's answer nor in the URL it redirects to, but on
    # the redirected page, once (the session carries it there), uncached, with a copy button.
    response = admin_client.post(reverse("accounts:api_key_create"), {"name": "Zapier", "scope": "full"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:api_keys")
    assert b"mc_" not in response.content
    shown = admin_client.get(response["Location"])
    raw = re.search(rb'data-testid="raw-key">(mc_[^<]+)<', shown.content).group(1).decode()
    assert raw not in response["Location"] and "no-store" in shown["Cache-Control"]
    assert b'data-copy="#raw-key"' in shown.content
    page = admin_client.get(reverse("accounts:api_keys"))
    assert raw.encode() not in page.content and b"Zapier" in page.content
    assert "new_api_key" not in admin_client.session
    key = ApiKey.objects.get(name="Zapier")
    admin_client.post(reverse("accounts:api_key_revoke", args=[key.pk]))
    assert client.get("/api/v1/stores", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_identify_batch_answers_each_item_and_fails_only_the_bad_ones(api, store):
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify-batch",
        {
            "items": [
                {"identifiers": {"email": "a@example.com"}, "traits": {"Contact": {"firstName": "A"}}},
                {"identifiers": {"email": "broken"}},
                {"identifiers": {"email": "A@example.com", "phone": "+14155552671"}},
            ]
        },
    )
    assert response.status_code == 200, response.content
    first, bad, third = response.json()["results"]
    assert first["ok"] and first["result"]["created"]
    assert not bad["ok"] and bad["errors"][0]["loc"] == ["body", "items", 1, "identifiers", "email"]
    assert third["ok"] and third["result"]["profile_id"] == first["result"]["profile_id"]
    assert third["result"]["added_identifiers"] == ["phone:+14155552671"]
    too_many = api.call("post", f"/stores/{store.pk}/profiles/identify-batch", {"items": [{"identifiers": {}}] * 1001})
    assert too_many.status_code == 422
