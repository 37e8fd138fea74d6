"""The Profiles search box (issue 19, Console: "Search box" and "Free-text search by name").

- `loyalty.tier = GOLD` finds what `Loyalty.tier = GOLD` finds: group and trait names match in any
  case (values do not); two traits differing only by case ask for the exact spelling.
- `Loyalty.nosuch = 1` says "No trait Loyalty.nosuch in this store." (the page shows it; the API
  answers 422 at ["query", "q"]) instead of an identifier search with no result.
- An array trait matches by item, and the search says "Loyalty.tags holds GOLD".
- Plain words also find the start of Contact.firstName / lastName, accents and case ignored.
- The first page says how many profiles match: exactly when they fit the page, else a count
  capped at 1,000 ("1,000+").
Runs on SQLite and on PostgreSQL (DATABASE_URL=postgres://...).
"""

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from identity import search as search_module
from identity.search import fold_name, profile_search
from identity.services import profile_identify
from tests.factories import StoreFactory
from traits.models import Trait, TraitGroup
from traits.services import trait_create, trait_group_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def loyalty(store):
    group = trait_group_create(store=store, actor=None, name="Loyalty")
    trait_create(group=group, actor=None, name="tier", data_type="string")
    trait_create(group=group, actor=None, name="tags", data_type="array")
    return group


def _person(store, n, first, last, **traits):
    return profile_identify(
        store=store,
        identifiers=[("email", f"p{n}@example.com")],
        traits={"Contact": {"firstName": first, "lastName": last}, **traits},
        source="api:seed",
    ).profile


def _ids(store, q, **kwargs):
    return sorted(p.pk for p in profile_search(store=store, q=q, **kwargs).profiles)


def test_group_and_trait_names_match_in_any_case_values_do_not(store, loyalty):
    gold = _person(store, 1, "Ada", "Lovelace", Loyalty={"tier": "GOLD"})
    _person(store, 2, "Alan", "Turing", Loyalty={"tier": "silver"})
    for q in ("Loyalty.tier = GOLD", "loyalty.tier = GOLD", "LOYALTY.TIER=GOLD"):
        page = profile_search(store=store, q=q)
        assert [p.pk for p in page.profiles] == [gold.pk], q
        assert page.search.mode == "trait" and page.search.description == "Loyalty.tier = GOLD"
    assert _ids(store, "loyalty.tier = gold") == []


def test_names_differing_only_by_case_ask_for_the_exact_spelling(store, loyalty):
    # The trait services refuse such names (`name__iexact`); rows written before that rule may hold them.
    other = TraitGroup.objects.create(store=store, name="LOYALTY")
    Trait.objects.create(store=store, group=other, name="tier", data_type="string")
    page = profile_search(store=store, q="loyalty.tier = GOLD")
    assert page.search.mode == "invalid"
    assert (
        page.search.error
        == "loyalty.tier could be any of LOYALTY.tier, Loyalty.tier: write the name with its capitals."
    )
    assert profile_search(store=store, q="LOYALTY.tier = GOLD").search.mode == "trait"


def test_an_unknown_trait_is_said_not_searched_as_an_identifier(store, loyalty):
    _person(store, 1, "Ada", "Lovelace")
    page = profile_search(store=store, q="Loyalty.nosuch = 1")
    assert page.search.mode == "invalid"
    assert page.search.error == "No trait Loyalty.nosuch in this store."
    assert page.profiles == []
    # An email with "=" before the "@" is still an email.
    address = "first.last=x@example.com"
    found = profile_identify(store=store, identifiers=[("email", address)], source="api:seed").profile
    assert _ids(store, address) == [found.pk]


def test_an_array_trait_matches_by_item_and_says_so(store, loyalty):
    tagged = _person(store, 1, "Ada", "Lovelace", Loyalty={"tags": ["GOLD", "early"]})
    _person(store, 2, "Alan", "Turing", Loyalty={"tags": ["silver"]})
    page = profile_search(store=store, q="loyalty.TAGS = GOLD")
    assert [p.pk for p in page.profiles] == [tagged.pk]
    assert page.search.description == "Loyalty.tags holds GOLD"


