"""Names given in any Unicode form find what is stored in NFC; mapped-trait identifiers (blank is
empty, errors name the trait); invisible characters in store names; strict integers in the API."""

import pytest
from django.urls import reverse

from identity.models import Identifier, IdentityRule, RuleSource
from identity.services import identity_rule_create
from profiles.models import Profile
from stores.models import Store
from traits.services import trait_create, trait_group_create

NFD_GROUP = "GJose\u0301"  # stored as "GJosé"
NFD_TRAIT = "cafe\u0301"  # stored as "café"


@pytest.fixture
def accented(api, store):
    """A group and a trait created through the API with names in NFD (stored in NFC)."""
    group = api.call("post", f"/stores/{store.pk}/trait-groups", {"name": NFD_GROUP})
    assert group.status_code == 201 and group.json()["name"] == "GJosé"
    trait = api.call("post", f"/stores/{store.pk}/trait-groups/{group.json()['id']}/traits", {"name": NFD_TRAIT})
    assert trait.status_code == 201 and trait.json()["name"] == "café"
    return trait.json()


@pytest.fixture
def member_rule(store):
    group = trait_group_create(store=store, actor=None, name="Shop")
    member = trait_create(group=group, actor=None, name="member", data_type="string")
    identity_rule_create(
        store=store, actor=None, name="Member", kind="member", source=RuleSource.TRAITS, mapped_traits=[member]
    )
    return member


# --- 1. lookups by name read the name in NFC ------------------------------------------------------


@pytest.mark.parametrize(
    "traits", [{NFD_GROUP: {NFD_TRAIT: "x"}}, {"GJosé": {NFD_TRAIT: "x"}}, {NFD_GROUP: {"café": "x"}}]
)
def test_identify_finds_a_group_and_trait_named_in_nfd(api, store, accented, traits):
    response = api.call(
        "post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"email": "a@example.com"}, "traits": traits}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["changed_traits"] == ["GJosé.café"]
    assert Profile.objects.get(pk=response.json()["profile_id"]).traits == {"GJosé": {"café": "x"}}


def test_one_trait_given_in_two_unicode_forms_is_refused_not_silently_one(api, store, accented):
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "a@example.com"}, "traits": {"GJosé": {"café": "x", NFD_TRAIT: "y"}}},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "given twice" in detail[0]["msg"] and detail[0]["loc"] == ["body", "traits", "GJosé", NFD_TRAIT]
    assert not Profile.objects.filter(store=store).exists()


def test_an_identity_rule_maps_a_trait_named_in_nfd(api, store, accented):
    body = {"name": "Cafe", "kind": "cafe", "source": "traits", "mapped_traits": [f"{NFD_GROUP}.{NFD_TRAIT}"]}
    created = api.call("post", f"/stores/{store.pk}/identity-rules", body)
    assert created.status_code == 201, created.json()
    assert created.json()["mapped_traits"] == ["GJosé.café"]
    updated = api.call(
        "put",
        f"/stores/{store.pk}/identity-rules/{created.json()['id']}",
        {"name": "Cafe", "limit": 2, "mapped_traits": [f"GJosé.{NFD_TRAIT}"]},
    )
    assert updated.status_code == 200 and updated.json()["mapped_traits"] == ["GJosé.café"]


def test_the_console_search_finds_a_trait_named_in_nfd(admin_client, api, store, accented):
    found = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "a@example.com"}, "traits": {"GJosé": {"café": "x"}}},
    ).json()["profile_id"]
    other = api.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"email": "b@example.com"}})
    page = admin_client.get(reverse("profiles:list", args=[store.pk]), {"q": f"{NFD_GROUP}.{NFD_TRAIT} = x"})
    html = page.content.decode()
    assert "GJosé.café = x" in html
    assert reverse("profiles:detail", args=[store.pk, found]) in html
    assert reverse("profiles:detail", args=[store.pk, other.json()["profile_id"]]) not in html


# --- 2. a blank mapped value makes no identifier ---------------------------------------------------


@pytest.mark.parametrize("blank", ["   ", "\u00a0", "\u200b", ""])
def test_a_blank_mapped_trait_value_sets_the_trait_and_makes_no_identifier(api, store, member_rule, blank):
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "a@example.com"}, "traits": {"Shop": {"member": blank}}},
    )
    assert response.status_code == 200, response.json()
    profile = Profile.objects.get(pk=response.json()["profile_id"])
    assert "member" in profile.traits["Shop"]
    assert list(Identifier.objects.filter(profile=profile).values_list("kind", flat=True)) == ["email"]


