"""Side sheets and inline edits by keyboard (issue 19): Cancel and Escape close a sheet without
saving and give the keyboard back to the control that opened it; an inline trait edit cancels on
Escape; booleans edit with a true/false/empty choice and arrays as a token list, saving the values
the trait rule reads; the priority sheet says each move in a live region. (The API key's Copy button:
`test_api_keys_flow`.)"""

from playwright.sync_api import expect

from identity.models import IdentityRule
from profiles.models import Profile
from profiles.services import profile_traits_set
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from traits.services import trait_create, trait_group_create
from workspace.services import store_create


def _is_focused(page, locator) -> bool:
    return locator.evaluate("node => node === document.activeElement")


def _profile_with(member, **traits):
    """A store with a Loyalty group holding `traits` (name -> (data type, value or None)) and a
    profile Ada with those values."""
    store = store_create(account=member.account, actor=None, name="Shop")
    group = trait_group_create(store=store, actor=None, name="Loyalty")
    values = {}
    for name, (data_type, value) in traits.items():
        trait_create(group=group, actor=None, name=name, data_type=data_type)
        if value is not None:
            values[name] = value
    profile = Profile.objects.create(store=store)
    profile_traits_set(profile=profile, values={"Contact": {"firstName": "Ada"}, "Loyalty": values}, source="import:1")
    return store, profile


