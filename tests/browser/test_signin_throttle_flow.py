import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, AdminMembershipFactory


def test_five_wrong_passwords_in_the_browser_lock_sign_in_and_say_how_long(page):
    member = AdminMembershipFactory()
    for attempt in range(4):
        sign_in(page, member.user.email, f"wrong-{attempt}")
        expect(page.get_by_text("Please enter a correct")).to_be_visible()
        expect(page.get_by_test_id("lockout")).to_have_count(0)

    sign_in(page, member.user.email, "wrong-4")
    expect(page.get_by_test_id("lockout")).to_contain_text("Sign-in is blocked for 15 minutes")

    sign_in(page, member.user.email, PASSWORD)  # the right password is refused while the lock lasts
    expect(page.get_by_test_id("lockout")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
