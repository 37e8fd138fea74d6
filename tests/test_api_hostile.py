"""Hostile input through the JSON API: refused with 422 naming the field (or 413), never a 500,
never stored, and never able to make a stored profile unreadable (issue 13)."""

import json
import logging
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import OperationalError

from conversations.models import Communication
from identity.models import Identifier, IdentityRule
from identity.services import identity_rule_create, profile_identify
from profiles.models import Event, Profile
from stores.models import Store
from traits.models import Trait, TraitGroup
from traits.services import trait_group_create

NUL = "\u0000"
SURROGATE = "\ud800"


@pytest.fixture
def world(store, api):
    """A store with a custom rule, a group and one profile; `world.assert_untouched()` after a probe."""
    identity_rule_create(store=store, actor=None, name="User ID", kind="user_id")
    trait_group_create(store=store, actor=None, name="Prefs")
    from conversations.services import ConfigurationInput, conversation_configuration_create

    conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Support", captures=[("sms", "+14155550100")])
    )
    profile_identify(
        store=store,
        identifiers=[("email", "ada@example.com"), ("chat", "ada-chat")],
        traits={"Contact": {"firstName": "Ada"}},
        events=[{"name": "signed_up", "timestamp": None, "properties": {"plan": "pro"}}],
        source="api:test",
    )

    class World:
        models = (Store, TraitGroup, Trait, IdentityRule, Profile, Identifier, Event, Communication)

        def __init__(self):
            self.counts = self.snapshot()
            self.store = store
            self.profile = Profile.objects.get(store=store)

        def snapshot(self):
            profiles = {p.pk: (p.traits, p.updated_at) for p in Profile.objects.all()}
            return [m.objects.count() for m in self.models], profiles

        def assert_untouched(self):
            assert self.snapshot() == self.counts, "a refused request stored something"
            self.assert_readable()

        def assert_readable(self):
            """Every stored profile answers the API get, the identifier lookup and the console page."""
            for profile in Profile.objects.filter(store=store, merged_into__isnull=True):
                got = api.call("get", f"/stores/{store.pk}/profiles/{profile.pk}")
                assert got.status_code == 200, got.content
                for kind, value in profile.identifiers.values_list("kind", "value"):
                    found = api.call("get", f"/stores/{store.pk}/profiles", QUERY_STRING=f"identifier={kind}:{value}")
                    assert found.status_code == 200, found.content
            # the console page too, as a signed-in member of the account
            from tests.factories import MembershipFactory

            member = MembershipFactory(account=store.account, role="support").user
            from django.test import Client

            browser = Client()
            browser.force_login(member)
            for profile in Profile.objects.filter(store=store, merged_into__isnull=True):
                page = browser.get(f"/stores/{store.pk}/profiles/{profile.pk}/")
                assert page.status_code == 200

    return World()


def _refused(response, loc, *words):
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert any(item["loc"] == loc for item in detail), detail
    message = next(item["msg"] for item in detail if item["loc"] == loc)
    for word in words:
        assert word in message, message
    return message


def _identify(**body):
    return {"identifiers": {"email": "new@example.com"}, **body}


# --- 1. NUL and lone surrogates in any string ------------------------------------------------------

STRING_PROBES = [
    ("post", "/stores", {"name": f"a{NUL}b"}, ["body", "name"]),
    ("post", "/stores", {"name": "Fine", "description": f"a{NUL}b"}, ["body", "description"]),
    ("post", "/stores/{s}/trait-groups", {"name": "Loyalty", "description": f"x{NUL}"}, ["body", "description"]),
    ("post", "/stores/{s}/trait-groups", {"name": f"Loy{NUL}"}, ["body", "name"]),
    ("post", "/stores/{s}/trait-groups/{g}/traits", {"name": "tier", "description": f"{NUL}"}, ["body", "description"]),
    ("post", "/stores/{s}/identity-rules", {"name": f"Ext{NUL}", "kind": "ext_id"}, ["body", "name"]),
    (
        "post",
        "/stores/{s}/profiles/identify",
        _identify(traits={"Contact": {"firstName": f"A{NUL}"}}),
        ["body", "traits", "Contact", "firstName"],
    ),
    ("post", "/stores/{s}/profiles/identify", {"identifiers": {"chat": f"a{NUL}b"}}, ["body", "identifiers", "chat"]),
    (
        "post",
        "/stores/{s}/profiles/identify",
        {"identifiers": {"user_id": ["u1", f"u{NUL}2"]}},
        ["body", "identifiers", "user_id", 1],
    ),
    (
        "post",
        "/stores/{s}/profiles/identify",
        _identify(events=[{"name": f"order{NUL}placed"}]),
        ["body", "events", 0, "name"],
    ),
    (
        "post",
        "/stores/{s}/profiles/identify",
        _identify(events=[{"name": "order_placed", "properties": {"sku": ["ok", f"b{NUL}d"]}}]),
        ["body", "events", 0, "properties", "sku", 1],
    ),
    (
        "post",
        "/stores/{s}/profiles/identify-batch",
        {"items": [_identify(), {"identifiers": {"chat": f"a{NUL}b"}}]},
        ["body", "items", 1, "identifiers", "chat"],
    ),
]
SURROGATE_PROBES = [
    ("post", "/stores", {"name": f"a{SURROGATE}"}, ["body", "name"]),
    (
        "post",
        "/stores/{s}/profiles/identify",
        {"identifiers": {"chat": f"a{SURROGATE}"}},
        ["body", "identifiers", "chat"],
    ),
    (
        "post",
        "/stores/{s}/profiles/identify",
        {"identifiers": {"email": f"a{SURROGATE}@example.com"}},
        ["body", "identifiers", "email"],
    ),
    (
        "post",
        "/stores/{s}/profiles/identify",
        _identify(traits={"Contact": {"lastName": f"x{SURROGATE}"}}),
        ["body", "traits", "Contact", "lastName"],
    ),
]