def test_a_blank_mapped_trait_value_in_a_batch_makes_no_identifier(api, store, member_rule):
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify-batch",
        {
            "items": [
                {"identifiers": {"email": "a@example.com"}, "traits": {"Shop": {"member": "  "}}},
                {"identifiers": {"email": "b@example.com"}, "traits": {"Shop": {"member": "M\u200b2"}}},
            ]
        },
    )
    assert response.status_code == 200, response.json()
    ok, bad = response.json()["results"]
    assert ok["ok"] and ok["errors"] == []
    assert [error["loc"] for error in bad["errors"]] == [["body", "items", 1, "traits", "Shop", "member"]]
    assert not Identifier.objects.filter(store=store, kind="member").exists()


def test_a_blank_mapped_trait_value_edited_in_the_console_makes_no_identifier(admin_client, api, store, member_rule):
    profile_id = api.call(
        "post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"email": "a@example.com"}}
    ).json()["profile_id"]
    url = reverse("profiles:trait_edit", args=[store.pk, profile_id, member_rule.pk])
    response = admin_client.post(url, {"value": "\u00a0 "})
    assert response.status_code in (200, 302)
    assert "is empty" not in response.content.decode()
    assert not Identifier.objects.filter(store=store, kind="member").exists()


# --- 3. a mapped-trait identifier error names the trait --------------------------------------------


def test_a_bad_mapped_trait_identifier_names_the_trait_in_the_request(api, store, member_rule):
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "a@example.com"}, "traits": {"Shop": {"member": "M\u200b2"}}},
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "traits", "Shop", "member"]
    assert "Shop.member as identifier member" in error["msg"] and "U+200B ZERO WIDTH SPACE" in error["msg"]


# --- 4. invisible format characters in store names --------------------------------------------------


@pytest.mark.parametrize("char, named", [("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"), ("\u200b", "U+200B")])
def test_the_api_refuses_an_invisible_character_in_a_store_name(api, store, char, named):
    created = api.call("post", "/stores", {"name": f"Sa{char}b"})
    assert created.status_code == 422
    [error] = created.json()["detail"]
    assert error["loc"][-1] == "name" and named in error["msg"]
    assert not Store.objects.filter(name__startswith="Sa").exists()


def test_the_console_refuses_an_invisible_character_in_a_store_name(admin_client, store):
    old = store.name
    response = admin_client.post(
        reverse("stores:edit", args=[store.pk]), {"name": "Sa\u202eb", "description": "", "default_region": "US"}
    )
    assert response.status_code == 200
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    store.refresh_from_db()
    assert store.name == old


# --- 5. integers are JSON integers -------------------------------------------------------------------


@pytest.mark.parametrize("limit", [True, "5", 2.0])
def test_a_rule_limit_that_is_not_a_json_integer_is_refused(api, store, limit):
    rule = IdentityRule.objects.get(store=store, kind="chat")
    response = api.call("put", f"/stores/{store.pk}/identity-rules/{rule.pk}", {"name": "chat", "limit": limit})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "limit"
    created = api.call("post", f"/stores/{store.pk}/identity-rules", {"name": "X", "kind": "x_id", "limit": limit})
    assert created.status_code == 422 and "limit" in created.json()["detail"][0]["loc"]


def test_rule_ids_in_a_new_order_must_be_json_integers(api, store):
    ids = [str(pk) for pk in IdentityRule.objects.filter(store=store).values_list("pk", flat=True)]
    response = api.call("put", f"/stores/{store.pk}/identity-rules/order", {"rule_ids": ids})
    assert response.status_code == 422 and "rule_ids" in response.json()["detail"][0]["loc"]


def test_a_blank_mapped_trait_cell_in_a_csv_makes_no_identifier_as_an_empty_cell(store, member_rule):
    from imports.models import ImportStatus
    from tests.imports_helpers import run

    text = "Email,First,Member\r\nb@example.com,B,   \r\nc@example.com,C,\u00a0\r\nd@example.com,D,\r\n"
    done = run(store, text, ["Email=identifier:email", "First=Contact.firstName", "Member=Shop.member"])
    assert (done.status, done.rows_failed, done.rows_ingested) == (ImportStatus.COMPLETED, 0, 3), list(
        done.row_errors.values_list("reason", flat=True)
    )
    assert not Identifier.objects.filter(store=store, kind="member").exists()


def test_a_csv_mapping_target_named_in_nfd_finds_the_trait_stored_in_nfc(store):
    from imports.mapping import mapping_from_specs
    from traits.selectors import trait_schema

    group = trait_group_create(store=store, actor=None, name="GJosé")
    trait_create(group=group, actor=None, name="café", data_type="string")
    mapping = mapping_from_specs(
        headers=["Email", "Cafe"],
        specs=["Email=identifier:email", f"Cafe={NFD_GROUP}.{NFD_TRAIT}"],
        schema=trait_schema(store=store),
    )
    assert mapping[1] == {"column": 1, "header": "Cafe", "group": "GJosé", "trait": "café"}
