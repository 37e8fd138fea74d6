from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from identity.models import Identifier
from identity.search import profile_search
from profiles.models import Profile
from profiles.services import event_record, profile_traits_set
from profiles.stamps import trait_stamp
from traits import services as trait_services
from traits.models import Trait


@pytest.fixture
def prefs(store):
    group = trait_services.trait_group_create(store=store, actor=None, name="Prefs")
    for name, data_type in [("age", "number"), ("vip", "boolean"), ("colors", "array"), ("city", "string")]:
        trait_services.trait_create(group=group, actor=None, name=name, data_type=data_type)
    return group


@pytest.fixture
def ada(store, prefs):
    profile = Profile.objects.create(store=store)
    profile_traits_set(
        profile=profile,
        values={
            "Contact": {"firstName": "Ada", "lastName": "Lovelace"},
            "Prefs": {"age": "36", "vip": "yes", "colors": "red;green", "city": "London"},
        },
        source="user:admin@example.com",
    )
    Identifier.objects.create(store=store, profile=profile, kind="email", value="ada@example.com")
    Identifier.objects.create(store=store, profile=profile, kind="phone", value="+14155552671")
    return profile


# --- the trait service -----------------------------------------------------------------------


def test_a_trait_without_a_value_shows_no_source_even_after_its_value_is_deleted(ada):
    from profiles.selectors import profile_trait_rows

    profile_traits_set(profile=ada, values={"Prefs": {"age": None}}, source="api:crm")
    ada.refresh_from_db()
    rows = {
        (group.name, row.trait.name): row for group, group_rows in profile_trait_rows(profile=ada) for row in group_rows
    }
    assert "age" not in ada.traits["Prefs"]
    assert (rows[("Prefs", "age")].changed_at, rows[("Prefs", "age")].source) == (None, None)
    assert rows[("Prefs", "city")].source == "user:admin@example.com"  # values keep theirs


def test_set_traits_types_values_and_records_source_and_time(ada):
    ada.refresh_from_db()
    assert ada.traits["Prefs"] == {"age": 36, "vip": True, "colors": ["red", "green"], "city": "London"}
    stamp, source = trait_stamp(ada.trait_sources, "Prefs", "age")
    assert source == "user:admin@example.com"
    assert abs((datetime.fromisoformat(stamp) - datetime.now(UTC)).total_seconds()) < 60


def test_set_traits_is_all_or_nothing_and_names_every_bad_value(ada):
    with pytest.raises(ValidationError) as info:
        profile_traits_set(
            profile=ada,
            values={
                "Prefs": {"age": "old", "vip": "perhaps", "city": "Paris"},
                "Nope": {"x": 1},
                "Contact": {"zip": 1},
            },
            source="api:test",
        )
    messages = info.value.messages
    assert "Prefs.age: “old” is not a number (expected e.g. 42 or 3.14)" in messages
    assert any(m.startswith("Prefs.vip: “perhaps” is not a boolean") for m in messages)
    assert "Unknown trait group “Nope”." in messages
    assert "Unknown trait “Contact.zip”." in messages
    ada.refresh_from_db()
    assert ada.traits["Prefs"]["city"] == "London"


def test_empty_string_sets_empty_and_marker_removes_the_trait(ada):
    changed = profile_traits_set(
        profile=ada, values={"Prefs": {"city": "", "age": "\\N"}, "Contact": {"lastName": None}}, source="import:3"
    )
    assert sorted(changed) == ["Contact.lastName", "Prefs.age", "Prefs.city"]
    ada.refresh_from_db()
    assert ada.traits["Prefs"]["city"] == ""
    assert "age" not in ada.traits["Prefs"] and "age" not in ada.trait_sources.get("Prefs", {})
    assert "lastName" not in ada.traits["Contact"]
    assert trait_stamp(ada.trait_sources, "Prefs", "city")[1] == "import:3"


def test_an_unchanged_value_keeps_its_original_source(ada):
    assert profile_traits_set(profile=ada, values={"Prefs": {"age": "36.0"}}, source="import:9") == []
    ada.refresh_from_db()
    assert trait_stamp(ada.trait_sources, "Prefs", "age")[1] == "user:admin@example.com"


def test_events_are_recorded_on_the_profile(ada):
    event_record(
        profile=ada,
        name="order_placed",
        timestamp=datetime(2026, 1, 2, tzinfo=UTC),
        properties={"total": 9},
        source="api:x",
    )
    with pytest.raises(ValidationError):
        event_record(profile=ada, name=" ", timestamp=datetime.now(UTC), properties=None, source="api:x")
    assert list(ada.events.values_list("name", "properties")) == [("order_placed", {"total": 9})]


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["ada@example.com", "  ADA@Example.COM ", "email:Ada@example.com"])
def test_search_by_email_in_any_case(store, ada, q):
    assert [p.pk for p in profile_search(store=store, q=q).profiles] == [ada.pk]


@pytest.mark.parametrize("q", ["+14155552671", "(415) 555-2671", "415.555.2671", "+1 415 555 2671", "phone:4155552671"])
def test_search_by_phone_in_any_common_format(store, ada, q):
    assert [p.pk for p in profile_search(store=store, q=q).profiles] == [ada.pk]


@pytest.mark.parametrize(
    "q",
    [
        "Contact.firstName = Ada",
        "Contact.firstName=Ada",
        'Contact.lastName = "Lovelace"',
        "Prefs.age = 36",
        "Prefs.age = 36.0",
        "Prefs.vip = true",
        "Prefs.vip = YES",
        "Prefs.colors = red",
        "Prefs.city = London",
    ],
)
def test_search_by_trait_equality_typed_by_the_trait(store, ada, q):
    other = Profile.objects.create(store=store)
    profile_traits_set(
        profile=other,
        values={
            "Contact": {"firstName": "Grace"},
            "Prefs": {"age": "37", "vip": "no", "colors": "blue", "city": "Lond"},
        },
        source="x:1",
    )
    page = profile_search(store=store, q=q)
    assert page.search.mode == "trait"
    assert [p.pk for p in page.profiles] == [ada.pk]


