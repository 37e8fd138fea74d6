"""Everything the console does with profiles, the API does too (issue 19, "API: every console action").

- `GET /stores/{id}/profiles` lists (keyset pagination: `after`, `limit` <= 100, `next`) and takes
  the console's search as `q`, finding what the Profiles page finds; `identifier` works as before.
- `PATCH /stores/{id}/profiles/{id}` sets and removes trait values by the console's trait rule.
- `POST /stores/{id}/profiles/{id}/events` adds up to 1,000 events by identify's event rule.
- `GET /stores/{id}/profiles/{id}/merges` is the merge history the profile page shows.

Every write is audited as the API key; another account's store or profile answers 404; hostile
input answers 422 naming the field. Runs on SQLite and on PostgreSQL (DATABASE_URL=postgres://...).
"""

import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from identity.models import Identifier, RuleSource
from identity.services import identity_rule_create, profile_identify
from profiles.models import Event, Profile
from profiles.stamps import trait_stamp
from tests.factories import AccountFactory, StoreFactory
from traits.services import trait_create, trait_group_create


@pytest.fixture
def shop(store):
    """A Shop group with one trait of each type; `member` is mapped to the identity rule `member`."""
    group = trait_group_create(store=store, actor=None, name="Shop")
    traits = {
        name: trait_create(group=group, actor=None, name=name, data_type=data_type)
        for name, data_type in (("points", "number"), ("vip", "boolean"), ("tags", "array"), ("member", "string"))
    }
    identity_rule_create(
        store=store,
        actor=None,
        name="Member",
        kind="member",
        source=RuleSource.TRAITS,
        mapped_traits=[traits["member"]],
    )
    return group


def _identify(store, n: int, **traits) -> Profile:
    return profile_identify(
        store=store,
        identifiers=[("email", f"p{n}@example.com"), ("phone", f"+1415555{n:04d}")],
        traits={"Contact": {"firstName": f"P{n}"}, **traits},
        source="api:seed",
    ).profile


def _profiles(api, store, query: str = ""):
    return api.call("get", f"/stores/{store.pk}/profiles", QUERY_STRING=query)


def _refused(response, loc, *words):
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert loc in [error["loc"] for error in detail], detail
    message = next(error["msg"] for error in detail if error["loc"] == loc)
    for word in words:
        assert word in message, message
    return message


# --- 1. list and search -------------------------------------------------------------------------


def test_without_arguments_the_store_s_profiles_are_listed_newest_first_page_by_page(api, store):
    created = [_identify(store, n).pk for n in range(7)]
    first = _profiles(api, store, "limit=3")
    assert first.status_code == 200, first.content
    body = first.json()
    assert [p["id"] for p in body["profiles"]] == created[::-1][:3]
    assert body["search"] == {"mode": "all", "description": ""}
    assert body["next"] == created[4]
    seen, after = [], None
    while True:
        page = _profiles(api, store, "limit=3" + (f"&after={after}" if after else "")).json()
        seen += [p["id"] for p in page["profiles"]]
        after = page["next"]
        if after is None:
            break
    assert seen == created[::-1]
    listed = body["profiles"][0]
    assert listed["traits"] == {"Contact": {"firstName": "P6"}}
    assert {"kind": "email", "value": "p6@example.com"} in listed["identifiers"]
    assert set(listed) == {"id", "traits", "identifiers", "created_at", "updated_at"}
    default = _profiles(api, store).json()  # 50 by default, like the console's page
    assert len(default["profiles"]) == 7 and default["next"] is None


def test_merged_away_profiles_are_not_listed(api, store):
    a = _identify(store, 1)
    b = profile_identify(store=store, identifiers=[("chat", "b")], source="api:seed").profile
    profile_identify(store=store, identifiers=[("chat", "b"), ("email", "p1@example.com")], source="api:seed")
    listed = [p["id"] for p in _profiles(api, store).json()["profiles"]]
    assert len(listed) == 1 and listed[0] in (a.pk, b.pk)


