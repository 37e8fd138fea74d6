"""An Administrator corrects a profile's memory in a real browser, with the keyboard: edits an
observation (an empty one refused in the sheet), deletes one after confirming, then re-runs
extraction for a later conversation: the dry run lists the decisions, Apply writes them."""

import re
from datetime import timedelta

from playwright.sync_api import expect

from conversations.memory import extractions_pending_process
from conversations.models import ExtractionRequest, Observation
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from tests.test_memory_observations import AT, _closed_conversation, _configuration
from workspace.services import store_create


def test_admin_edits_deletes_and_re_runs_extraction_with_the_keyboard(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    _configuration(store)
    first = _closed_conversation(store, ["I live in Denver.", "I'm allergic to peanuts."])
    extractions_pending_process()
    later = _closed_conversation(store, ["I moved to Austin."], at=AT + timedelta(days=3))
    ExtractionRequest.objects.filter(conversation=later).delete()  # not processed yet
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{first.profile_id}/")
    sheet = page.locator("#side-sheet")

    # Edit: the sheet opens on the text area; an empty statement is refused there.
    page.get_by_role("link", name="Edit observation “Lives in Denver”").focus()
    page.keyboard.press("Enter")
    # Once slid in (Bootstrap's focus trap takes the focus then), the keyboard goes to the text area.
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    content = sheet.get_by_label("Observation")
    content.focus()
    expect(content).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.press("Tab")
    expect(sheet.get_by_role("button", name="Save observation")).to_be_focused()
    page.keyboard.press("Enter")
    expect(sheet.locator(".invalid-feedback")).to_contain_text("The content is required")
    content = sheet.get_by_label("Observation")
    expect(content).to_have_class(re.compile(r"\bis-invalid\b"))  # settled: the field wears its error
    expect(content).to_have_attribute("aria-describedby", "observation-content-help observation-content-error")
    content.focus()
    expect(content).to_be_focused()
    page.keyboard.type("Lives in Denver, near Union Station")
    page.keyboard.press("Tab")
    save = sheet.get_by_role("button", name="Save observation")
    expect(save).to_be_focused()
    with page.expect_response(lambda r: r.request.method == "POST" and "/edit/" in r.url):
        page.keyboard.press("Enter")
    expect(sheet).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("Saved the observation.")
    denver = Observation.objects.get(content="Lives in Denver, near Union Station")
    row = page.locator(f"#observation-{denver.pk}")
    expect(row.get_by_test_id("observation-decision")).to_have_text(f"Edited by {member.user.email}")
    row.get_by_text("History (2 versions)").focus()
    page.keyboard.press("Enter")
    expect(row.get_by_test_id("observation-history")).to_contain_text("Added: Lives in Denver")

    # Delete, after confirming in the sheet.
    peanuts = Observation.objects.get(content="Allergic to peanuts")
    page.get_by_role("link", name="Delete observation “Allergic to peanuts”").focus()
    page.keyboard.press("Enter")
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    expect(sheet.get_by_test_id("observation-to-delete")).to_have_text("Allergic to peanuts")
    sheet.get_by_role("button", name="Delete observation").focus()
    expect(sheet.get_by_role("button", name="Delete observation")).to_be_focused()
    page.keyboard.press("Enter")
    expect(sheet).to_be_hidden()
    expect(page.locator(f"#observation-{peanuts.pk}")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Deleted the observation.")
    assert not Observation.objects.filter(pk=peanuts.pk).exists()

    # Re-run extraction for the later conversation: the dry run writes nothing; Apply does.
    page.goto(f"/stores/{store.pk}/conversations/{later.pk}/")
    page.get_by_role("link", name="Re-run memory extraction").focus()
    page.keyboard.press("Enter")
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    decisions = sheet.get_by_test_id("rerun-decisions")
    expect(decisions.locator('[data-action="updated"]')).to_contain_text("Moved to Austin")
    expect(decisions).to_contain_text("Replaces: Lives in Denver, near Union Station")
    assert not ExtractionRequest.objects.filter(conversation=later).exists()
    sheet.get_by_role("button", name="Apply").focus()
    expect(sheet.get_by_role("button", name="Apply")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Re-ran memory extraction: 0 added, 1 updated, 0 discarded.")
    denver.refresh_from_db()
    assert denver.content == "Moved to Austin"
    assert ExtractionRequest.objects.get(conversation=later).requested_by == member.user.email
