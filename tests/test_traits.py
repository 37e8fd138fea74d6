import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from profiles.models import Profile
from profiles.services import Source, profile_traits_set
from tests.factories import StoreFactory
from traits import services
from traits.models import Trait, TraitGroup, TraitGroupChangeError
from workspace import services as workspace_services


@pytest.fixture
def loyalty(store):
    group = services.trait_group_create(store=store, actor=None, name="Loyalty", description="Programme data")
    services.trait_create(group=group, actor=None, name="tier", data_type="string")
    services.trait_create(group=group, actor=None, name="points", data_type="number")
    return group


def _profiles_with_loyalty(store, n):
    profiles = []
    for i in range(n):
        profile = Profile.objects.create(store=store)
        profile_traits_set(
            profile=profile,
            values={"Loyalty": {"tier": "gold", "points": str(i)}, "Contact": {"firstName": f"P{i}"}},
            source="test:1",
        )
        profiles.append(profile)
    return profiles


def test_every_store_starts_with_the_contact_group_and_its_four_traits(store):
    group = TraitGroup.objects.get(store=store)
    assert (group.name, group.is_default) == ("Contact", True)
    traits = {t.name: t.data_type for t in group.traits.all()}
    assert traits == {"firstName": "string", "lastName": "string", "phone": "string", "address": "string"}


def test_contact_group_cannot_be_deleted(store):
    with pytest.raises(ValidationError, match="default trait group Contact cannot be deleted"):
        workspace_services.trait_group_delete(group=TraitGroup.objects.get(store=store, name="Contact"), actor=None)


def test_trait_group_names_are_unique_in_the_store_ignoring_case(store, loyalty):
    with pytest.raises(ValidationError, match="already exists"):
        services.trait_group_create(store=store, actor=None, name="loyalty")
    other = StoreFactory(account=store.account, name="Other")
    assert services.trait_group_create(store=other, actor=None, name="Loyalty").pk


def test_trait_names_are_unique_in_their_group(loyalty):
    with pytest.raises(ValidationError, match="already has a trait named “Tier”"):
        services.trait_create(group=loyalty, actor=None, name="Tier", data_type="number")


@pytest.mark.parametrize("name", [" tier", "tier ", "ti  er", "tier,x"])
def test_trait_names_break_the_rules_with_a_clear_message(loyalty, name):
    with pytest.raises(ValidationError) as info:
        services.trait_create(group=loyalty, actor=None, name=name, data_type="string")
    assert "The trait name" in info.value.message_dict["name"][0]


def test_a_trait_cannot_be_moved_to_another_group_by_the_service(store, loyalty):
    trait = Trait.objects.get(group=loyalty, name="tier")
    contact = TraitGroup.objects.get(store=store, name="Contact")
    with pytest.raises(ValidationError, match="group is permanent"):
        services.trait_update(trait=trait, actor=None, description="x", group=contact)
    trait.refresh_from_db()
    assert trait.group == loyalty


def test_a_trait_cannot_be_moved_to_another_group_in_the_model_layer(store, loyalty):
    trait = Trait.objects.get(group=loyalty, name="tier")
    trait.group = TraitGroup.objects.get(store=store, name="Contact")
    with pytest.raises(TraitGroupChangeError):
        trait.save()
    assert Trait.objects.get(pk=trait.pk).group_id == loyalty.pk


def test_updating_a_trait_description_keeps_its_group(loyalty):
    trait = Trait.objects.get(group=loyalty, name="tier")
    services.trait_update(trait=trait, actor=None, description="Membership level", group=loyalty)
    assert Trait.objects.get(pk=trait.pk).description == "Membership level"


def test_deleting_a_trait_removes_its_values_from_every_profile_of_the_store_only(store, loyalty):
    mine = _profiles_with_loyalty(store, 3)
    other_store = StoreFactory(account=store.account, name="Other")
    other_group = services.trait_group_create(store=other_store, actor=None, name="Loyalty")
    services.trait_create(group=other_group, actor=None, name="tier", data_type="string")
    theirs = Profile.objects.create(store=other_store)
    profile_traits_set(profile=theirs, values={"Loyalty": {"tier": "gold"}}, source="test:1")

    changed = workspace_services.trait_delete(trait=Trait.objects.get(group=loyalty, name="tier"), actor=None)

    assert changed == 3
    for profile in mine:
        profile.refresh_from_db()
        assert "tier" not in profile.traits["Loyalty"] and "points" in profile.traits["Loyalty"]
        assert "tier" not in profile.trait_sources.get("Loyalty", {})
    theirs.refresh_from_db()
    assert theirs.traits["Loyalty"] == {"tier": "gold"}