@pytest.mark.parametrize(
    "query",
    [
        "(415) 555-0003",  # a phone in any format
        "P3@EXAMPLE.com",  # an email in any case
        "email:p3@example.com",  # kind:value
        "Contact.firstName = P3",  # group.trait = value
        "Shop.points = 1.0",  # numbers match exactly however written
        "Shop.tags = red",  # an array holds the item
        "Shop.vip = yes",
        "nobody@example.com",
    ],
)
def test_q_finds_what_the_console_s_profiles_search_finds(api, admin_client, store, shop, query):
    for n in range(5):
        _identify(store, n, Shop={"points": n, "vip": n == 3, "tags": ["red"] if n in (1, 3) else ["blue"]})
    answer = _profiles(api, store, "q=" + _quoted(query))
    assert answer.status_code == 200, answer.content
    page = admin_client.get(reverse("profiles:list", args=[store.pk]), {"q": query}).context["page"]
    assert [p["id"] for p in answer.json()["profiles"]] == [p.pk for p in page.profiles]
    assert answer.json()["search"] == {"mode": page.search.mode, "description": page.search.description}
    if query != "nobody@example.com":
        assert answer.json()["profiles"], "the search found something"


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


def test_a_number_search_is_exact_with_every_digit(api, store, shop):
    exact = _identify(store, 1, Shop={"points": Decimal("123456789012345678.5")})
    _identify(store, 2, Shop={"points": Decimal("123456789012345678.6")})
    answer = _profiles(api, store, "q=" + _quoted("Shop.points = 123456789012345678.50")).json()
    assert [p["id"] for p in answer["profiles"]] == [exact.pk]
    raw = _profiles(api, store, "q=" + _quoted("Shop.points = 123456789012345678.50")).content
    assert b"123456789012345678.5" in raw  # answered with every digit


def test_a_search_pages_with_the_same_cursor(api, store):
    ids = [_identify(store, n).pk for n in range(5)]
    query = "q=" + _quoted("Contact.firstName = P2")
    assert [p["id"] for p in _profiles(api, store, query).json()["profiles"]] == [ids[2]]
    for n in range(5, 8):
        profile_identify(
            store=store, identifiers=[("chat", f"c{n}")], traits={"Contact": {"firstName": "Same"}}, source="s"
        )
    query = "q=" + _quoted("Contact.firstName = Same")
    first = _profiles(api, store, query + "&limit=2").json()
    second = _profiles(api, store, query + f"&limit=2&after={first['next']}").json()
    assert len(first["profiles"]) == 2 and len(second["profiles"]) == 1 and second["next"] is None


def test_a_long_run_of_spaces_in_q_is_read_at_once(api, store):
    """The trait form `group.trait = value` is split at the first "=": the regular expression it
    replaced took time quadratic in a run of spaces (50,000 took 2.25 s here, 200,000 would take ~36 s)."""
    started = time.monotonic()
    answer = _profiles(api, store, "q=" + _quoted("a" + " " * 200_000 + "b = c"))
    assert answer.status_code == 200 and answer.json()["profiles"] == []
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("query", "loc", "words"),
    [
        ("q=phone:not-a-phone", ["query", "q"], ["phone"]),
        ("q=" + _quoted("Shop.points = many"), ["query", "q"], ["Shop.points"]),
        ("q=a%00b", ["query", "q"], ["U+0000"]),
        ("limit=101", ["query", "limit"], []),
        ("limit=0", ["query", "limit"], []),
        ("limit=ten", ["query", "limit"], []),
        ("after=0", ["query", "after"], []),
        ("after=1.5", ["query", "after"], []),
        ("after=99999999999999999999999", ["query", "after"], []),
        ("identifier=email:a@example.com&q=x", ["query", "q"], ["identifier"]),
        ("identifier=email:a@example.com&limit=5", ["query", "limit"], ["identifier"]),
    ],
)
def test_bad_list_parameters_answer_422_naming_the_parameter(api, store, shop, query, loc, words):
    _refused(_profiles(api, store, query), loc, *words)


