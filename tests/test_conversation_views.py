"""The conversations pages (issue 16): the store's list with filters and pages, one conversation's
transcript and lifecycle, the profile's Conversations section; Support reads, other accounts 404."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
from conversations.views import PAGE_SIZE

pytestmark = pytest.mark.django_db

BUSINESS = "+14155550100"
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def talked(store):
    conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Support line", captures=[("sms", BUSINESS)])
    )
    communication_ingest(
        store=store,
        channel="sms",
        direction="inbound",
        from_address="+14155550123",
        to_address=BUSINESS,
        body="Where is my <b>order</b>?",
        occurred_at=AT,
    )
    reply = communication_ingest(
        store=store,
        channel="sms",
        direction="outbound",
        from_address=BUSINESS,
        to_address="+14155550123",
        body="On its way",
        occurred_at=AT + timedelta(minutes=1),
        author_name="Sam",
    )
    return reply.conversation


def test_the_list_shows_conversations_and_filters_them(admin_client, store, talked):
    url = reverse("conversations:conversations", args=[store.pk])
    html = admin_client.get(url).content.decode()
    assert "+14155550123" in html and "Support line" in html and ">Open<" in html
    closed = admin_client.get(url, {"status": "closed"}).content.decode()
    assert "No conversations match these filters." in closed
    assert admin_client.get(url, {"status": "nonsense", "before": "x" * 40}).status_code == 200  # ignored, not a 500


def test_the_list_filters_by_the_day_opened_and_says_when_a_date_is_wrong(admin_client, store, talked):
    communication_ingest(
        store=store,
        channel="sms",
        direction="inbound",
        from_address="+14155550999",
        to_address=BUSINESS,
        occurred_at=AT - timedelta(days=3),
    )
    url = reverse("conversations:conversations", args=[store.pk])
    day = admin_client.get(url, {"from": "2026-11-30", "to": "2026-11-30"}).content.decode()
    assert "+14155550123" in day and "+14155550999" not in day
    earlier = admin_client.get(url, {"to": "2026-11-29"}).content.decode()
    assert "+14155550123" not in earlier and "+14155550999" in earlier
    wrong = admin_client.get(url, {"from": "30/11/2026", "to": "0001-01-01"}).content.decode()
    assert wrong.count("Enter a date as YYYY-MM-DD") == 2 and "+14155550999" in wrong  # not applied, said
    backwards = admin_client.get(url, {"from": "2026-12-01", "to": "2026-11-01"}).content.decode()
    assert "The end date is before the start date." in backwards


def test_the_list_pages_by_keyset(admin_client, store, talked):
    for n in range(PAGE_SIZE + 1):
        communication_ingest(
            store=store,
            channel="sms",
            direction="inbound",
            from_address=f"+1415555{n:04d}",
            to_address=BUSINESS,
            occurred_at=AT,
        )
    url = reverse("conversations:conversations", args=[store.pk])
    first = admin_client.get(url).content.decode()
    assert 'data-testid="older"' in first
    older = admin_client.get(url, {"before": str(talked.pk + 2)}).content.decode()
    assert "+14155550123" in older and 'data-testid="older"' not in older


def test_a_conversation_shows_its_transcript_escaped_its_participants_and_lifecycle(support_client, store, talked):
    html = support_client.get(reverse("conversations:conversation", args=[store.pk, talked.pk])).content.decode()
    assert "Where is my &lt;b&gt;order&lt;/b&gt;?" in html  # the body exactly, escaped
    assert 'data-direction="outbound"' in html and "Sam" in html
    assert f'href="{reverse("profiles:detail", args=[store.pk, talked.profile_id])}"' in html
    assert "Opened" in html and "A message from the customer" in html  # the lifecycle history, with why
    assert 'data-testid="agents"' in html
    assert 'data-channel-icon="sms"' in html and "bootstrap-icons-1.13.2/chat-text" in html  # vendored, no CDN


def test_the_profile_page_lists_its_conversations(admin_client, store, talked):
    html = admin_client.get(reverse("profiles:detail", args=[store.pk, talked.profile_id])).content.decode()
    assert reverse("conversations:conversation", args=[store.pk, talked.pk]) in html
    assert "SMS with +14155550100" in html


def test_another_stores_conversation_is_not_found(admin_client, store, talked, account):
    from tests.factories import StoreFactory

    other = StoreFactory(account=account)
    assert admin_client.get(reverse("conversations:conversation", args=[other.pk, talked.pk])).status_code == 404


def test_hostile_page_parameters_are_ignored_not_a_500(admin_client, store, talked):
    url = reverse("conversations:conversations", args=[store.pk])
    assert admin_client.get(url, {"before": "²", "configuration": "9" * 5000}).status_code == 200


def test_deleting_one_of_two_configurations_over_htmx_redraws_the_list(admin_client, store, talked):
    from conversations.models import ConversationConfiguration

    other = conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Sales", captures=[("chat", "web")])
    )
    confirm = admin_client.get(reverse("conversations:delete", args=[store.pk, talked.configuration_id]))
    assert "1 conversation</strong>" in confirm.content.decode()  # it says what goes with it
    response = admin_client.post(reverse("conversations:delete", args=[store.pk, other.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Support line" in response.content.decode()
    assert not ConversationConfiguration.objects.filter(pk=other.pk).exists()