def test_deleting_a_group_removes_its_traits_and_values(store, loyalty):
    profiles = _profiles_with_loyalty(store, 2)
    Profile.objects.create(store=store)  # holds nothing
    changed = workspace_services.trait_group_delete(group=loyalty, actor=None)
    assert changed == 2
    assert not TraitGroup.objects.filter(pk=loyalty.pk).exists()
    assert not Trait.objects.filter(group_id=loyalty.pk).exists()
    for profile in profiles:
        profile.refresh_from_db()
        assert "Loyalty" not in profile.traits and profile.traits["Contact"]["firstName"]


def test_default_traits_cannot_be_deleted(store):
    with pytest.raises(ValidationError, match="default trait"):
        workspace_services.trait_delete(trait=Trait.objects.get(store=store, name="firstName"), actor=None)


# --- the Traits tab -------------------------------------------------------------------------


def test_traits_tab_lists_groups_and_traits_with_types(admin_client, store, loyalty):
    response = admin_client.get(reverse("traits:list", args=[store.pk]))
    html = response.content.decode()
    assert 'data-group="Contact"' in html and 'data-group="Loyalty"' in html
    assert 'data-trait="Loyalty.points"' in html and "Number" in html


def test_add_trait_side_sheet_over_htmx_says_the_group_is_permanent(admin_client, store, loyalty):
    url = reverse("traits:trait_create", args=[store.pk, loyalty.pk])
    response = admin_client.get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html  # a fragment for the sheet, not a page
    assert "Trait group assignment is permanent" in html


def test_add_trait_over_htmx_closes_the_sheet_and_swaps_the_groups(admin_client, store, loyalty):
    url = reverse("traits:trait_create", args=[store.pk, loyalty.pk])
    response = admin_client.post(
        url, {"name": "tags", "data_type": "array", "description": "Labels"}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Trigger"] == "sheet:close"
    html = response.content.decode()
    assert 'id="trait-groups" hx-swap-oob="true"' in html
    assert 'data-trait="Loyalty.tags"' in html
    assert "Added trait Loyalty.tags" in html
    assert Trait.objects.get(group=loyalty, name="tags").data_type == "array"


def test_add_trait_duplicate_over_htmx_rerenders_the_sheet_with_the_error(admin_client, store, loyalty):
    url = reverse("traits:trait_create", args=[store.pk, loyalty.pk])
    response = admin_client.post(url, {"name": "tier", "data_type": "string"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "HX-Trigger" not in response
    assert "already has a trait named “tier”" in response.content.decode()


def test_add_trait_works_as_a_plain_form_without_javascript(admin_client, store, loyalty):
    url = reverse("traits:trait_create", args=[store.pk, loyalty.pk])
    page = admin_client.get(url)
    assert b"<html" in page.content and b"Trait group assignment is permanent" in page.content
    response = admin_client.post(url, {"name": "vip", "data_type": "boolean"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("traits:list", args=[store.pk])
    assert b"Added trait Loyalty.vip" in response.content


def test_delete_group_confirmation_names_how_many_profiles_hold_values(admin_client, store, loyalty):
    _profiles_with_loyalty(store, 2)
    url = reverse("traits:group_delete", args=[store.pk, loyalty.pk])
    confirm = admin_client.get(url)
    assert b"2 profiles</strong> hold values" in confirm.content
    assert TraitGroup.objects.filter(pk=loyalty.pk).exists()
    response = admin_client.post(url, follow=True)
    assert b"removed its values from 2 profile(s)" in response.content
    assert not TraitGroup.objects.filter(pk=loyalty.pk).exists()


def test_delete_trait_confirmation_then_delete(admin_client, store, loyalty):
    _profiles_with_loyalty(store, 1)
    trait = Trait.objects.get(group=loyalty, name="points")
    url = reverse("traits:trait_delete", args=[store.pk, trait.pk])
    assert b"1 profile</strong> holds values" in admin_client.get(url).content
    admin_client.post(url)
    assert not Trait.objects.filter(pk=trait.pk).exists()


def test_support_sees_the_traits_tab_without_edit_controls(support_client, store, loyalty):
    html = support_client.get(reverse("traits:list", args=[store.pk])).content.decode()
    assert 'data-trait="Loyalty.tier"' in html
    assert "+ Add trait" not in html and "Delete trait" not in html


def test_profile_source_constants_are_readable(admin_user):
    assert Source.user(admin_user) == f"user:{admin_user.email}"
    assert Source.import_(7) == "import:7"