def test_the_identifier_lookup_answers_one_profile_as_before(api, store):
    profile = _identify(store, 1)
    found = _profiles(api, store, "identifier=email:P1@EXAMPLE.com")
    assert found.status_code == 200 and found.json()["id"] == profile.pk
    assert {"traits", "identifiers", "events", "merges", "merged_into"} <= set(found.json())
    assert _profiles(api, store, "identifier=email:z@example.com").status_code == 404
    _refused(_profiles(api, store, "identifier="), ["query", "identifier"])


# --- 2. PATCH traits ------------------------------------------------------------------------------


def _patch(api, store, profile_id, body):
    return api.call("patch", f"/stores/{store.pk}/profiles/{profile_id}", body)


def test_patch_sets_changes_and_removes_traits_by_the_console_s_rule(api, store, shop):
    profile = _identify(store, 1, Contact={"firstName": "Ada", "lastName": "Lovelace"})
    response = _patch(
        api,
        store,
        profile.pk,
        {"Contact": {"firstName": "Ada", "lastName": None}, "Shop": {"points": "12.50", "vip": "yes", "tags": "a;b"}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["profile_id"] == profile.pk
    assert sorted(body["changed_traits"]) == ["Contact.lastName", "Shop.points", "Shop.tags", "Shop.vip"]
    assert body["traits"] == {
        "Contact": {"firstName": "Ada"},
        "Shop": {"points": 12.5, "vip": True, "tags": ["a", "b"]},
    }
    profile.refresh_from_db()
    assert profile.traits["Shop"]["points"] == Decimal("12.50") and "lastName" not in profile.traits["Contact"]
    assert trait_stamp(profile.trait_sources, "Shop", "vip")[1] == "api:CRM sync"
    assert trait_stamp(profile.trait_sources, "Contact", "firstName")[1] == "api:seed"  # unchanged: its old source
    got = api.call("get", f"/stores/{store.pk}/profiles/{profile.pk}").json()
    assert got["traits"] == body["traits"]
    again = _patch(api, store, profile.pk, {"Shop": {"vip": True}})
    assert again.json()["changed_traits"] == []


def test_patch_is_audited_as_the_key_naming_traits_not_values(api, store, shop):
    profile = _identify(store, 1)
    _patch(api, store, profile.pk, {"Contact": {"lastName": "Secretname"}})
    event = AuditEvent.objects.get(action="profile.traits_update")
    assert event.actor_label == "API key “CRM sync”" and event.store_id == store.pk
    assert "Contact.lastName" in event.summary and f"#{profile.pk}" in event.summary
    assert "Secretname" not in event.summary + json.dumps(event.details)
    _patch(api, store, profile.pk, {"Contact": {"lastName": "Secretname"}})  # no change: nothing to record
    assert AuditEvent.objects.filter(action="profile.traits_update").count() == 1


def test_patch_a_mapped_trait_identifies_the_profile_as_the_console_edit_does(api, store, shop):
    profile = _identify(store, 1)
    other = _identify(store, 2, Shop={"member": "M-2"})
    body = _patch(api, store, profile.pk, {"Shop": {"member": "M-1"}}).json()
    assert body["added_identifiers"] == ["member:M-1"]
    assert Identifier.objects.get(store=store, kind="member", value="M-1").profile_id == profile.pk
    held = _patch(api, store, profile.pk, {"Shop": {"member": "M-2"}}).json()  # another profile holds it: no merge
    assert [note["code"] for note in held["dropped_identifiers"]] == ["held_elsewhere"]
    assert Profile.objects.get(pk=other.pk).merged_into_id is None


def test_patch_on_a_merged_away_id_changes_the_profile_it_was_merged_into(api, store):
    a = profile_identify(store=store, identifiers=[("chat", "a")], source="s").profile
    b = profile_identify(store=store, identifiers=[("email", "b@example.com")], source="s").profile
    live = profile_identify(store=store, identifiers=[("email", "b@example.com"), ("chat", "a")], source="s").profile
    gone = a if live.pk == b.pk else b
    response = _patch(api, store, gone.pk, {"Contact": {"firstName": "Merged"}})
    assert response.json()["profile_id"] == live.pk
    assert Profile.objects.get(pk=live.pk).traits["Contact"]["firstName"] == "Merged"


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"Nope": {"x": 1}}, ["body", "Nope"], ["Unknown trait group", "Nope"]),
        ({"Contact": {"nosuch": "x"}}, ["body", "Contact", "nosuch"], ["Unknown trait", "Contact.nosuch"]),
        ({"Contact": 5}, ["body", "Contact"], ["object"]),
        ({"Contact": ["firstName"]}, ["body", "Contact"], ["object"]),
        ({"Contact": None}, ["body", "Contact"], ["object"]),
        ({"Contact": {"firstName": {"a": 1}}}, ["body", "Contact", "firstName"], ["Contact.firstName"]),
        ({"Contact": {"firstName": 1.5}}, ["body", "Contact", "firstName"], ["Contact.firstName"]),
        ({"Contact": {"firstName": "bell\x07"}}, ["body", "Contact", "firstName"], ["U+0007"]),
        ({"Contact": {"firstName": "a\x00b"}}, ["body", "Contact", "firstName"], ["U+0000"]),
        ({"Contact\x00": {"firstName": "a"}}, ["body", "Contact\x00"], ["U+0000"]),
        ({"Shop": {"points": "many"}}, ["body", "Shop", "points"], ["Shop.points"]),
        ({"Shop": {"points": "1,234.5"}}, ["body", "Shop", "points"], ["1234.5"]),
        ({"Shop": {"vip": "maybe"}}, ["body", "Shop", "vip"], ["Shop.vip"]),
        ({"Shop": {"tags": [{"a": 1}]}}, ["body", "Shop", "tags"], ["Shop.tags"]),
        ({"Shop": {"member": "M\u200b2"}}, ["body", "Shop", "member"], ["U+200B"]),
        ({"Contact": {"firstName": "x" * 1_048_577}}, ["body", "Contact", "firstName"], ["Contact.firstName"]),
    ],
)
def test_patch_hostile_input_answers_422_naming_the_field_and_changes_nothing(api, store, shop, body, loc, words):
    profile = _identify(store, 1)
    before = Profile.objects.get(pk=profile.pk)
    good_and_bad = {"Shop": {"vip": True}, **body} if "Shop" not in body else {**body, "Contact": {"firstName": "New"}}
    _refused(_patch(api, store, profile.pk, good_and_bad), loc, *words)
    after = Profile.objects.get(pk=profile.pk)
    assert (after.traits, after.trait_sources, after.updated_at) == (
        before.traits,
        before.trait_sources,
        before.updated_at,
    )
    assert not Identifier.objects.filter(kind="member").exists()
    assert not AuditEvent.objects.filter(action="profile.traits_update").exists()