def _path(template, world):
    group = TraitGroup.objects.get(store=world.store, name="Prefs")
    return template.format(s=world.store.pk, g=group.pk)


@pytest.mark.parametrize(("method", "path", "body", "loc"), STRING_PROBES, ids=lambda v: str(v)[:40])
def test_a_nul_character_anywhere_is_refused_naming_the_field(api, world, method, path, body, loc):
    response = api.call(method, _path(path, world), body)
    _refused(response, loc, "U+0000 NULL")
    world.assert_untouched()


@pytest.mark.parametrize(("method", "path", "body", "loc"), SURROGATE_PROBES, ids=lambda v: str(v)[:40])
def test_a_lone_surrogate_is_refused_naming_the_field(api, world, method, path, body, loc):
    response = api.call(method, _path(path, world), body)  # json.dumps writes it as the escape "\ud800"
    assert "\\ud800" in json.dumps(body)
    _refused(response, loc, "U+D800", "surrogate")
    world.assert_untouched()


def test_a_nul_in_a_json_key_is_refused(api, world):
    response = api.call("post", f"/stores/{world.store.pk}/profiles/identify", _identify(traits={f"Con{NUL}": {}}))
    _refused(response, ["body", "traits", f"Con{NUL}"], "U+0000 NULL")
    world.assert_untouched()


def test_a_nul_in_the_identifier_query_parameter_is_refused(api, world):
    response = api.call("get", f"/stores/{world.store.pk}/profiles", QUERY_STRING="identifier=chat:a%00b")
    _refused(response, ["query", "identifier"], "U+0000 NULL")


# --- 2. non-finite numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("route", ["identify", "identify-batch"])
def test_a_non_finite_number_in_event_properties_is_refused_naming_the_property(api, world, number, route):
    item = '{"identifiers": {"email": "new@example.com"}, "events": [{"name": "paid", "properties": {"total": %s}}]}'
    item = item % number
    body = item if route == "identify" else '{"items": [' + item + "]}"
    response = api.raw("post", f"/stores/{world.store.pk}/profiles/{route}", body)
    loc = ["body", "events", 0, "properties", "total"]
    _refused(response, loc if route == "identify" else ["body", "items", 0, *loc[1:]], "finite")
    world.assert_untouched()


def test_a_non_finite_trait_value_is_refused(api, world):
    Trait.objects.create(
        store=world.store,
        group=TraitGroup.objects.get(store=world.store, name="Prefs"),
        name="score",
        data_type="number",
    )
    world.counts = world.snapshot()
    body = '{"identifiers": {"email": "new@example.com"}, "traits": {"Prefs": {"score": 1e400}}}'
    response = api.raw("post", f"/stores/{world.store.pk}/profiles/identify", body)
    _refused(response, ["body", "traits", "Prefs", "score"], "finite")
    world.assert_untouched()


# --- 3. timestamps: one documented range, and no profile can be made unreadable --------------------