def test_the_profiles_page_shows_the_messages(admin_client, store, loyalty):
    _person(store, 1, "Ada", "Lovelace", Loyalty={"tags": ["GOLD"]})
    url = reverse("profiles:list", args=[store.pk])
    body = admin_client.get(url, {"q": "Loyalty.nosuch = 1"}).content.decode()
    assert "No trait Loyalty.nosuch in this store." in body
    body = admin_client.get(url, {"q": "loyalty.tags = GOLD"}).content.decode()
    assert "Matches profiles whose Loyalty.tags holds GOLD" in body and "1 profile<" in body


def test_the_api_answers_422_naming_q_for_an_unknown_trait(api, store, loyalty):
    answer = api.call("get", f"/stores/{store.pk}/profiles", QUERY_STRING="q=Loyalty.nosuch%20%3D%201")
    assert answer.status_code == 422
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["query", "q"] and "No trait Loyalty.nosuch in this store." in detail["msg"]


def test_fold_name_drops_accents_and_case():
    assert fold_name("José") == fold_name("Jose\u0301") == fold_name("JOSE") == "jose"
    assert fold_name("Øyvind") == "øyvind"  # no combining mark to drop: as is, lower-cased


def test_words_find_the_start_of_first_or_last_names_without_accents(store):
    jose = _person(store, 1, "José", "Núñez")
    joseph = _person(store, 2, "Joseph", "Smith")
    ada = _person(store, 3, "Ada", "Josephs")
    _person(store, 4, "Grace", "Hopper")
    assert _ids(store, "jose") == sorted([jose.pk, joseph.pk, ada.pk])
    assert _ids(store, "JOSÉ") == sorted([jose.pk, joseph.pk, ada.pk])
    assert _ids(store, "nunez") == [jose.pk]
    assert _ids(store, "jose nu") == [jose.pk]  # first name, then the start of the last
    assert _ids(store, "ose") == []  # by prefix only
    assert _ids(store, "jo%") == [] and _ids(store, "j_se") == []  # LIKE wildcards are literal
    page = profile_search(store=store, q="jose")
    assert page.search.mode == "identifier" and page.search.description.endswith("or name starting with jose")


def test_a_name_search_stays_in_its_store(store):
    _person(store, 1, "José", "Núñez")
    elsewhere = StoreFactory(account=store.account)
    assert _ids(elsewhere, "jose") == []


def test_identifiers_still_match_alongside_names(store):
    ada = _person(store, 1, "Ada", "Lovelace")
    chat = profile_identify(store=store, identifiers=[("chat", "ada")], source="api:seed").profile
    assert _ids(store, "ada") == sorted([ada.pk, chat.pk])
    assert _ids(store, "p1@example.com") == [ada.pk]


def test_the_total_is_exact_on_one_page_and_capped_beyond(store, monkeypatch):
    for n in range(5):
        _person(store, n, f"Jo{n}", "Doe")
    page = profile_search(store=store, q="jo")
    assert (page.total, page.total_capped) == (5, False)
    page = profile_search(store=store, q="doe", limit=2)
    assert (page.total, page.total_capped) == (5, False)
    monkeypatch.setattr(search_module, "COUNT_CAP", 3)
    page = profile_search(store=store, q="doe", limit=2)
    assert (page.total, page.total_capped) == (3, True)
    assert profile_search(store=store, q="doe", limit=2, after=page.next_after).total is None


def test_the_page_shows_a_capped_total_as_1000_plus(store):
    _person(store, 1, "Jo", "Doe")
    page = profile_search(store=store, q="doe")
    page.total, page.total_capped = 1_000, True  # what COUNT_CAP + 1 matches give
    html = render_to_string("profiles/_results.html", {"page": page, "q": "doe", "current_store": store})
    assert "1,000+ profiles" in html
