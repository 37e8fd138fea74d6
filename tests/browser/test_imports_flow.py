import re

import pytest
from playwright.sync_api import expect

from imports.models import ImportStatus, ProfileImport
from imports.services import import_run
from profiles.models import Profile
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from workspace.services import store_create

PEOPLE = (
    "email,firstName,lastName,address\r\n"
    "ada@example.com,Ada,Lovelace,12 St James Square\r\n"
    "not-an-email,Bad,Row,Nowhere\r\n"
    "grace@example.com,Grace,Hopper,Arlington\r\n"
)
PROGRESS = re.compile(r"/progress/$")


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"


def _csv(name: str, text: str) -> dict:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode("utf-8")}


def _admin_with_store():
    member = AdminMembershipFactory()
    return member, store_create(account=member.account, actor=None, name="Shop")


def test_admin_uploads_maps_and_follows_an_import_to_completed_with_its_failed_row(page):
    member, store = _admin_with_store()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/data-sources/")
    expect(page.get_by_test_id("imports-empty")).to_be_visible()
    page.get_by_role("link", name="+ Add profiles").click()

    expect(page.get_by_role("heading", name="Select a CSV")).to_be_visible()
    expect(page.get_by_role("link", name="Download the CSV template")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(files=[_csv("people.csv", PEOPLE)])
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Map CSV columns")).to_be_visible()
    expect(page.get_by_label("Map column email to")).to_have_value("identifier:email")
    address = page.get_by_label("Import column address")
    expect(address).to_be_checked()
    address.uncheck()
    page.get_by_role("button", name="Complete").click()

    # The details page shows the queued import and polls its progress.
    expect(page.get_by_role("heading", name="people.csv")).to_be_visible()
    progress = page.get_by_test_id("import-progress")
    expect(progress.get_by_test_id("import-status")).to_have_text("Queued")
    expect(page.get_by_test_id("progress-text")).to_have_text("0 of 3 rows processed")

    # No worker runs here: run its function in this thread. Hold the page's next poll meanwhile, so
    # the live server (which shares this thread's SQLite connection) answers nothing during the run.
    held, release = [], []

    def hold(route):
        if release:
            route.continue_()
        else:
            held.append(route)

    page.route(PROGRESS, hold)
    with page.expect_request(PROGRESS):
        pass
    profile_import = ProfileImport.objects.get(store=store)
    assert import_run(import_id=profile_import.pk, attempt=profile_import.attempt).status == ImportStatus.COMPLETED
    release.append(True)
    for route in held:
        route.continue_()

    # The poll sees the import finished and reloads the page with the final numbers.
    expect(page.get_by_test_id("import-status")).to_have_text("Completed")
    expect(page.get_by_test_id("import-progress")).to_have_count(0)
    expect(page.locator('[data-fact="rows_ingested"]')).to_have_text("2")
    expect(page.locator('[data-fact="rows_failed"]')).to_have_text("1")
    failed = page.get_by_test_id("row-errors").locator('tr[data-line="3"]')
    expect(failed).to_contain_text("failed row")
    expect(failed).to_contain_text("not-an-email")
    expect(page.get_by_role("link", name="Download failed rows and notes (CSV)")).to_be_visible()

    # The unticked column was not imported.
    ada = Profile.objects.get(store=store, identifiers__value="ada@example.com")
    assert ada.traits["Contact"] == {"firstName": "Ada", "lastName": "Lovelace"}

    page.get_by_role("link", name="Data sources").first.click()
    row = page.get_by_test_id("import-list").locator(f'tr[data-import="{profile_import.pk}"]')
    expect(row).to_contain_text("Completed")
    expect(row).to_contain_text(member.user.email)


def test_an_upload_breaking_a_file_rule_shows_the_rule_and_stays_on_select_a_csv(page):
    member, store = _admin_with_store()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/data-sources/csv/upload/")
    bad = "email,firstName,email\r\nada@example.com,Ada,ada@example.com\r\n"
    page.get_by_label("CSV file").set_input_files(files=[_csv("dupes.csv", bad)])
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("upload-error")).to_contain_text("Header “email” appears twice (columns 1 and 3).")
    expect(page.get_by_role("heading", name="Select a CSV")).to_be_visible()
    assert not ProfileImport.objects.filter(store=store).exists()


def _tab_to(page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element is the link or button named `name` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => (document.activeElement.innerText || '').trim()")
        if focused == name:
            return
    raise AssertionError(f"{name!r} was not reached with Tab in {limit} presses")


def test_admin_cancels_a_queued_import_with_the_keyboard_after_confirming(page):
    from tests.imports_helpers import queue, upload

    member, store = _admin_with_store()
    queued = queue(
        upload(store, PEOPLE), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/data-sources/csv/{queued.pk}/")
    expect(page.get_by_test_id("import-progress").get_by_test_id("import-status")).to_have_text("Queued")
    sheet = page.locator("#side-sheet")

    # Cancel asks first; Escape closes the question and the import goes on.
    _tab_to(page, "Cancel import…")
    page.keyboard.press("Enter")
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    expect(sheet.get_by_role("heading", name="Cancel the import of people.csv?")).to_be_visible()
    expect(sheet).to_contain_text("nothing from the file stays applied")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(page.get_by_test_id("import-progress").get_by_test_id("import-status")).to_have_text("Queued")

    # Again, and confirmed: the import ends Cancelled, with its reason, and stops polling.
    _tab_to(page, "Cancel import…")
    page.keyboard.press("Enter")
    expect(sheet).to_have_attribute("data-sheet-state", "shown")
    _tab_to(page, "Cancel import", limit=10)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Cancelled the import of people.csv; nothing from the file stays applied.")).to_be_visible()
    badge = page.get_by_test_id("import-status")
    expect(badge).to_have_text("Cancelled")
    expect(badge).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("cancel-reason")).to_contain_text(f"Cancelled by {member.user.email}")
    expect(page.get_by_test_id("import-progress")).to_have_count(0)
    expect(page.get_by_role("link", name="Cancel import…")).to_have_count(0)
    assert ProfileImport.objects.get(pk=queued.pk).status == ImportStatus.CANCELLED


def test_turning_import_off_disables_the_column_target_and_on_gives_it_back(page):
    member, store = _admin_with_store()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/data-sources/csv/upload/")
    page.get_by_label("CSV file").set_input_files(files=[_csv("people.csv", PEOPLE)])
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Map CSV columns")).to_be_visible()

    include, target = page.get_by_label("Import column address"), page.get_by_label("Map column address to")
    expect(include).to_be_checked()
    expect(target).to_be_enabled()
    chosen = target.input_value()
    include.uncheck()
    expect(target).to_be_disabled()
    include.check()
    expect(target).to_be_enabled()
    expect(target).to_have_value(chosen)

    # Off, the column is left out of the import.
    include.uncheck()
    page.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("heading", name="people.csv")).to_be_visible()
    mapped = ProfileImport.objects.get(store=store).mapping
    assert "address" not in str(mapped) and "firstName" in str(mapped)