OUT_OF_RANGE = [
    "9999-12-31T23:59:59-23:00",
    "9999-12-31T23:59:59-10:00",  # accepted before, and then the profile could never be read again
    "9999-12-31T23:00:00-01:00",
    "0001-01-01T00:00:00+01:00",
    "1899-12-31T23:59:59Z",
    "1900-01-01T00:30:00+01:00",  # 1899-12-31T23:30Z
]


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE)
def test_an_event_timestamp_outside_1900_to_9999_utc_is_refused(api, world, timestamp):
    # the new email would create a profile; the chat identifier would touch the existing one
    for identifiers in ({"email": "new@example.com"}, {"chat": "ada-chat"}):
        body = {"identifiers": identifiers, "events": [{"name": "paid", "timestamp": timestamp}]}
        response = api.call("post", f"/stores/{world.store.pk}/profiles/identify", body)
        _refused(response, ["body", "events", 0, "timestamp"], "1900-01-01T00:00:00Z", "9999-12-30T23:59:59Z")
        world.assert_untouched()


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE[:2])
def test_identify_batch_refuses_the_item_with_the_bad_timestamp_and_applies_the_others(api, world, timestamp):
    items = [
        {"identifiers": {"chat": "ada-chat"}, "events": [{"name": "paid", "timestamp": timestamp}]},
        {
            "identifiers": {"email": "new@example.com"},
            "events": [{"name": "paid", "timestamp": "2026-11-24T10:00:00Z"}],
        },
    ]
    response = api.call("post", f"/stores/{world.store.pk}/profiles/identify-batch", {"items": items})
    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert not first["ok"]
    assert first["errors"][0]["loc"] == ["body", "items", 0, "events", 0, "timestamp"]
    assert second["ok"]
    assert not Event.objects.filter(timestamp__year__gt=9000).exists()
    world.assert_readable()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1900-01-01T00:00:00Z", "1900-01-01T00:00:00Z"),
        ("9999-12-30T23:59:59Z", "9999-12-30T23:59:59Z"),
        ("9999-12-31T09:59:59+10:00", "9999-12-30T23:59:59Z"),
        ("1900-01-01T00:00:00-05:00", "1900-01-01T05:00:00Z"),
        ("2026-11-24T10:00:00", "2026-11-24T10:00:00Z"),  # no offset: read as UTC
    ],
)
def test_timestamps_at_the_edges_of_the_range_are_stored_in_utc_and_stay_readable(api, world, sent, stored):
    body = {"identifiers": {"chat": "ada-chat"}, "events": [{"name": "edge", "timestamp": sent}]}
    response = api.call("post", f"/stores/{world.store.pk}/profiles/identify", body)
    assert response.status_code == 200, response.content
    got = api.call("get", f"/stores/{world.store.pk}/profiles/{world.profile.pk}").json()
    edge = next(e for e in got["events"] if e["name"] == "edge")
    assert edge["timestamp"].replace("+00:00", "Z") == stored
    world.assert_readable()


# --- 4. bodies over the size limit ----------------------------------------------------------------


def test_a_body_over_the_limit_answers_413_naming_the_limit_and_stores_nothing(api, world):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    padding = "x" * (limit + 1)
    body = json.dumps({"identifiers": {"email": "new@example.com"}, "traits": {"Contact": {"address": padding}}})
    response = api.raw("post", f"/stores/{world.store.pk}/profiles/identify", body)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert f"{limit:,} bytes" in response.json()["detail"]
    world.assert_untouched()


def _realistic_item(n: int) -> dict:
    """An identify item as a CRM sync sends it: email, phone and chat, six traits, two events."""
    return {
        "identifiers": {
            "email": f"customer.{n:07d}@example-retailer.com",
            "phone": f"+1 415 555 {n % 10000:04d}",
            "chat": f"web-session-{n:012d}",
        },
        "traits": {
            "Contact": {
                "firstName": "Alexandria",
                "lastName": "Montgomery-Featherstonehaugh",
                "phone": f"+1 (415) 555-{n % 10000:04d}",
                "address": "1234 Market Street, Apartment 56B, San Francisco, CA 94103, United States",
            },
        },
        "events": [
            {
                "name": "order_placed",
                "timestamp": "2026-11-24T10:00:00Z",
                "properties": {
                    "order_id": f"ORD-{n:010d}",
                    "total": 1234.56,
                    "currency": "USD",
                    "items": 3,
                    "channel": "web",
                    "coupon": "BLACKFRIDAY25",
                },
            },
            {
                "name": "page_viewed",
                "timestamp": "2026-11-24T09:58:12Z",
                "properties": {
                    "url": "https://shop.example-retailer.com/products/espresso-machine-deluxe-2000",
                    "referrer": "https://www.google.com/",
                },
            },
        ],
    }


@pytest.mark.parametrize("notes", [0, 4000])
def test_a_full_batch_of_realistic_items_is_accepted(api, store, notes):
    """1,000 items of about 760 bytes (0.8 MB), and of about 4.8 KB (with a 4,000-character note)."""
    items = [_realistic_item(n) for n in range(1000)]
    for item in items:
        item["events"][0]["properties"]["note"] = "n" * notes
    body = json.dumps({"items": items})
    assert len(body.encode()) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.raw("post", f"/stores/{store.pk}/profiles/identify-batch", body)
    assert response.status_code == 200, response.content[:500]
    assert all(result["ok"] for result in response.json()["results"])