def test_sheet_cancel_and_escape_close_without_saving_and_return_focus_to_the_opener(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/identifiers/")
    opener = page.get_by_role("link", name="Add identity rule")
    sheet = page.locator("#side-sheet")

    opener.click()
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    sheet.get_by_label("Name").fill("User ID")
    sheet.get_by_label("Identifier kind").fill("user_id")
    sheet.get_by_role("button", name="Cancel").click()
    expect(sheet).to_be_hidden()
    expect(opener).to_be_focused()
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()

    opener.focus()
    page.keyboard.press("Enter")
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    sheet.get_by_label("Name").fill("User ID")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(opener).to_be_focused()
    assert not IdentityRule.objects.filter(store=store, kind="user_id").exists()

    # The priority sheet too: Cancel drops a move that was not saved.
    priority = page.get_by_role("link", name="Edit priority")
    priority.click()
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    sheet.get_by_role("button", name="Move email up").click()
    sheet.get_by_role("button", name="Cancel").click()
    expect(sheet).to_be_hidden()
    expect(priority).to_be_focused()
    assert list(IdentityRule.objects.filter(store=store).order_by("priority").values_list("kind", flat=True)) == [
        "phone",
        "email",
        "whatsappid",
        "chat",
    ]


def test_the_priority_sheet_says_each_move_in_a_live_region(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/identifiers/")
    page.get_by_role("link", name="Edit priority").click()
    sheet = page.locator("#side-sheet")
    expect(sheet.locator("[data-sortable]")).to_have_attribute("data-sortable-ready", "1")
    status = sheet.get_by_test_id("priority-status")
    expect(status).to_have_attribute("aria-live", "polite")

    sheet.get_by_role("button", name="Move email down").focus()
    page.keyboard.press("Enter")
    expect(status).to_have_text("email moved to priority 3.")
    page.keyboard.press("Enter")
    expect(status).to_have_text("email moved to priority 4.")
    page.keyboard.press("Enter")  # already the last
    expect(status).to_have_text("email stays at priority 4 (the lowest).")
    sheet.get_by_role("button", name="Move phone up").click()
    expect(status).to_have_text("phone stays at priority 1 (the highest).")


def test_an_inline_edit_cancels_on_escape_showing_the_stored_value_with_the_focus_on_edit(page):
    member = AdminMembershipFactory()
    store, profile = _profile_with(member, tier=("string", "gold"))
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    row = page.locator('tr[data-trait="Loyalty.tier"]')
    row.get_by_role("link", name="Edit tier").click()
    box = row.get_by_label("New value of tier")
    expect(box).to_be_focused()
    box.fill("silver")
    page.keyboard.press("Escape")
    expect(row.get_by_test_id("trait-value")).to_have_text("gold")
    expect(row.get_by_role("link", name="Edit tier")).to_be_focused()
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["tier"] == "gold"

    # Cancel (the link) and a save also give the keyboard back to Edit.
    row.get_by_role("link", name="Edit tier").click()
    row.get_by_label("New value of tier").fill("silver")
    page.keyboard.press("Enter")
    expect(row.get_by_test_id("trait-value")).to_have_text("silver")
    expect(row.get_by_role("link", name="Edit tier")).to_be_focused()


def test_a_boolean_trait_edits_with_true_false_or_empty(page):
    member = AdminMembershipFactory()
    store, profile = _profile_with(member, vip=("boolean", None))
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    row = page.locator('tr[data-trait="Loyalty.vip"]')
    row.get_by_role("link", name="Edit vip").click()
    control = row.get_by_label("New value of vip")
    expect(control).to_be_focused()
    assert control.evaluate("node => node.tagName") == "SELECT"
    assert control.locator("option").all_inner_texts() == ["true", "false", "empty (no value)"]
    expect(control).to_have_value("\\N")  # no value yet: saving unchanged sets nothing

    control.select_option(label="true")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text("true")
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["vip"] is True

    row.get_by_role("link", name="Edit vip").click()
    expect(row.get_by_label("New value of vip")).to_have_value("true")
    row.get_by_label("New value of vip").select_option(label="false")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text("false")
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["vip"] is False

    row.get_by_role("link", name="Edit vip").click()
    row.get_by_label("New value of vip").select_option(label="empty (no value)")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text("—")
    profile.refresh_from_db()
    assert "vip" not in profile.traits.get("Loyalty", {})


def test_an_array_trait_edits_as_a_token_list_by_keyboard(page):
    member = AdminMembershipFactory()
    store, profile = _profile_with(member, tags=("array", ["red", "a;b", 2]))
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    row = page.locator('tr[data-trait="Loyalty.tags"]')
    row.get_by_role("link", name="Edit tags").click()
    items = row.get_by_test_id("token-items")
    expect(items.locator("li")).to_have_text(["red", "a;b", "2"])
    add = row.get_by_label("New item of tags")
    expect(add).to_be_focused()

    remove = row.get_by_role("button", name="Remove red")
    remove.focus()
    page.keyboard.press("Enter")
    expect(items.locator("li")).to_have_text(["a;b", "2"])
    expect(row.get_by_role("button", name="Remove a;b")).to_be_focused()  # the next item's button
    add.focus()
    page.keyboard.type("blue; green")
    page.keyboard.press("Enter")  # adds the item, does not save
    expect(items.locator("li")).to_have_text(["a;b", "2", "blue; green"])
    expect(add).to_be_focused()
    expect(add).to_have_value("")
    expect(row.locator("input[name=value]")).to_have_value('["a;b",2,"blue; green"]')

    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text('"a;b"; 2; "blue; green"')
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["tags"] == ["a;b", 2, "blue; green"]


def test_an_array_trait_without_a_value_starts_an_empty_token_list(page):
    member = AdminMembershipFactory()
    store, profile = _profile_with(member, tags=("array", None))
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    row = page.locator('tr[data-trait="Loyalty.tags"]')
    row.get_by_role("link", name="Edit tags").click()
    expect(row.get_by_test_id("token-items").locator("li")).to_have_count(0)
    row.get_by_label("New item of tags").fill("vip")
    row.get_by_role("button", name="Add item").click()
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_test_id("trait-value")).to_have_text("vip")
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["tags"] == ["vip"]


def test_the_edit_page_opened_on_its_own_has_the_token_list_too(page):
    member = AdminMembershipFactory()
    store, profile = _profile_with(member, tags=("array", ["red", "green"]))
    tags = profile.store.trait_groups.get(name="Loyalty").traits.get(name="tags")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/traits/{tags.pk}/edit/")
    expect(page.get_by_test_id("token-items").locator("li")).to_have_text(["red", "green"])
    page.get_by_role("button", name="Remove green").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator('tr[data-trait="Loyalty.tags"]').get_by_test_id("trait-value")).to_have_text("red")
    profile.refresh_from_db()
    assert profile.traits["Loyalty"]["tags"] == ["red"]
