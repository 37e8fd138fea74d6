"""The profile page's Recall preview in a real browser (issue 17): a Support member runs recall
with a query from the keyboard and sees the ranked observations, their scores and the prompt
text, swapped in place; a bad limit says so; without JavaScript the same form is a page."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Observation
from profiles.models import Profile
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, MembershipFactory
from workspace.services import store_create


def _profile_with_memory():
    member = MembershipFactory(role="support")
    store = store_create(account=member.account, actor=None, name="Shop")
    profile = Profile.objects.create(store=store, traits={"Contact": {"firstName": "Ada"}})
    now = timezone.now()
    for days, content in [(9, "Allergic to peanuts"), (2, "Prefers WhatsApp over email"), (1, "Has two dogs")]:
        at = now - timedelta(days=days)
        Observation.objects.create(
            store=store,
            profile=profile,
            content=content,
            kind="preference",
            source="builtin",
            occurred_at=at,
            created_at=at,
            updated_at=at,
        )
    return member, store, profile


def test_support_previews_recall_with_a_query_from_the_keyboard(page):
    member, store, profile = _profile_with_memory()
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    box = page.get_by_test_id("recall-preview")
    expect(box).to_contain_text("Recall preview")
    page.get_by_label("Query").focus()
    page.keyboard.type("peanut allergy")
    page.keyboard.press("Enter")
    result = box.get_by_test_id("recall-result")
    expect(result.get_by_test_id("recall-observations").locator("li").first).to_contain_text("Allergic to peanuts")
    expect(result).to_contain_text("score")
    text = box.get_by_test_id("recall-text")
    value = text.input_value()
    assert value.startswith(f"Customer profile #{profile.pk}") and "- Contact.firstName: Ada" in value
    assert "Allergic to peanuts (score " in value
    assert page.url.endswith(f"/profiles/{profile.pk}/")  # swapped in place, the page stayed
    assert Observation.objects.get(content="Allergic to peanuts").recall_count == 0

    box.get_by_text("Limits and dates").click()
    box.get_by_label("Observations").fill("500")
    box.get_by_label("Observations").evaluate("el => el.removeAttribute('max')")  # what a hand-made request sends
    page.get_by_label("Query").press("Enter")
    expect(box.get_by_test_id("recall-errors")).to_contain_text("from 0 to 100")


@pytest.fixture
def page_without_js(chromium, live_server, transactional_db):
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_without_javascript_the_preview_is_a_page(page_without_js):
    member, store, profile = _profile_with_memory()
    page = page_without_js
    sign_in(page, member.user.email, PASSWORD)
    page.goto(f"/stores/{store.pk}/profiles/{profile.pk}/")
    page.get_by_label("Query").fill("")
    page.get_by_role("button", name="Run recall").click()
    expect(page.get_by_role("heading", name="Recall preview")).to_be_visible()
    expect(page.get_by_test_id("recall-observations").locator("li").first).to_contain_text("Has two dogs")
    expect(page.get_by_test_id("recall-text")).to_contain_text("Observations (most recent first):")