# --- 5. bodies that are not a JSON object ---------------------------------------------------------


def _json_routes():
    """Every POST/PUT/PATCH route whose body is JSON, from the published OpenAPI document."""
    from memory_console.api import api as ninja_api

    schema = ninja_api.get_openapi_schema()
    routes = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if method in ("post", "put", "patch") and "application/json" in content:
                routes.append((method, path.removeprefix("/api/v1")))
    return routes


def test_the_route_list_covers_every_json_write():
    routes = _json_routes()
    assert ("post", "/stores") in routes
    assert ("put", "/stores/{store_id}/identity-rules/order") in routes
    assert len(routes) >= 8


@pytest.mark.parametrize("body", ["1.5", "[]", "null", '"a store"', "true", "[{}]"])
def test_a_body_that_is_not_a_json_object_is_refused_on_every_route(api, world, body):
    rule = IdentityRule.objects.get(store=world.store, kind="user_id")
    group = TraitGroup.objects.get(store=world.store, name="Prefs")
    ids = {
        "store_id": world.store.pk,
        "group_id": group.pk,
        "rule_id": rule.pk,
        "configuration_id": _configuration(world),
        "profile_id": world.profile.pk,
        "observation_id": _observation(world),
    }
    for method, path in _json_routes():
        response = api.raw(method, path.format(**ids), body)
        _refused(response, ["body"], "must be a JSON object")
    world.assert_untouched()


@pytest.mark.parametrize("body", [b'{"name": ', b"\xff\xfe{}", b'{"name": "a"} x'])
def test_a_body_that_is_not_json_is_refused_as_422(api, world, body):
    response = api.raw("post", "/stores", body)
    _refused(response, ["body"])
    world.assert_untouched()


# --- 6. every error is JSON, 500 included ----------------------------------------------------------


def test_an_unexpected_error_answers_json_500_and_logs_the_traceback(api, world, monkeypatch, caplog):
    import workspace.api

    def broken(**kwargs):
        raise RuntimeError("the selector broke")

    monkeypatch.setattr(workspace.api, "store_list", broken)
    with caplog.at_level(logging.ERROR, logger="memory_console.api"):
        response = api.call("get", "/stores")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Internal server error"}
    assert "the selector broke" not in response.content.decode()
    assert any(r.exc_info and "the selector broke" in str(r.exc_info[1]) for r in caplog.records)


def test_a_database_error_that_is_not_busy_answers_json_500(api, world, monkeypatch):
    import workspace.api

    def broken(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(workspace.api, "store_list", broken)
    response = api.call("get", "/stores")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}


# --- 8. query-parameter errors name the query parameter -----------------------------------------


# (No identifier at all lists the store's profiles since issue 19: tests/test_api_profiles_parity.py.)
@pytest.mark.parametrize("query", ["identifier=no-colon", "identifier=email:", "identifier=phone:not-a-phone"])
def test_identifier_query_errors_name_the_query_parameter(api, world, query):
    response = api.call("get", f"/stores/{world.store.pk}/profiles", QUERY_STRING=query)
    _refused(response, ["query", "identifier"])


# --- 9. events: one text rule for names and property values, numbers exact ------------------------


def _event_after(api, world, event):
    body = {"identifiers": {"chat": "ada-chat"}, "events": [{"timestamp": "2026-11-24T10:00:00Z", **event}]}
    response = api.call("post", f"/stores/{world.store.pk}/profiles/identify", body)
    assert response.status_code == 200, response.content
    return Event.objects.filter(profile=world.profile).latest("id")


def test_event_names_and_property_text_are_stored_in_nfc(api, world):
    decomposed = "Jose\u0301"
    event = _event_after(
        api,
        world,
        {"name": f"visited_{decomposed}", "properties": {f"who_{decomposed}": [decomposed, {"x": decomposed}]}},
    )
    assert event.name == "visited_José"
    assert event.properties == {"who_José": ["José", {"x": "José"}]}


def test_property_text_may_hold_line_breaks_and_tabs(api, world):
    event = _event_after(api, world, {"name": "note_added", "properties": {"body": "line 1\r\nline 2\tend"}})
    assert event.properties["body"] == "line 1\r\nline 2\tend"


