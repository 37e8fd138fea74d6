"""Communications join conversations (issue 16, ingestion core): the configuration capturing the
business address, the customer resolved to a profile, grouping, idempotent redelivery, and the
lifecycle's reopen/Closed rules."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from conversations.models import Communication, Conversation, ConversationStatus
from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
from identity.models import Identifier
from profiles.models import Profile

pytestmark = pytest.mark.django_db

BUSINESS = "+14155550100"
CUSTOMER = "+14155550123"
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _configuration(store, grouping="addresses_channel"):
    captures = [("sms", BUSINESS), ("voice", BUSINESS), ("whatsapp", BUSINESS)]
    data = ConfigurationInput(name="Support line", grouping=grouping, captures=captures)
    return conversation_configuration_create(store=store, actor=None, data=data)


def _inbound(store, body="Hi", at=AT, channel="sms", customer=CUSTOMER, **kwargs):
    return communication_ingest(
        store=store,
        channel=channel,
        direction="inbound",
        from_address=customer,
        to_address=BUSINESS,
        body=body,
        occurred_at=at,
        **kwargs,
    )


def test_a_customer_message_opens_a_conversation_and_only_the_customer_gets_a_profile(store):
    _configuration(store)
    info = _inbound(store, body="Où est ma commande ? 📦", customer="(415) 555-0123")
    assert info.created and info.conversation.status == ConversationStatus.OPEN
    assert info.communication.body == "Où est ma commande ? 📦"
    assert (info.communication.from_address, info.communication.to_address) == (CUSTOMER, BUSINESS)
    assert list(Identifier.objects.filter(store=store).values_list("kind", "value")) == [("phone", CUSTOMER)]
    assert info.conversation.profile == info.profile and Profile.objects.filter(store=store).count() == 1
    reply = communication_ingest(
        store=store,
        channel="sms",
        direction="outbound",
        from_address=BUSINESS,
        to_address=CUSTOMER,
        body="On its way",
        occurred_at=AT + timedelta(minutes=1),
        author_name="Sam (agent)",
    )
    assert reply.conversation == info.conversation  # the agent's reply joins it; no profile for the business
    assert Profile.objects.filter(store=store).count() == 1


def test_a_redelivered_message_is_stored_once_and_changes_nothing(store):
    _configuration(store)
    first = _inbound(store, external_id="SM0123")
    again = _inbound(store, external_id="SM0123", at=AT + timedelta(minutes=5))
    assert (first.created, again.created) == (True, False)
    assert again.communication.pk == first.communication.pk
    assert Communication.objects.count() == 1
    assert Conversation.objects.get().last_customer_at == AT  # not bumped by the redelivery


def test_whatsapp_customers_are_resolved_by_whatsappid_and_grouping_by_channel_separates_them(store):
    _configuration(store)
    sms = _inbound(store)
    whatsapp = _inbound(store, channel="whatsapp", customer="whatsapp:+14155550123")
    assert whatsapp.conversation != sms.conversation
    assert Identifier.objects.filter(store=store, kind="whatsappid", value="whatsapp:+14155550123").exists()


def test_grouping_by_addresses_joins_sms_and_voice_of_one_customer(store):
    _configuration(store, grouping="addresses")
    assert _inbound(store).conversation == _inbound(store, channel="voice").conversation


def test_an_address_no_configuration_captures_is_refused_naming_it(store):
    _configuration(store)
    with pytest.raises(ValidationError) as caught:
        communication_ingest(
            store=store,
            channel="sms",
            direction="inbound",
            from_address=CUSTOMER,
            to_address="+12125550100",
            body="Hi",
            occurred_at=AT,
        )
    assert caught.value.message_dict == {
        "to": ["No conversation configuration of this store captures +12125550100 (sms)."]
    }
    assert not Profile.objects.exists() and not Communication.objects.exists()


@pytest.mark.parametrize(
    ("field", "kwargs", "message"),
    [
        ("channel", {"channel": "fax"}, "The channel must be one of"),
        ("from", {"customer": "not a phone"}, "is not a phone number"),
        ("body", {"body": "a\x00b"}, "The body contains U+0000 NULL."),
    ],
)
def test_hostile_values_are_refused_naming_the_field(store, field, kwargs, message):
    _configuration(store)
    with pytest.raises(ValidationError) as caught:
        _inbound(store, **kwargs)
    assert message in " ".join(caught.value.message_dict[field])


def test_an_inactive_conversation_reopens_and_a_closed_one_is_never_joined_again(store):
    _configuration(store)
    first = _inbound(store).conversation
    Conversation.objects.filter(pk=first.pk).update(status=ConversationStatus.INACTIVE, inactive_at=AT)
    again = _inbound(store, at=AT + timedelta(minutes=3)).conversation
    assert again.pk == first.pk and again.status == ConversationStatus.OPEN and again.inactive_at is None
    Conversation.objects.filter(pk=first.pk).update(status=ConversationStatus.CLOSED, closed_at=AT)
    later = _inbound(store, at=AT + timedelta(hours=1)).conversation
    assert later.pk != first.pk and later.status == ConversationStatus.OPEN
    assert Conversation.objects.get(pk=first.pk).status == ConversationStatus.CLOSED


def _lifecycle(store, **kwargs):
    data = ConfigurationInput(name="Support line", captures=[("sms", BUSINESS), ("voice", BUSINESS)], **kwargs)
    return conversation_configuration_create(store=store, actor=None, data=data)


def test_the_worker_moves_open_to_inactive_to_closed_by_the_clock_and_queues_extraction_once_per_transition(store):
    from conversations.models import ExtractionRequest
    from conversations.services import conversations_advance

    _lifecycle(store, lifecycle="inactive", inactivity_minutes=5, timeout_minutes=30, observations_enabled=True)
    conversation = _inbound(store, body="My order #1234 has not arrived yet.").conversation
    assert conversations_advance(now=AT + timedelta(minutes=4)).inactive == 0
    moved = conversations_advance(now=AT + timedelta(minutes=5))
    assert (moved.inactive, moved.closed, moved.extractions) == (1, 0, 1)
    assert conversations_advance(now=AT + timedelta(minutes=6)).inactive == 0  # once
    # The customer writes again: reopened; then quiet until the timeout since that message.
    _inbound(store, body="Still there?", at=AT + timedelta(minutes=10))
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.OPEN
    assert conversations_advance(now=AT + timedelta(minutes=15)).inactive == 1
    closed = conversations_advance(now=AT + timedelta(minutes=40))
    # Closed asks once more although nothing was said since the second request: no message is
    # extracted twice, and the conversation gets its summary.
    assert (closed.closed, closed.extractions) == (1, 1)
    requests = list(
        ExtractionRequest.objects.order_by("id").values_list(
            "transition", "after_communication_id", "last_communication_id"
        )
    )
    first, second = Communication.objects.order_by("id").values_list("id", flat=True)
    assert requests == [("inactive", 0, first), ("inactive", first, second), ("closed", second, second)]
    from conversations.memory import extractions_pending_process
    from conversations.models import Summary

    assert extractions_pending_process() == {"done": 3, "failed": 0}
    summary = Summary.objects.get(conversation=conversation)  # over the whole conversation
    assert "order #1234" in summary.content
    assert ExtractionRequest.objects.order_by("id").last().decisions.count() == 0  # nothing new to observe
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.CLOSED
    history = list(conversation.history.values_list("kind", "at", "reason"))
    assert history == [
        ("opened", AT, "A message from the customer"),
        ("inactive", AT + timedelta(minutes=5), "No customer communication for 5 minutes"),
        ("reopened", AT + timedelta(minutes=10), "The customer wrote again"),
        ("inactive", AT + timedelta(minutes=15), "No customer communication for 5 minutes"),
        ("closed", AT + timedelta(minutes=40), "No customer communication for 30 minutes (the conversation timeout)"),
    ]


def test_the_worker_closes_due_conversations_in_several_chunks_and_leaves_a_recent_one_open(store):
    from conversations import services

    _lifecycle(store)
    quiet = [_inbound(store, customer=f"+1415555{n:04d}").conversation for n in range(5)]
    fresh = _inbound(store, customer="+14155559999", at=AT + timedelta(minutes=20)).conversation
    services.ADVANCE_CHUNK, chunk = 2, services.ADVANCE_CHUNK  # several transactions
    try:
        counts = services.conversations_advance(now=AT + timedelta(minutes=16))
    finally:
        services.ADVANCE_CHUNK = chunk
    assert counts.closed == 5
    assert {c.status for c in Conversation.objects.filter(pk__in=[q.pk for q in quiet])} == {"closed"}
    assert Conversation.objects.get(pk=fresh.pk).status == ConversationStatus.OPEN


def test_a_basic_lifecycle_closes_at_the_default_timeout_and_without_observations_queues_nothing(store):
    from conversations.models import ExtractionRequest
    from conversations.services import conversations_advance

    _lifecycle(store)  # SMS and Voice: the longest default, 15 minutes, for both
    _inbound(store)
    assert conversations_advance(now=AT + timedelta(minutes=14)).closed == 0
    assert conversations_advance(now=AT + timedelta(minutes=15)).closed == 1
    assert not ExtractionRequest.objects.exists()


def test_a_voice_only_configuration_is_not_closed_by_a_timer(store):
    from conversations.services import conversations_advance

    conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Calls", captures=[("voice", BUSINESS)])
    )
    _inbound(store, channel="voice")
    assert conversations_advance(now=AT + timedelta(days=2)).closed == 0  # the call's end closes it


@pytest.mark.django_db(databases="__all__")  # django-q2's schedules are in the queue database on SQLite
def test_the_lifecycle_schedule_runs_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="conversations.tasks.conversations_advance_task")  # made by migrate
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


def test_a_conversation_follows_its_customers_profile_into_a_merge(store):
    from identity.services import merge_create, profile_identify

    _configuration(store)
    conversation = _inbound(store).conversation
    crm = profile_identify(store=store, identifiers=[("email", "ann@example.com")], source="crm").profile
    merge_create(store=store, profile=conversation.profile, into=crm, matching=[], source="test")
    assert Conversation.objects.get(pk=conversation.pk).profile_id == crm.pk  # not left on the tombstone


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_first_messages_race_on_postgres_share_one_conversation(store):
    import threading

    from django.db import connections

    _configuration(store)
    barrier, errors = threading.Barrier(2), []

    def deliver(n):
        try:
            barrier.wait()
            _inbound(store, body=f"message {n}", external_id=f"SM-race-{n}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Communication.objects.count() == 2 and Conversation.objects.count() == 1


def test_grouped_by_profile_a_merged_customers_next_message_joins_their_live_conversation(store):
    from identity.services import merge_create, profile_identify

    _configuration(store, grouping="profile")
    first = _inbound(store).conversation
    crm = profile_identify(store=store, identifiers=[("email", "ann@example.com")], source="crm").profile
    merge_create(store=store, profile=first.profile, into=crm, matching=[], source="test")
    later = _inbound(store, body="again", at=AT + timedelta(minutes=2)).conversation
    assert later.pk == first.pk  # found by its profile, not by the key it was opened with


def test_a_conversation_whose_channel_is_no_longer_captured_still_closes(store):
    from conversations.services import conversation_configuration_update, conversations_advance

    configuration = _configuration(store)
    _inbound(store)
    conversation_configuration_update(
        configuration=configuration,
        actor=None,
        data=ConfigurationInput(name="Support line", captures=[("chat", "web")]),
    )
    assert conversations_advance(now=AT + timedelta(minutes=15)).closed == 1  # SMS's default, 15 min


def test_media_must_be_web_urls_and_names_are_stored_in_nfc(store):
    _configuration(store)
    with pytest.raises(ValidationError, match="Media must be http"):
        _inbound(store, media=["javascript:alert(1)"])
    with pytest.raises(ValidationError, match="U\\+0000"):
        _inbound(store, media=["https://x.example/a\x00"])
    info = _inbound(store, author_name="Jose\u0301")  # e + combining acute
    assert info.communication.author_name == "Jos\u00e9"