@pytest.mark.parametrize("raw", ["[]", "5", "null", '"x"', "{", '{"Contact": {"firstName": NaN}}'])
def test_patch_a_body_that_is_no_json_object_answers_422(api, store, raw):
    profile = _identify(store, 1)
    response = api.raw("patch", f"/stores/{store.pk}/profiles/{profile.pk}", raw)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][0] == "body"


# --- 3. events ------------------------------------------------------------------------------------


def _events(api, store, profile_id, body):
    return api.call("post", f"/stores/{store.pk}/profiles/{profile_id}/events", body)


def test_events_are_added_in_order_by_identify_s_rule_and_audited(api, store):
    profile = _identify(store, 1)
    response = _events(
        api,
        store,
        profile.pk,
        {
            "events": [
                {"name": "order_placed", "timestamp": "2026-11-24T10:00:00+01:00", "properties": {"total": 42.5}},
                {"name": "Jose\u0301 called"},
            ]
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["profile_id"] == profile.pk
    assert [e["name"] for e in body["events"]] == ["order_placed", "Jos\u00e9 called"]
    assert body["events"][0]["timestamp"].startswith("2026-11-24T09:00:00")
    assert body["events"][0]["source"] == "api:CRM sync"
    stored = list(Event.objects.filter(profile=profile, source="api:CRM sync").order_by("id"))
    assert [e.name for e in stored] == ["order_placed", "Jos\u00e9 called"]
    assert stored[0].properties == {"total": Decimal("42.5")} or stored[0].properties == {"total": 42.5}
    audit = AuditEvent.objects.get(action="profile.events_add")
    assert audit.actor_label == "API key “CRM sync”" and "Added 2 events" in audit.summary
    assert "42.5" not in audit.summary + json.dumps(audit.details, default=str)
    got = api.call("get", f"/stores/{store.pk}/profiles/{profile.pk}").json()
    assert {"order_placed", "Jos\u00e9 called"} <= {e["name"] for e in got["events"]}


def test_a_thousand_events_are_taken_and_one_more_is_refused_whole(api, store):
    profile = _identify(store, 1)
    before = Event.objects.count()
    many = {"events": [{"name": f"e{n}", "timestamp": "2026-11-24T10:00:00Z"} for n in range(1001)]}
    _refused(_events(api, store, profile.pk, many), ["body", "events"], "1,000")
    assert Event.objects.count() == before
    many["events"].pop()
    assert _events(api, store, profile.pk, many).status_code == 201
    assert Event.objects.count() == before + 1000


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"events": []}, ["body", "events"], ["at least one"]),
        ({}, ["body", "events"], []),
        ({"events": "x"}, ["body", "events"], []),
        ({"events": [5]}, ["body", "events", 0, "name"], []),  # ninja reads 5 as an event without fields
        ({"events": [{"name": "ok"}, {"name": ["x"]}]}, ["body", "events", 1, "name"], []),
        ({"events": [{"name": ""}]}, ["body", "events", 0, "name"], ["name"]),
        ({"events": [{"name": "n" * 129}]}, ["body", "events", 0, "name"], ["128"]),
        ({"events": [{"name": "bell\x07"}]}, ["body", "events", 0, "name"], ["U+0007"]),
        ({"events": [{"name": "a\x00"}]}, ["body", "events", 0, "name"], ["U+0000"]),
        ({"events": [{"name": "x", "timestamp": 1732442400}]}, ["body", "events", 0, "timestamp"], []),
        ({"events": [{"name": "x", "timestamp": "9999-12-31T23:59:59-10:00"}]}, ["body", "events", 0, "timestamp"], []),
        ({"events": [{"name": "x", "properties": []}]}, ["body", "events", 0, "properties"], []),
        ({"events": [{"name": "x", "properties": {"k": "bell\x07"}}]}, ["body", "events", 0, "properties", "k"], []),
    ],
)
def test_bad_events_answer_422_naming_each_and_store_nothing(api, store, body, loc, words):
    profile = _identify(store, 1)
    before = Event.objects.count()
    _refused(_events(api, store, profile.pk, body), loc, *words)
    assert Event.objects.count() == before
    assert not AuditEvent.objects.filter(action="profile.events_add").exists()