@pytest.mark.parametrize(
    ("event", "loc", "words"),
    [
        ({"name": "order\u0007placed"}, ["name"], ["U+0007 BELL"]),
        ({"name": "order\nplaced"}, ["name"], ["U+000A LINE FEED"]),
        ({"name": "n" * 129}, ["name"], ["128"]),
        ({"name": "   "}, ["name"], ["needs a name"]),
        ({"name": "ok", "properties": {"sku": "a\u001bb"}}, ["properties", "sku"], ["U+001B ESCAPE"]),
        ({"name": "ok", "properties": {"a\tb": 1}}, ["properties", "a\tb"], ["U+0009 CHARACTER TABULATION"]),
        ({"name": "ok", "properties": {"n": {"deep": ["\u0085"]}}}, ["properties", "n", "deep", 0], ["U+0085"]),
    ],
)
def test_event_text_with_control_characters_is_refused_naming_the_field(api, world, event, loc, words):
    body = {"identifiers": {"chat": "ada-chat"}, "events": [{"name": "first"}, event]}
    response = api.call("post", f"/stores/{world.store.pk}/profiles/identify", body)
    _refused(response, ["body", "events", 1, *loc], *words)
    world.assert_untouched()


def test_an_event_name_of_128_characters_is_kept_whole(api, world):
    event = _event_after(api, world, {"name": "n" * 128})
    assert event.name == "n" * 128


@pytest.mark.parametrize("number", ["123456789012345678.5", "1.0000000000000001", "123456789012345678901234567890"])
def test_event_property_numbers_are_stored_and_answered_exactly(api, world, number):
    body = (
        '{"identifiers": {"chat": "ada-chat"}, "events": [{"name": "paid", "timestamp": "2026-11-24T10:00:00Z", '
        '"properties": {"total": ' + number + "}}]}"
    )
    assert api.raw("post", f"/stores/{world.store.pk}/profiles/identify", body).status_code == 200
    got = api.call("get", f"/stores/{world.store.pk}/profiles/{world.profile.pk}")
    assert '"total":' + number in got.content.decode().replace(" ", "")
    world.assert_readable()


def test_numbers_in_a_body_reach_the_services_exactly(api, world, monkeypatch):
    """The parser decodes with memory_console.jsonvalues.loads and the schema keeps the Decimal."""
    from django.core.exceptions import ValidationError

    import profiles.api

    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise ValidationError("captured")

    monkeypatch.setattr(profiles.api, "profile_identify", capture)
    body = (
        '{"identifiers": {"chat": "ada-chat"}, "traits": {"Prefs": {"score": 123456789012345678.5}}, '
        '"events": [{"name": "paid", "properties": {"total": 1.0000000000000001, "n": [0.1]}}]}'
    )
    assert api.raw("post", f"/stores/{world.store.pk}/profiles/identify", body).status_code == 422
    score = seen["traits"]["Prefs"]["score"]
    total = seen["events"][0]["properties"]["total"]
    assert (type(score), str(score)) == (Decimal, "123456789012345678.5")
    assert (type(total), str(total)) == (Decimal, "1.0000000000000001")
    assert seen["events"][0]["properties"]["n"] == [0.1]


# --- 7. names and descriptions refuse control characters (services: API and console alike) -------


@pytest.mark.parametrize(
    ("path", "body", "loc", "words"),
    [
        ("/stores", {"name": "Acme\u001fEU"}, ["body", "name"], ["U+001F INFORMATION SEPARATOR ONE"]),
        ("/stores", {"name": "Acme", "description": "a\u001bb"}, ["body", "description"], ["U+001B ESCAPE"]),
        ("/stores", {"name": "Acme", "description": "d" * 1001}, ["body", "description"], ["1,000"]),
        ("/stores/{s}/trait-groups", {"name": "Loyalty", "description": "\u0007"}, ["body", "description"], ["BELL"]),
        ("/stores/{s}/trait-groups", {"name": "Loyalty", "description": "d" * 501}, ["body", "description"], ["500"]),
        ("/stores/{s}/trait-groups", {"name": "Loy\u0085alty"}, ["body", "name"], ["U+0085 NEXT LINE"]),
        (
            "/stores/{s}/trait-groups/{g}/traits",
            {"name": "tier", "description": "x\u007f"},
            ["body", "description"],
            ["U+007F DELETE"],
        ),
        ("/stores/{s}/trait-groups/{g}/traits", {"name": "ti\u0001er"}, ["body", "name"], ["U+0001"]),
        ("/stores/{s}/identity-rules", {"name": "Ext\u0002", "kind": "ext_id"}, ["body", "name"], ["U+0002"]),
        ("/stores/{s}/identity-rules", {"name": "E" * 65, "kind": "ext_id"}, ["body", "name"], ["64"]),
    ],
    ids=lambda v: str(v)[:30],
)
def test_names_and_descriptions_with_control_characters_are_refused_through_the_api(api, world, path, body, loc, words):
    response = api.call("post", _path(path, world), body)
    _refused(response, loc, *words)
    world.assert_untouched()


