"""The console's sheet and inline-edit controls as the server renders them (issue 19): a Cancel in
every side sheet, a true/false/empty choice for a boolean trait (with JavaScript or without), the
token-list marker on an array's field, and the no-JavaScript priority move said in words."""

import pytest
from django.urls import reverse

from identity.models import IdentityRule
from profiles.models import Profile
from profiles.services import profile_traits_set
from traits.services import trait_create, trait_group_create

SHEET = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "side-sheet-body"}


@pytest.fixture
def loyalty(store):
    group = trait_group_create(store=store, actor=None, name="Loyalty")
    vip = trait_create(group=group, actor=None, name="vip", data_type="boolean")
    tags = trait_create(group=group, actor=None, name="tags", data_type="array")
    profile = Profile.objects.create(store=store)
    return profile, vip, tags


@pytest.mark.parametrize(
    "name,args",
    [
        ("identity:rule_create", []),
        ("identity:priority", []),
        ("traits:group_create", []),
    ],
)
def test_a_side_sheet_has_a_cancel_button_that_closes_it(admin_client, store, name, args):
    html = admin_client.get(reverse(name, args=[store.pk, *args]), **SHEET).content.decode()
    assert '<button type="button" class="btn btn-link" data-bs-dismiss="offcanvas">Cancel</button>' in html


def test_the_same_form_as_a_page_links_back_instead(admin_client, store):
    html = admin_client.get(reverse("identity:rule_create", args=[store.pk])).content.decode()
    assert 'data-bs-dismiss="offcanvas">Cancel' not in html
    assert f'href="{reverse("identity:list", args=[store.pk])}">Cancel</a>' in html


def test_a_boolean_without_a_value_offers_true_false_empty_with_empty_chosen(admin_client, store, loyalty):
    profile, vip, _ = loyalty
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, vip.pk])
    for html in (
        admin_client.get(url, HTTP_HX_REQUEST="true").content.decode(),
        admin_client.get(url).content.decode(),
    ):
        assert f'<select id="value-{vip.pk}" name="value"' in html
        assert '<option value="\\N" selected>empty (no value)</option>' in html
        assert "(empty string)" not in html


def test_a_boolean_edit_saves_true_then_removes_the_value(admin_client, store, loyalty):
    profile, vip, _ = loyalty
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, vip.pk])
    admin_client.post(url, {"value": "true"}, HTTP_HX_REQUEST="true")
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["vip"] is True
    html = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="true" selected>true</option>' in html
    admin_client.post(url, {"value": "\\N"}, HTTP_HX_REQUEST="true")
    profile.refresh_from_db()
    assert "vip" not in profile.traits.get("Loyalty", {})


def test_a_boolean_holding_the_empty_string_keeps_it_offered_and_chosen(admin_client, store, loyalty):
    profile, vip, _ = loyalty
    profile_traits_set(profile=profile, values={"Loyalty": {"vip": ""}}, source="import:1")
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, vip.pk])
    html = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="" selected>(empty string)</option>' in html


def test_an_array_field_carries_the_token_list_marker_and_its_json(admin_client, store, loyalty):
    profile, _, tags = loyalty
    profile_traits_set(profile=profile, values={"Loyalty": {"tags": ["a;b", 2]}}, source="import:1")
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, tags.pk])
    html = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="[&quot;a;b&quot;,2]" autofocus data-token-list="tags"' in html
    page = admin_client.get(url).content.decode()  # the plain page (opened in a new tab)
    assert 'data-token-list="tags"' in page and 'value="[&quot;a;b&quot;,2]"' in page


def test_a_priority_move_without_javascript_is_said_in_the_live_region(admin_client, store):
    email = IdentityRule.objects.get(store=store, kind="email")
    url = reverse("identity:priority", args=[store.pk])
    html = admin_client.post(url, {"move": f"{email.pk}:up"}).content.decode()
    assert (
        'aria-live="polite" data-testid="priority-status" data-priority-status>email moved to priority 1.</div>' in html
    )
