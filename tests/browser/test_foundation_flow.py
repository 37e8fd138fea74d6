import re

from playwright.sync_api import expect

from stores.models import Store
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory, MembershipFactory


def test_new_admin_signs_in_gets_started_renames_the_store_and_sees_it_in_the_switcher(page):
    member = AdminMembershipFactory()
    sign_in(page, member.user.email, PASSWORD)

    expect(page.get_by_test_id("get-started")).to_be_visible()
    page.get_by_role("button", name="Get started").click()

    store = Store.objects.get(account=member.account)
    expect(page).to_have_url(re.compile(rf"/stores/{store.pk}/$"))
    expect(page.get_by_test_id("current-store-name")).to_have_text(store.name)
    expect(page.get_by_test_id("onboarding")).to_contain_text("Set up conversations")

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("link", name="Edit settings").click()
    page.get_by_label("Memory store name").fill("Production memory")
    page.get_by_label("Description").fill("Customers of the live shop")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_contain_text("Memory store settings saved")
    expect(page.get_by_test_id("store-name")).to_have_text("Production memory")
    expect(page.get_by_test_id("current-store-name")).to_have_text("Production memory")
    page.get_by_role("button", name=re.compile("Production memory")).click()
    expect(page.locator(".dropdown-menu a.dropdown-item")).to_have_text(["Production memory", "+ New memory store"])


def test_rename_to_an_empty_name_shows_the_error_in_the_browser(page):
    member = AdminMembershipFactory()
    from workspace.services import store_create

    store = store_create(account=member.account, actor=None, name="Sandbox")
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/settings/edit/")
    page.get_by_label("Memory store name").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".invalid-feedback")).to_contain_text("This field is required")


def test_support_member_sees_no_edit_controls_and_is_refused_the_edit_page(page):
    admin = AdminMembershipFactory()
    support = MembershipFactory(account=admin.account, role="support")
    from workspace.services import store_create

    store = store_create(account=admin.account, actor=None, name="Shared")
    sign_in(page, support.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/settings/")
    expect(page.get_by_test_id("store-name")).to_have_text("Shared")
    expect(page.get_by_role("link", name="Edit settings")).to_have_count(0)
    response = page.goto(f"/stores/{store.pk}/settings/edit/")
    assert response.status == 403
    expect(page.get_by_test_id("forbidden-reason")).to_contain_text("read-only")