def test_descriptions_keep_line_breaks_and_names_are_stored_in_nfc(api, world):
    created = api.call("post", "/stores", {"name": "Cafe\u0301 Store", "description": "Line 1\nLine\t2"}).json()
    assert (created["name"], created["description"]) == ("Café Store", "Line 1\nLine\t2")
    group = api.call("post", f"/stores/{world.store.pk}/trait-groups", {"name": "Cafe\u0301", "description": "e\u0301"})
    assert (group.json()["name"], group.json()["description"]) == ("Café", "é")
    # the same name typed precomposed is the same name
    again = api.call("post", f"/stores/{world.store.pk}/trait-groups", {"name": "Café"})
    _refused(again, ["body", "name"], "already exists")


@pytest.mark.parametrize(
    ("url", "data", "words"),
    [
        ("/stores/new/", {"name": "Acme\u001fEU", "description": ""}, "U+001F INFORMATION SEPARATOR ONE"),
        ("/stores/new/", {"name": "Acme", "description": "a\u001bb"}, "U+001B ESCAPE"),
        ("/stores/{s}/settings/edit/", {"name": "Renamed", "description": "\u0007", "default_region": "US"}, "BELL"),
        ("/stores/{s}/traits/groups/new/", {"name": "Loyalty", "description": "x\u0008"}, "U+0008 BACKSPACE"),
        (
            "/stores/{s}/traits/groups/{g}/traits/new/",
            {"name": "tier", "data_type": "string", "description": "\u001b[31m"},
            "U+001B ESCAPE",
        ),
    ],
    ids=lambda v: str(v)[:30],
)
def test_the_console_forms_refuse_the_same_control_characters(client, world, admin_user, url, data, words):
    client.force_login(admin_user)
    response = client.post(_path(url, world), data)
    assert response.status_code in (200, 422), response.status_code
    assert words in response.content.decode()
    world.assert_untouched()


@pytest.mark.parametrize(
    ("mapping", "file_name", "loc"),
    [
        ('{"email": "identifier:email", "first\\u0000": "Contact.firstName"}', "people.csv", None),
        ('{"email": "identifier:email"}\u0000', "people.csv", ["form", "mapping"]),
    ],
)
def test_a_nul_in_an_import_upload_is_refused(client, key, world, mapping, file_name, loc):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from imports.models import ProfileImport

    upload = SimpleUploadedFile(file_name, b"email,first\na@example.com,Ada\n", content_type="text/csv")
    response = client.post(
        f"/api/v1/stores/{world.store.pk}/imports",
        {"mapping": mapping, "file": upload},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 422, response.content
    if loc:
        _refused(response, loc, "U+0000 NULL")
    assert not ProfileImport.objects.exists()
    world.assert_untouched()


# --- shapes a parser can choke on ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            '{"identifiers": {"email": "a@example.com"}, "events": [{"name": "x", "properties": {"n": 1%s}}]}'
            % ("0" * 5000),
            "an integer of more than 4,300 digits",
        ),
        (
            '{"identifiers": {"email": "a@example.com"}, "traits": {"Contact": {"x": '
            + "[" * 100
            + "1"
            + "]" * 100
            + "}}}",
            "64 levels",
        ),
        ('{"a": ' + "[" * 100000 + "1" + "]" * 100000 + "}", ""),
    ],
    ids=["5000-digit integer", "100 levels", "100000 levels"],
)
def test_bodies_that_would_choke_a_parser_are_refused_as_422(api, world, body, words):
    response = api.raw("post", f"/stores/{world.store.pk}/profiles/identify", body)
    _refused(response, ["body"], words)
    world.assert_untouched()


@pytest.mark.parametrize(
    "path",
    [
        "/stores/99999999999999999999",
        "/stores/{s}/profiles/99999999999999999999",
        "/stores/9223372036854775808/trait-groups",
    ],
)
def test_ids_beyond_the_database_integer_range_answer_404_or_422(api, world, path):
    response = api.call("get", _path(path, world))
    assert response.status_code in (404, 422), response.content
    assert response["Content-Type"].startswith("application/json")


# --- wrong JSON types in every field of every JSON route: 4xx, never 500 --------------------------

WRONG_VALUES = [None, True, 0, -1, 10**30, "123456789012345678.5", 1.5, "", "x" * 70, [], [None], {}, {"a": {"b": []}}]
WRONG_VALUE_TEXT = [json.dumps(v) for v in WRONG_VALUES] + ["123456789012345678.5", "1e300", "-0.0"]