# --- 4. merge history -----------------------------------------------------------------------------


def test_merges_answer_the_profile_s_history_as_the_console_shows_it(api, admin_client, store):
    ids = [profile_identify(store=store, identifiers=[("chat", f"c{n}")], source="s").profile.pk for n in range(3)]
    live = None
    for n in (1, 2):
        live = profile_identify(store=store, identifiers=[("chat", "c0"), ("chat", f"c{n}")], source="api:k").profile
    response = api.call("get", f"/stores/{store.pk}/profiles/{live.pk}/merges")
    assert response.status_code == 200, response.content
    body = response.json()
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, live.pk])).context["merges"]
    assert [m["from_profile_id"] for m in body["merges"]] == [m.from_profile_id for m in page]
    assert {m["from_profile_id"] for m in body["merges"]} == set(ids) - {live.pk}
    assert body["profile_id"] == live.pk and body["next"] is None
    assert body["merges"][0]["source"] == "api:k" and body["merges"][0]["matching_identifiers"]
    first = api.call("get", f"/stores/{store.pk}/profiles/{live.pk}/merges", QUERY_STRING="limit=1").json()
    second = api.call(
        "get", f"/stores/{store.pk}/profiles/{live.pk}/merges", QUERY_STRING=f"limit=1&after={first['next']}"
    ).json()
    assert [m["id"] for m in first["merges"] + second["merges"]] == [m["id"] for m in body["merges"]]
    assert second["next"] is None
    gone = body["merges"][0]["from_profile_id"]  # a merged-away id reads its primary's history
    assert api.call("get", f"/stores/{store.pk}/profiles/{gone}/merges").json()["profile_id"] == live.pk
    lonely = _identify(store, 9)
    assert api.call("get", f"/stores/{store.pk}/profiles/{lonely.pk}/merges").json()["merges"] == []
    _refused(
        api.call("get", f"/stores/{store.pk}/profiles/{live.pk}/merges", QUERY_STRING="limit=101"), ["query", "limit"]
    )


