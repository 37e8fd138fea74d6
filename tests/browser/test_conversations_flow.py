from playwright.sync_api import expect

from conversations.models import ConversationConfiguration
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from workspace.services import store_create


def test_admin_creates_a_conversation_configuration_with_the_keyboard_only(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/conversation-configurations/")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No conversation configurations yet")
    page.get_by_role("link", name="Set up a conversation configuration").focus()
    page.keyboard.press("Enter")

    wizard = page.locator("#wizard")
    expect(wizard).to_contain_text("Step 1 of 5: Name")
    page.get_by_label("Friendly name").focus()
    page.keyboard.type("x" * 33)
    page.keyboard.press("Enter")  # the default button is Next
    expect(wizard.locator(".invalid-feedback")).to_contain_text("The friendly name can have at most 32 characters")
    expect(page.get_by_label("Friendly name")).to_be_focused()  # htmx swapped the step; focus on the error
    page.keyboard.press("Control+A")
    page.keyboard.type("Support line")
    page.keyboard.press("Tab")
    page.keyboard.type("Inbound support")
    page.keyboard.press("Tab")  # Next
    page.keyboard.press("Enter")

    expect(wizard).to_contain_text("Step 2 of 5: Configure lifecycle")
    expect(page.get_by_label("Basic (Open → Closed)")).to_be_focused()
    page.keyboard.press("Enter")  # keep the defaults: basic, no timeout

    expect(wizard).to_contain_text("Step 3 of 5: Addresses to capture")
    expect(page.get_by_label("Channel of address 1")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("(415) 555-0100")
    page.keyboard.press("Tab")  # + Add another address
    page.keyboard.press("Enter")
    expect(page.get_by_label("Channel of address 2")).to_be_focused()  # the row just added
    page.get_by_label("Channel of address 2").select_option("whatsapp")
    page.keyboard.press("Tab")
    page.keyboard.type("+14155550111")
    page.get_by_label("Address 1", exact=True).fill("not a number")
    page.keyboard.press("Enter")  # Next, not another row
    expect(wizard.locator(".invalid-feedback")).to_contain_text("SMS: “not a number”")
    expect(page.get_by_label("Address 1", exact=True)).to_be_focused()  # on the error
    page.keyboard.press("Control+A")
    page.keyboard.type("(415) 555-0100")
    page.keyboard.press("Enter")

    expect(wizard).to_contain_text("Step 4 of 5: Observations and summaries")
    checkbox = page.get_by_label("Turn on observations and summaries")
    expect(checkbox).to_be_focused()
    expect(checkbox).not_to_be_checked()
    page.keyboard.press("Space")
    expect(checkbox).to_be_checked()
    page.keyboard.press("Enter")

    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("SMS: 15 min — the longest default of your channels, applied to all of them")
    expect(summary).to_contain_text("SMS +14155550100")  # as it will be stored
    expect(summary).to_contain_text("WhatsApp whatsapp:+14155550111")
    expect(summary).to_contain_text("Observations and summariesOn")
    expect(page.locator("#wizard-step-title")).to_be_focused()  # no field on this step: its heading
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create conversation configuration")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Support line")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Created conversation configuration Support line")
    configuration = ConversationConfiguration.objects.get(store=store)
    assert configuration.observations_enabled is True
    assert sorted(r.pattern for r in configuration.captures.all()) == ["+14155550100", "whatsapp:+14155550111"]

    # Connect Twilio: the auth token in a side sheet; a wrong one says why, the right one updates the card.
    card = page.get_by_test_id("twilio")
    expect(card).to_contain_text("Not set")
    card.get_by_role("link", name="Set auth token").focus()
    page.keyboard.press("Enter")
    token = page.get_by_label("Auth token", exact=True)
    expect(token).to_be_visible()
    token.focus()
    page.keyboard.type("my-password")
    page.keyboard.press("Enter")
    expect(page.locator("#twilio-token-error")).to_contain_text("32 hexadecimal characters")
    page.get_by_label("Auth token", exact=True).fill("0123456789abcdef0123456789abcdef")
    page.keyboard.press("Enter")
    expect(card).to_contain_text("Set ending in …cdef")
    expect(page.get_by_role("status")).to_contain_text("Saved the Twilio auth token of Support line")
    configuration.refresh_from_db()
    assert configuration.twilio_auth_token == "0123456789abcdef0123456789abcdef"