def _valid_bodies(world):
    rules = list(IdentityRule.objects.filter(store=world.store).order_by("priority").values_list("pk", flat=True))
    identify = {
        "identifiers": {"email": "new@example.com", "chat": ["c1"]},
        "traits": {"Contact": {"firstName": "Ann"}},
        "events": [{"name": "paid", "timestamp": "2026-11-24T10:00:00Z", "properties": {"total": 1}}],
    }
    configuration = {
        "name": "Fuzz",
        "description": "d",
        "lifecycle": "inactive",
        "inactivity_minutes": 5,
        "timeout_minutes": 30,
        "grouping": "addresses",
        "observations_enabled": True,
        "captures": [{"channel": "chat", "address": "fuzz"}],
        "status_callback_urls": ["https://example.com/hook"],
    }
    communication = {
        "channel": "sms",
        "from": "+14155550123",
        "to": "+14155550100",
        "direction": "inbound",
        "body": "hi",
        "timestamp": "2026-11-24T10:00:00Z",
        "external_id": "fuzz-1",
        "author_name": "Ann",
        "media": ["https://example.com/a.png"],
    }
    return {
        ("post", "/stores"): {"name": "Fuzz", "description": "d"},
        ("patch", "/stores/{store_id}"): {"name": "Fuzz store", "description": "d", "default_region": "US"},
        ("post", "/stores/{store_id}/trait-groups"): {"name": "Fuzz", "description": "d"},
        ("post", "/stores/{store_id}/trait-groups/{group_id}/traits"): {
            "name": "fuzz",
            "data_type": "string",
            "description": "d",
        },
        ("post", "/stores/{store_id}/identity-rules"): {
            "name": "Fuzz",
            "kind": "fuzz",
            "limit": 1,
            "source": "api",
            "mapped_traits": [],
        },
        ("put", "/stores/{store_id}/identity-rules/order"): {"rule_ids": rules},
        ("put", "/stores/{store_id}/identity-rules/{rule_id}"): {"name": "Fuzz", "limit": 2, "mapped_traits": []},
        ("post", "/stores/{store_id}/profiles/identify"): identify,
        ("post", "/stores/{store_id}/profiles/identify-batch"): {"items": [identify]},
        ("post", "/stores/{store_id}/conversation-configurations"): configuration,
        ("patch", "/stores/{store_id}/conversation-configurations/{configuration_id}"): configuration,
        ("put", "/stores/{store_id}/conversation-configurations/{configuration_id}/twilio-auth-token"): {
            "token": "0123456789abcdef0123456789abcdef"
        },
        ("post", "/stores/{store_id}/communications"): communication,
        ("post", "/stores/{store_id}/communications/batch"): {"items": [communication]},
        ("patch", "/stores/{store_id}/profiles/{profile_id}/observations/{observation_id}"): {"content": "Prefers SMS"},
        ("patch", "/stores/{store_id}/profiles/{profile_id}"): {"Contact": {"firstName": "Ann", "lastName": None}},
        ("post", "/stores/{store_id}/profiles/{profile_id}/events"): {"events": identify["events"]},
        ("post", "/stores/{store_id}/profiles/{profile_id}/recall"): {
            "query": "peanuts",
            "observationsLimit": 5,
            "summariesLimit": 1,
            "communicationsLimit": 1,
            "beginDate": "2026-01-01T00:00:00Z",
            "endDate": "2026-12-31T00:00:00Z",
            "relevanceThreshold": 0.1,
        },
    }


def _configuration(world) -> int:
    from conversations.models import ConversationConfiguration

    return ConversationConfiguration.objects.get(store=world.store).pk


def _observation(world) -> int:
    """An observation of the world's profile (the PATCH route edits it)."""
    from django.utils import timezone

    from conversations.models import Observation

    now = timezone.now()
    return Observation.objects.create(
        store=world.store,
        profile=world.profile,
        content="Prefers SMS",
        kind="preference",
        source="builtin",
        occurred_at=now,
        created_at=now,
        updated_at=now,
    ).pk


