"""An administrator creates a read-only API key in the browser and the page shows its scope
(issue 19); the key reads and is refused on a write."""

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory


def test_an_admin_creates_a_read_only_key_and_sees_its_scope(page, live_server):
    member = AdminMembershipFactory()
    sign_in(page, member.user.email, PASSWORD)
    page.goto("/api-keys/")
    page.get_by_label("Key name").fill("BI export")
    page.get_by_label("Access").select_option(label="Read-only")
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_test_id("new-key")).to_contain_text("Created API key BI export (read-only).")
    raw = page.get_by_test_id("raw-key").inner_text().strip()
    assert page.url == f"{live_server.url}/api-keys/"  # redirected after the POST; the secret is in no URL
    row = page.locator("tr[data-key='BI export']")
    expect(row.get_by_test_id("key-scope")).to_have_text("Read-only")

    headers = {"Authorization": f"Bearer {raw}"}
    assert page.request.get(f"{live_server.url}/api/v1/stores", headers=headers).status == 200
    refused = page.request.post(f"{live_server.url}/api/v1/stores", headers=headers, data={"name": "x"})
    assert refused.status == 403 and "read-only" in refused.json()["detail"]


def test_the_new_key_is_copied_with_its_button_and_a_reload_neither_shows_it_nor_posts_again(page, live_server):
    from accounts.models import ApiKey

    member = AdminMembershipFactory()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, member.user.email, PASSWORD)
    page.goto("/api-keys/")
    page.get_by_label("Key name").fill("CRM sync")
    page.get_by_role("button", name="Create API key").click()
    raw = page.get_by_test_id("raw-key").inner_text().strip()
    assert raw.startswith("mc_") and raw not in page.url

    copy = page.get_by_role("button", name="Copy key")
    copy.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == raw

    page.reload()
    expect(page.get_by_test_id("raw-key")).to_have_count(0)
    expect(page.locator("tr[data-key='CRM sync']")).to_have_count(1)
    assert ApiKey.objects.filter(name="CRM sync").count() == 1
