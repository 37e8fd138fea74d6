from playwright.sync_api import expect

from identity.models import IdentityRule
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from traits.services import trait_create, trait_group_create
from workspace.services import store_create


def _store_with_user_id_trait():
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    group = trait_group_create(store=store, actor=None, name="Account")
    trait_create(group=group, actor=None, name="userId", data_type="string")
    return member, store


def _priorities(page):
    return page.locator("#identity-rules tr[data-rule]").evaluate_all("rows => rows.map(r => r.dataset.rule)")


def test_admin_adds_a_mapped_rule_drags_it_to_the_top_reloads_and_deletes_it(page):
    member, store = _store_with_user_id_trait()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/identifiers/")
    assert _priorities(page) == ["phone", "email", "whatsappid", "chat"]

    page.get_by_role("link", name="Add identity rule").click()
    sheet = page.locator("#side-sheet")
    expect(sheet).to_be_visible()
    sheet.get_by_label("Name").fill("User ID")
    sheet.get_by_label("Identifier kind").fill("user_id")
    sheet.get_by_role("radio", name="Mapped traits").check()
    sheet.locator("select[name=mapped_traits]").select_option(label="Account.userId")
    sheet.get_by_role("button", name="Create rule").click()
    expect(sheet).to_be_hidden()
    expect(page.locator('tr[data-rule="user_id"]')).to_contain_text("Mapped traits: Account.userId")
    assert _priorities(page) == ["phone", "email", "whatsappid", "chat", "user_id"]

    page.get_by_role("link", name="Edit priority").click()
    expect(sheet).to_be_visible()
    expect(sheet.locator("[data-sortable]")).to_have_attribute("data-sortable-ready", "1")
    # Measure only once the slide-in animation has ended, or the target box is stale.
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    handle = sheet.locator('li[data-rule="user_id"] .mc-drag-handle')
    top = sheet.locator('li[data-rule="phone"]')
    box = top.bounding_box()
    start = handle.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] - 5, steps=4)
    page.mouse.move(box["x"] + 30, box["y"] + 5, steps=12)
    page.mouse.move(box["x"] + 30, box["y"] + 2, steps=4)
    page.mouse.up()
    expect(sheet.locator("li[data-rule]").first).to_have_attribute("data-rule", "user_id")
    sheet.get_by_role("button", name="Save", exact=True).click()
    expect(sheet).to_be_hidden()
    expect(page.locator("#identity-rules tr[data-rule]").first).to_have_attribute("data-rule", "user_id")

    page.reload()
    assert _priorities(page) == ["user_id", "phone", "email", "whatsappid", "chat"]
    assert IdentityRule.objects.get(store=store, kind="user_id").priority == 1

    row = page.locator('tr[data-rule="user_id"]')
    row.get_by_role("button", name="More actions for User ID").click()
    row.get_by_role("link", name="Delete rule").click()
    expect(sheet).to_contain_text("past merges are not undone")
    sheet.get_by_role("button", name="Delete rule").click()
    expect(sheet).to_be_hidden()
    expect(page.locator('tr[data-rule="user_id"]')).to_have_count(0)
    page.reload()
    assert _priorities(page) == ["phone", "email", "whatsappid", "chat"]


def test_priority_can_be_set_with_the_keyboard(page):
    member, store = _store_with_user_id_trait()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/identifiers/")
    page.get_by_role("link", name="Edit priority").click()
    sheet = page.locator("#side-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.locator("[data-sortable]")).to_have_attribute("data-sortable-ready", "1")
    sheet.get_by_role("button", name="Move chat up").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(sheet.locator("li[data-rule]").first).to_have_attribute("data-rule", "chat")
    sheet.get_by_role("button", name="Save", exact=True).focus()
    page.keyboard.press("Enter")
    expect(sheet).to_be_hidden()
    page.reload()
    assert _priorities(page) == ["chat", "phone", "email", "whatsappid"]


def test_the_mapped_traits_picker_shows_only_for_mapped_traits_and_nothing_picked_is_dropped(page):
    member, store = _store_with_user_id_trait()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/identifiers/")
    page.get_by_role("link", name="Add identity rule").click()
    sheet = page.locator("#side-sheet")
    expect(sheet).to_be_visible()
    picker = sheet.locator("select[name=mapped_traits]")
    expect(sheet.get_by_role("radio", name="API identifier")).to_be_checked()
    expect(picker).to_be_hidden()

    # Picked, then the user goes back to "API identifier": the picker hides, is disabled and cleared.
    sheet.get_by_role("radio", name="Mapped traits").check()
    expect(picker).to_be_visible()
    picker.select_option(label="Account.userId")
    sheet.get_by_role("radio", name="API identifier").check()
    expect(picker).to_be_hidden()
    expect(picker).to_be_disabled()
    assert picker.evaluate("s => s.selectedOptions.length") == 0
    sheet.get_by_label("Name").fill("User ID")
    sheet.get_by_label("Identifier kind").fill("user_id")
    sheet.get_by_role("button", name="Create rule").click()
    expect(sheet).to_be_hidden()
    rule = IdentityRule.objects.get(store=store, kind="user_id")
    assert rule.source == "api" and not rule.mapped_traits.exists()