def _paths(value, prefix=()):
    """Every path into a JSON value (dict keys and list positions), the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _paths(item, (*prefix, position))


def _replaced(value, path, text):
    """The JSON text of `value` with the item at `path` replaced by the raw JSON `text`."""
    marker = "@@MARK@@"
    copy = json.loads(json.dumps(value))
    if not path:
        return text
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), text)


def test_no_json_route_answers_500_to_a_wrong_type_in_any_field(api, world):
    rule = IdentityRule.objects.get(store=world.store, kind="user_id")
    group = TraitGroup.objects.get(store=world.store, name="Prefs")
    ids = {
        "store_id": world.store.pk,
        "group_id": group.pk,
        "rule_id": rule.pk,
        "configuration_id": _configuration(world),
        "profile_id": world.profile.pk,
        "observation_id": _observation(world),
    }
    bodies = _valid_bodies(world)
    assert set(bodies) == set(_json_routes()), "a JSON route is missing from this test"
    texts = WRONG_VALUE_TEXT
    failures = []
    for (method, path), body in bodies.items():
        for field_path in list(_paths(body))[1:]:
            for text in texts:
                response = api.raw(method, path.format(**ids), _replaced(body, field_path, text))
                if response.status_code >= 500:
                    failures.append((method, path, field_path, text, response.status_code))
                elif response.status_code == 422:  # each error's loc is a path into the body, as sent
                    for error in response.json()["detail"]:
                        if error["loc"][:1] != ["body"] or "payload" in error["loc"][1:2]:
                            failures.append((method, path, field_path, text, error["loc"]))
    assert not failures, failures[:10]
    world.assert_readable()


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/stores", {"name": 5}, ["body", "name"]),
        ("/stores/{s}/profiles/identify", _identify(events=[{"name": ["x"]}]), ["body", "events", 0, "name"]),
        ("/stores/{s}/identity-rules", {"name": "Ext", "kind": "ext", "limit": "many"}, ["body", "limit"]),
    ],
)
def test_schema_errors_name_the_field_by_its_path_in_the_body(api, world, path, body, loc):
    """The same path the parser and the services use: no handler parameter name inside it."""
    response = api.call("post", _path(path, world), body)
    _refused(response, loc)
    world.assert_untouched()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/no-such-route", 404),
        ("get", "/api/v1/stores/1/profiles/1/nothing", 404),
        ("delete", "/api/v1/stores", 405),
        ("patch", "/api/v1/stores/{s}/profiles/identify", 405),
    ],
)
def test_errors_made_outside_an_endpoint_are_json_too(client, key, world, method, path, status):
    response = getattr(client, method)(_path(path, world), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    if status == 405:
        assert "POST" in response["Allow"] or "GET" in response["Allow"]


def test_console_errors_stay_html(admin_client, world):
    response = admin_client.get("/stores/999999/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "timestamp", [0, 1732442400, "0", "1732442400", "24/11/2026", "2026-11-24T10:00:00+24:00", True]
)
@pytest.mark.parametrize("route", ["identify", "identify-batch"])
def test_a_timestamp_that_is_not_iso_8601_text_is_refused_by_the_schema(api, world, timestamp, route):
    """Not guessed as seconds since 1970 (pydantic's default): the whole request is a 422."""
    item = {"identifiers": {"chat": "ada-chat"}, "events": [{"name": "paid", "timestamp": timestamp}]}
    body = item if route == "identify" else {"items": [item]}
    response = api.call("post", f"/stores/{world.store.pk}/profiles/{route}", body)
    loc = ["body", "events", 0, "timestamp"] if route == "identify" else ["body", "items", 0, "events", 0, "timestamp"]
    _refused(response, loc, "ISO 8601")
    world.assert_untouched()


def test_an_upload_form_with_too_many_fields_answers_413(client, key, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fields = {f"f{n}": "x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    upload = SimpleUploadedFile("people.csv", b"email,first\na@example.com,Ada\n", content_type="text/csv")
    response = client.post(
        f"/api/v1/stores/{world.store.pk}/imports",
        {"mapping": '{"email": "identifier:email"}', "file": upload, **fields},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 413, response.content
    assert "1,000 form fields" in response.json()["detail"]
    world.assert_untouched()


@pytest.mark.parametrize(
    ("time_zone", "sent"),
    [
        # UTC+14: the latest time accepted is shown a day later; an hour before year 10000 was
        # accepted before and then the console page could not show the profile (OverflowError)
        ("Pacific/Kiritimati", "9999-12-30T23:59:59.999999Z"),
        ("Pacific/Kiritimati", "9999-12-31T23:00:00Z"),
        ("Etc/GMT+12", "1900-01-01T00:00:00Z"),  # UTC-12: the earliest time is shown the day before
    ],
)
def test_every_accepted_timestamp_stays_readable_in_every_display_time_zone(api, world, settings, time_zone, sent):
    settings.TIME_ZONE = time_zone
    body = {"identifiers": {"chat": "ada-chat"}, "events": [{"name": "edge", "timestamp": sent}]}
    response = api.call("post", f"/stores/{world.store.pk}/profiles/identify", body)
    assert response.status_code in (200, 422), response.content
    world.assert_readable()
