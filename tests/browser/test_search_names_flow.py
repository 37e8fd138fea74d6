"""The Profiles search box in Chromium (issue 19, Console: "Search box", "Free-text search by name"):
a lower-case group finds the profile, an unknown trait is said, a name finds its profile."""

from playwright.sync_api import expect

from identity.services import profile_identify
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from traits.services import trait_create, trait_group_create
from workspace.services import store_create


def _search(page, q):
    box = page.get_by_label("Search profiles")
    box.fill(q)
    box.press("Enter")


def test_search_messages_trait_names_in_any_case_and_names(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    group = trait_group_create(store=store, actor=None, name="Loyalty")
    trait_create(group=group, actor=None, name="tier", data_type="string")
    trait_create(group=group, actor=None, name="tags", data_type="array")
    jose = profile_identify(
        store=store,
        identifiers=[("email", "jose@example.com")],
        traits={"Contact": {"firstName": "José", "lastName": "Núñez"}, "Loyalty": {"tier": "GOLD", "tags": ["GOLD"]}},
        source="api:seed",
    ).profile
    profile_identify(
        store=store,
        identifiers=[("email", "grace@example.com")],
        traits={"Contact": {"firstName": "Grace", "lastName": "Hopper"}, "Loyalty": {"tier": "silver"}},
        source="api:seed",
    )
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/")
    results = page.locator("#profile-results")

    _search(page, "loyalty.tier = GOLD")
    expect(results.get_by_test_id("search-description")).to_contain_text("Matches profiles whose Loyalty.tier = GOLD")
    expect(results.locator("tr[data-profile]")).to_have_count(1)
    expect(results.locator(f'tr[data-profile="{jose.pk}"]')).to_be_visible()
    expect(results.get_by_test_id("search-total")).to_have_text("1 profile")

    _search(page, "loyalty.tags = GOLD")
    expect(results.get_by_test_id("search-description")).to_contain_text(
        "Matches profiles whose Loyalty.tags holds GOLD"
    )

    _search(page, "Loyalty.nosuch = 1")
    expect(results.get_by_role("alert")).to_have_text("No trait Loyalty.nosuch in this store.")
    expect(results.locator("tr[data-profile]")).to_have_count(0)

    _search(page, "jose")
    expect(results.get_by_test_id("search-description")).to_contain_text("or name starting with jose")
    expect(results.locator("tr[data-profile]")).to_have_count(1)
    expect(results.locator(f'tr[data-profile="{jose.pk}"]')).to_be_visible()