def test_search_never_crosses_into_another_store(store, ada, account):
    from tests.factories import StoreFactory

    other = StoreFactory(account=account, name="Other")
    twin = Profile.objects.create(store=other, traits={"Contact": {"firstName": "Ada"}})
    Identifier.objects.create(store=other, profile=twin, kind="email", value="ada@example.com")
    assert [p.pk for p in profile_search(store=store, q="ada@example.com").profiles] == [ada.pk]
    assert [p.pk for p in profile_search(store=store, q="Contact.firstName = Ada").profiles] == [ada.pk]


def test_search_with_a_bad_typed_value_explains_it(store, ada):
    page = profile_search(store=store, q="Prefs.age = lots")
    assert page.search.mode == "invalid" and "Prefs.age: “lots” is not a number" in page.search.error


def test_keyset_pages_walk_all_profiles_newest_first_without_counting(store):
    Profile.objects.bulk_create([Profile(store=store) for _ in range(7)])
    ids = list(Profile.objects.filter(store=store).order_by("-id").values_list("id", flat=True))
    seen, after = [], None
    with CaptureQueriesContext(connection) as queries:
        while True:
            page = profile_search(store=store, after=after, limit=3)
            seen += [p.pk for p in page.profiles]
            if page.next_after is None:
                break
            after = page.next_after
    assert seen == ids
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    back = profile_search(store=store, before=ids[3], limit=3)
    assert [p.pk for p in back.profiles] == ids[:3]


# --- pages -----------------------------------------------------------------------------------


def test_profiles_page_lists_searches_and_shows_empty_states(support_client, store, ada):
    url = reverse("profiles:list", args=[store.pk])
    assert b"Ada Lovelace" in support_client.get(url).content
    found = support_client.get(url, {"q": "(415) 555-2671"})
    assert b"Ada Lovelace" in found.content and b"identifier = (415) 555-2671 or +14155552671" in found.content
    none = support_client.get(url, {"q": "nobody@example.com"})
    assert b"No profile matches" in none.content


def test_profiles_page_of_an_empty_store_says_so(admin_client, store):
    response = admin_client.get(reverse("profiles:list", args=[store.pk]))
    assert b"No profiles yet" in response.content


def test_profile_detail_shows_traits_by_group_with_types_sources_and_identifiers(support_client, store, ada):
    response = support_client.get(reverse("profiles:detail", args=[store.pk, ada.pk]))
    html = response.content.decode()
    assert 'data-trait="Prefs.colors"' in html and "red; green" in html
    assert "Console: admin@example.com" in html
    assert "ada@example.com" in html and "+14155552671" in html
    assert "No observations yet" in html and "No summaries yet" in html and "Coming soon" not in html
    assert "Edit" not in html.split('data-trait="Prefs.age"')[1].split("</tr>")[0]  # support: read-only


def test_inline_edit_with_a_bad_number_shows_the_error_then_saves_the_fix(admin_client, store, ada, admin_user):
    trait = Trait.objects.get(store=store, name="age")
    url = reverse("profiles:trait_edit", args=[store.pk, ada.pk, trait.pk])
    form = admin_client.get(url, HTTP_HX_REQUEST="true")
    assert b'value="36"' in form.content
    bad = admin_client.post(url, {"value": "forty"}, HTTP_HX_REQUEST="true")
    assert "Prefs.age: “forty” is not a number" in bad.content.decode()
    ada.refresh_from_db()
    assert ada.traits["Prefs"]["age"] == 36
    good = admin_client.post(url, {"value": "41"}, HTTP_HX_REQUEST="true")
    html = good.content.decode()
    assert '<td data-testid="trait-value">41</td>' in html and f"Console: {admin_user.email}" in html
    ada.refresh_from_db()
    assert (
        ada.traits["Prefs"]["age"] == 41
        and trait_stamp(ada.trait_sources, "Prefs", "age")[1] == f"user:{admin_user.email}"
    )


def test_inline_edit_works_as_a_plain_page_without_javascript(admin_client, store, ada):
    trait = Trait.objects.get(store=store, name="city")
    url = reverse("profiles:trait_edit", args=[store.pk, ada.pk, trait.pk])
    assert b"<html" in admin_client.get(url).content
    response = admin_client.post(url, {"value": "Paris"})
    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.traits["Prefs"]["city"] == "Paris"


@pytest.mark.parametrize("window", [3, 5, 1000])
def test_trait_search_pages_return_every_match_newest_first_whatever_the_scan_window(store, prefs, monkeypatch, window):
    from identity import search as selectors

    monkeypatch.setattr(selectors, "TRAIT_WINDOW", window)
    cities = ["Oslo" if i % 4 == 0 else "Rome" for i in range(23)]  # Oslo is rarer and spread out
    cities[0] = cities[1] = "Lima"  # Lima only among the oldest profiles
    profiles = Profile.objects.bulk_create([Profile(store=store, traits={"Prefs": {"city": city}}) for city in cities])
    for city in ("Oslo", "Rome", "Lima"):
        expected = sorted((p.pk for p in profiles if p.traits["Prefs"]["city"] == city), reverse=True)
        seen, after = [], None
        while True:
            page = profile_search(store=store, q=f"Prefs.city = {city}", after=after, limit=2)
            seen += [p.pk for p in page.profiles]
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == expected, city
