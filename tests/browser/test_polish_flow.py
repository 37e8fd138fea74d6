"""What a new user's trial found, in a real browser with the keyboard: side sheets give the
keyboard back (closing one, by Escape, its Close button or a save that redraws the section, puts
the focus on the control that opened it, not on <body>); the wizard refuses an inactivity period
not shorter than the timeout on the lifecycle step, focus on the field; the Recall preview's errors
use the form's labels; /favicon.ico answers."""

from playwright.sync_api import expect

from profiles.models import Profile
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from traits.services import trait_create, trait_group_create
from workspace.services import store_create


def _open_with_the_keyboard(page, control):
    sheet = page.locator("#side-sheet")
    control.focus()
    page.keyboard.press("Enter")
    expect(sheet).to_have_attribute("data-sheet-state", "shown")  # slid in: Bootstrap's focus trap holds it
    return sheet


def test_closing_a_side_sheet_returns_the_focus_to_the_control_that_opened_it(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    group = trait_group_create(store=store, actor=None, name="Loyalty")
    trait_create(group=group, actor=None, name="tier", data_type="string")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/traits/")

    # Escape.
    add_group = page.get_by_role("link", name="+ Add trait group")
    sheet = _open_with_the_keyboard(page, add_group)
    expect(sheet.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(add_group).to_be_focused()
    assert page.evaluate("document.activeElement !== document.body")

    # The sheet's Close button, reached with the keyboard.
    sheet = _open_with_the_keyboard(page, add_group)
    close = sheet.get_by_role("button", name="Close")
    close.focus()
    page.keyboard.press("Enter")
    expect(sheet).to_be_hidden()
    expect(add_group).to_be_focused()

    # A save redraws the section the opener was in: the focus goes to the same link, drawn again.
    add_trait = page.get_by_role("link", name="+ Add trait to Loyalty")
    sheet = _open_with_the_keyboard(page, add_trait)
    sheet.get_by_label("Name").fill("points")
    sheet.get_by_label("Name").press("Enter")
    expect(sheet).to_be_hidden()
    expect(page.locator('tr[data-trait="Loyalty.points"]')).to_be_visible()
    expect(page.get_by_role("link", name="+ Add trait to Loyalty")).to_be_focused()

    # Opened from a menu, which closed behind it: the focus goes to the menu's button.
    more = page.get_by_role("button", name="More actions for tier")
    more.focus()
    page.keyboard.press("Enter")
    item = page.get_by_role("link", name="Delete trait field")
    expect(item).to_be_visible()
    sheet = _open_with_the_keyboard(page, item)
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(more).to_be_focused()


def test_the_browser_gets_the_favicon(page):
    response = page.request.get("/favicon.ico")  # follows the redirect to the static file
    assert response.status == 200 and response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert response.body()[:4] == b"\x00\x00\x01\x00"
    page.goto("/accounts/login/")
    svg = page.locator('link[rel="icon"][type="image/svg+xml"]').get_attribute("href")
    assert page.request.get(svg).status == 200


def test_the_wizard_refuses_a_long_inactivity_period_on_the_lifecycle_step(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/conversation-configurations/new/")
    wizard = page.locator("#wizard")
    page.get_by_label("Friendly name").fill("Support line")
    page.keyboard.press("Enter")
    expect(wizard).to_contain_text("Step 2 of 5: Configure lifecycle")
    page.get_by_label("Include “inactive” state (Open → Inactive → Closed)").check()
    page.get_by_label("Inactivity period (minutes)").fill("30")
    page.get_by_label("Conversation timeout (minutes)").fill("20")
    page.keyboard.press("Enter")
    expect(wizard.locator("#inactivity-error")).to_have_text(
        "The inactivity period (30 min) must be shorter than the conversation timeout (20 min): "
        "a conversation goes Inactive before it is Closed."
    )
    expect(wizard).to_contain_text("Step 2 of 5: Configure lifecycle")
    field = page.get_by_label("Inactivity period (minutes)")
    expect(field).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    expect(wizard).to_contain_text("Step 3 of 5: Addresses to capture")


def test_the_recall_previews_errors_use_the_forms_labels(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    profile = Profile.objects.create(store=store)
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    box = page.get_by_test_id("recall-preview")
    box.get_by_text("Limits and dates").click()
    for label, value in (("Observations", "500"), ("Min. score", "2")):
        box.get_by_label(label, exact=True).fill(value)
        box.get_by_label(label, exact=True).evaluate("el => el.removeAttribute('max')")  # as a hand-made request
    page.get_by_label("Query").press("Enter")
    errors = box.get_by_test_id("recall-errors")
    expect(errors).to_contain_text("Observations: must be a whole number from 0 to 100.")
    expect(errors).to_contain_text("Min. score: must be a number from 0 to 1.")
    expect(errors).not_to_contain_text("observationsLimit")
    expect(errors).not_to_contain_text("relevanceThreshold")
