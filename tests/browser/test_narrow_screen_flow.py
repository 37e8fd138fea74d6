"""At a phone's width (390 x 844) the navigation folds into an offcanvas panel behind the header's
Menu button, so the pages use the whole width: no horizontal scroll, the content at least 300 px."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory
from tests.imports_helpers import CONTACT, csv_text, run, upload
from workspace.services import store_create

WIDTH = 390


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"


@pytest.fixture
def phone(page):
    page.set_viewport_size({"width": WIDTH, "height": 844})
    return page


def _fits(page) -> None:
    sizes = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,"
        " main: document.getElementById('main').getBoundingClientRect().width})"
    )
    assert sizes["scroll"] <= sizes["client"], (page.url, sizes)
    assert sizes["main"] >= 300, (page.url, sizes)


def test_pages_fit_a_phone_and_the_menu_opens_the_navigation(phone):
    page = phone
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="A memory store with a long name")
    finished = run(store, csv_text("ada@example.com,+442079460000,Ada,Lovelace", "broken,,Bad,Row"), CONTACT)
    pending = upload(store, csv_text("bob@example.com,+442079460001,Bob,Builder"), name="people-to-map.csv")
    sign_in(page, member.user.email, PASSWORD)

    base = f"/stores/{store.pk}"
    for path in (
        f"{base}/profiles/",
        f"{base}/traits/",
        f"{base}/identifiers/",
        f"{base}/data-sources/",
        f"{base}/data-sources/csv/{pending.pk}/mapping/",
        f"{base}/data-sources/csv/{finished.pk}/",
        "/api-keys/",
        "/activity/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        _fits(page)

    # The navigation is folded away until the Menu button (a real button, reached by keyboard) opens it.
    page.goto(f"{base}/profiles/")
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Traits")).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    menu.focus()
    page.keyboard.press("Enter")
    expect(nav.get_by_role("link", name="Traits")).to_be_visible()
    expect(nav.get_by_role("link", name="API keys")).to_be_visible()
    nav.get_by_role("link", name="Traits").click()
    expect(page).to_have_url(f"{page.url.split('/stores/')[0]}{base}/traits/")
    _fits(page)


def test_the_sidebar_stays_open_on_a_wide_screen(page):
    member = AdminMembershipFactory()
    store = store_create(account=member.account, actor=None, name="Shop")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="Traits")).to_be_visible()
    sidebar = page.locator("#mc-sidebar")
    assert sidebar.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    assert sidebar.evaluate("e => e.getBoundingClientRect().width") >= 200