# --- 5. tenant walls and the published document ----------------------------------------------------


def _new_routes(store_id, profile_id):
    base = f"/stores/{store_id}/profiles"
    return [
        ("get", base, None),
        ("patch", f"{base}/{profile_id}", {"Contact": {"firstName": "Mallory"}}),
        ("post", f"{base}/{profile_id}/events", {"events": [{"name": "x"}]}),
        ("get", f"{base}/{profile_id}/merges", None),
    ]


def test_another_account_s_store_or_profile_answers_404_and_is_untouched(api, account, store):
    mine = _identify(store, 1)
    foreign_store = StoreFactory(account=AccountFactory())
    foreign = _identify(foreign_store, 2)
    sibling_store = StoreFactory(account=account)  # the key's account, but not the profile's store
    for store_id, profile_id in ((foreign_store.pk, foreign.pk), (store.pk, foreign.pk), (sibling_store.pk, mine.pk)):
        for method, path, body in _new_routes(store_id, profile_id):
            if method == "get" and path.endswith("/profiles") and store_id != foreign_store.pk:
                continue  # the key's own store: a list, not a wall
            response = api.call(method, path, body)
            assert response.status_code == 404, (method, path, response.content)
            assert response.json() == {"detail": response.json()["detail"]}
    foreign.refresh_from_db()
    assert foreign.traits["Contact"]["firstName"] == "P2"
    assert not Event.objects.filter(profile=foreign, name="x").exists()
    mine.refresh_from_db()
    assert mine.traits["Contact"]["firstName"] == "P1"
    assert not AuditEvent.objects.filter(action__startswith="profile.").exists()


def test_the_new_routes_need_a_key(client, store):
    profile = _identify(store, 1)
    for method, path, body in _new_routes(store.pk, profile.pk):
        extra = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
        assert getattr(client, method)(f"/api/v1{path}", **extra).status_code == 401


def test_the_new_routes_are_in_the_openapi_document_with_their_statuses(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    base = "/api/v1/stores/{store_id}/profiles"
    expected = {
        (base, "get"): {"200", "401", "404", "422"},
        # 403: a read-only key is refused every write (memory_console.openapi)
        (base + "/{profile_id}", "patch"): {"200", "401", "403", "404", "413", "422", "503"},
        (base + "/{profile_id}/events", "post"): {"201", "401", "403", "404", "413", "422", "503"},
        (base + "/{profile_id}/merges", "get"): {"200", "401", "404", "422"},
    }
    for (path, method), statuses in expected.items():
        assert set(paths[path][method]["responses"]) == statuses, (method, path)
    listing = paths[base]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"store_id", "identifier", "q", "after", "limit"}
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 100
