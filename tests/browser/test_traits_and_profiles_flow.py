import re

from playwright.sync_api import expect

from profiles.models import Profile
from profiles.services import profile_traits_set
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from traits.models import Trait
from workspace.services import store_create


def _add_trait_group_sheet(page):
    """Signed in as the administrator of a new store, with the Add trait group sheet open."""
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/traits/")
    page.get_by_role("link", name="+ Add trait group").click()
    sheet = page.locator("#side-sheet")
    expect(sheet).to_be_visible()
    return sheet


def test_admin_builds_a_trait_group_with_all_four_types_and_deletes_a_trait(page):
    sheet = _add_trait_group_sheet(page)
    sheet.get_by_label("Name").fill("Loyalty")
    sheet.get_by_label("Description").fill("Programme membership")
    sheet.get_by_role("button", name="Save").click()
    expect(sheet).to_be_hidden()
    group = page.locator('section[data-group="Loyalty"]')
    expect(group).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Added trait group Loyalty")

    for name, data_type in [("tier", "String"), ("points", "Number"), ("vip", "Boolean"), ("tags", "Array")]:
        group.get_by_role("link", name="+ Add trait to Loyalty").click()
        expect(sheet).to_be_visible()
        expect(sheet).to_contain_text("Trait group assignment is permanent")
        sheet.get_by_label("Name").fill(name)
        sheet.get_by_label("Data type").select_option(label=data_type)
        sheet.get_by_role("button", name="Save").click()
        expect(sheet).to_be_hidden()
        expect(group.locator(f'tr[data-trait="Loyalty.{name}"]')).to_contain_text(data_type)

    # A duplicate name is refused inside the sheet, which stays open.
    group.get_by_role("link", name="+ Add trait to Loyalty").click()
    sheet.get_by_label("Name").fill("tier")
    sheet.get_by_role("button", name="Save").click()
    expect(sheet.locator(".invalid-feedback")).to_contain_text("already has a trait named “tier”")
    sheet.get_by_role("button", name="Close").click()
    expect(sheet).to_be_hidden()

    # Delete a trait from its more-actions menu, after confirming.
    row = group.locator('tr[data-trait="Loyalty.vip"]')
    row.get_by_role("button", name="More actions for vip").click()
    row.get_by_role("link", name="Delete trait field").click()
    expect(sheet).to_contain_text("0 profiles")
    sheet.get_by_role("button", name="Delete trait field").click()
    expect(sheet).to_be_hidden()
    expect(group.locator('tr[data-trait="Loyalty.vip"]')).to_have_count(0)
    assert sorted(Trait.objects.filter(group__name="Loyalty").values_list("name", flat=True)) == [
        "points",
        "tags",
        "tier",
    ]


def test_admin_fixes_a_bad_number_inline_and_sees_the_value_and_its_source(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    from traits.services import trait_create, trait_group_create

    group = trait_group_create(store=store, actor=None, name="Loyalty")
    trait_create(group=group, actor=None, name="points", data_type="number")
    profile = Profile.objects.create(store=store)
    profile_traits_set(
        profile=profile, values={"Contact": {"firstName": "Ada"}, "Loyalty": {"points": "10"}}, source="import:1"
    )

    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/")
    page.get_by_role("link", name="Ada").click()
    expect(page).to_have_url(re.compile(rf"/profiles/{profile.pk}/$"))

    row = page.locator('tr[data-trait="Loyalty.points"]')
    expect(row.get_by_test_id("trait-value")).to_have_text("10")
    expect(row.get_by_test_id("trait-source")).to_contain_text("CSV import #1")
    row.get_by_role("link", name="Edit points").click()
    row.get_by_label("New value of points").fill("ten")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".invalid-feedback")).to_contain_text("Loyalty.points: “ten” is not a number")

    row.get_by_label("New value of points").fill("12.5")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text("12.5")
    expect(row.get_by_test_id("trait-source")).to_contain_text(f"Console: {member.user.email}")
    page.reload()
    expect(page.locator('tr[data-trait="Loyalty.points"]').get_by_test_id("trait-value")).to_have_text("12.5")


def test_a_save_refused_because_the_database_is_busy_says_why_in_the_side_sheet(page, monkeypatch):
    from django.db import OperationalError

    from traits import services as trait_services

    def locked(**kwargs):
        raise OperationalError("database is locked")  # SQLite's answer while an import holds the lock

    sheet = _add_trait_group_sheet(page)
    sheet.get_by_label("Name").fill("Loyalty")
    monkeypatch.setattr(trait_services, "trait_group_create", locked)
    sheet.get_by_role("button", name="Save").click()
    alert = sheet.get_by_role("alert")
    expect(alert).to_contain_text("The database is busy with another write")
    expect(sheet.get_by_label("Name")).to_have_value("Loyalty")  # the form is still there to retry
    monkeypatch.undo()
    sheet.get_by_role("button", name="Save").click()
    expect(sheet).to_be_hidden()
    expect(page.locator('section[data-group="Loyalty"]')).to_be_visible()


def test_saving_an_array_unchanged_inline_keeps_its_items_digits_and_source(page):
    """The inline editor holds an array as JSON, so Save without a change keeps ``a;b`` one item and
    1.0000000000000001 a number with every digit, and the row keeps its source."""
    from decimal import Decimal

    from profiles.stamps import trait_stamp
    from traits.services import trait_create, trait_group_create

    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    group = trait_group_create(store=store, actor=None, name="Loyalty")
    trait_create(group=group, actor=None, name="tags", data_type="array")
    profile = Profile.objects.create(store=store)
    tags = ["a;b", "c", Decimal("1.0000000000000001"), 2]
    profile_traits_set(
        profile=profile, values={"Contact": {"firstName": "Ada"}, "Loyalty": {"tags": tags}}, source="import:1"
    )
    profile.refresh_from_db()
    stamp = trait_stamp(profile.trait_sources, "Loyalty", "tags")

    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    row = page.locator('tr[data-trait="Loyalty.tags"]')
    expect(row.get_by_test_id("trait-value")).to_have_text('"a;b"; c; 1.0000000000000001; 2')
    row.get_by_role("link", name="Edit tags").click()
    # A token list: one chip per item; the field it fills still holds the JSON, untouched.
    expect(row.get_by_test_id("token-items").locator("li")).to_have_text(["a;b", "c", "1.0000000000000001", "2"])
    expect(row.locator("input[name=value]")).to_have_value('["a;b","c",1.0000000000000001,2]')
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text('"a;b"; c; 1.0000000000000001; 2')
    expect(row.get_by_test_id("trait-source")).to_contain_text("CSV import #1")
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["tags"] == tags
    assert trait_stamp(profile.trait_sources, "Loyalty", "tags") == stamp
