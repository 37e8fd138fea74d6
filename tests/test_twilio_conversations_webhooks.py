"""Twilio Conversations post-event webhooks (issue 16): onMessageAdded and onConversationStateUpdated,
signed with X-Twilio-Signature exactly as Twilio signs (the `twilio` package computes it); who is the
customer and who an agent; Twilio's conversation SID kept beside ours."""

from datetime import UTC, datetime

import pytest
from twilio.request_validator import RequestValidator

from conversations.models import (
    Communication,
    Conversation,
    ConversationStatus,
    ExtractionRequest,
    LifecycleEvent,
)
from conversations.services import ConfigurationInput, conversation_configuration_create, twilio_auth_token_set
from identity.models import Identifier
from profiles.models import Profile
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

TOKEN = "0123456789abcdef0123456789abcdef"
SERVICE = "IS" + "a1" * 16
CONVERSATION = "CH" + "b2" * 16
CUSTOMER = "+14155550123"
URL = "http://testserver/webhooks/twilio/conversations"
PATH = "/webhooks/twilio/conversations"


def _configuration(store, *, token=TOKEN, lifecycle="basic", **extra):
    made = conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(
            name="Conversations service", captures=[("chat", SERVICE)], lifecycle=lifecycle, **extra
        ),
    )
    twilio_auth_token_set(configuration=made, actor=None, token=token)
    return made


@pytest.fixture
def configuration(store):
    return _configuration(store, observations_enabled=True)


def _post(client, fields, *, token=TOKEN):
    signature = RequestValidator(token).compute_signature(URL, fields)
    return client.post(PATH, fields, HTTP_X_TWILIO_SIGNATURE=signature)


def _sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def _message(n=1, *, author=CUSTOMER, source="SMS", body="Hello", conversation=CONVERSATION, **extra):
    return {
        "EventType": "onMessageAdded",
        "AccountSid": "AC" + "c3" * 16,
        "ChatServiceSid": SERVICE,
        "ConversationSid": conversation,
        "MessageSid": _sid("IM", n),
        "Index": str(n - 1),
        "Body": body,
        "Author": author,
        "ParticipantSid": _sid("MB", n),
        "Source": source,
        "DateCreated": f"2026-11-30T10:{n:02d}:00.000Z",
        "Attributes": "{}",
        "RetryCount": "0",
        **extra,
    }


def _state(state_to, state_from="active", **extra):
    return {
        "EventType": "onConversationStateUpdated",
        "AccountSid": "AC" + "c3" * 16,
        "ChatServiceSid": SERVICE,
        "ConversationSid": CONVERSATION,
        "StateFrom": state_from,
        "StateTo": state_to,
        "Reason": "API",
        "DateUpdated": "2026-11-30T11:00:00.000Z",
        "Source": "API",
        **extra,
    }


def test_a_customer_sms_opens_a_conversation_with_a_profile_and_keeps_twilios_sid(client, configuration):
    response = _post(client, _message(body="Où est ma commande ? 📦"))
    assert (response.status_code, response.content) == (200, b"")
    conversation = Conversation.objects.get()
    assert (conversation.twilio_conversation_sid, conversation.channel, conversation.customer_address) == (
        CONVERSATION,
        "sms",
        CUSTOMER,
    )
    assert conversation.business_address == SERVICE and conversation.profile is not None
    message = Communication.objects.get()
    assert (message.direction, message.channel, message.from_address, message.to_address) == (
        "inbound",
        "sms",
        CUSTOMER,
        SERVICE,
    )
    assert (message.body, message.external_id) == ("Où est ma commande ? 📦", _sid("IM", 1))
    assert message.occurred_at == datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    assert list(Identifier.objects.values_list("kind", "value")) == [("phone", CUSTOMER)]


def test_an_agents_reply_is_outbound_keeps_the_agents_name_and_makes_no_profile(client, configuration):
    _post(client, _message(1))
    response = _post(client, _message(2, author="agent.ana@example.com", source="SDK", body="Let me check."))
    assert response.status_code == 200
    reply = Communication.objects.get(external_id=_sid("IM", 2))
    assert (reply.direction, reply.channel, reply.author_name, reply.to_address) == (
        "outbound",
        "chat",
        "agent.ana@example.com",
        CUSTOMER,
    )
    assert Conversation.objects.get().communications.count() == 2  # one conversation of ours
    assert Profile.objects.count() == 1
    assert not Identifier.objects.filter(value="agent.ana@example.com").exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"Author": "system", "Source": "API"},
        {"Author": "system", "Source": "SMS"},
        {"Author": "system", "Source": "API", "Attributes": '{"role": "customer"}'},
        {"Author": "", "Source": "API", "ParticipantSid": ""},
    ],
)
def test_a_system_author_is_never_a_profile(client, configuration, fields):
    assert _post(client, _message(**fields)).status_code == 200
    message = Communication.objects.get()
    assert (message.direction, message.author_name) == ("outbound", "system")
    assert not Profile.objects.exists() and not Identifier.objects.exists()


def test_an_agent_writing_first_opens_a_conversation_whose_customer_the_first_customer_message_fixes(
    client, configuration
):
    _post(client, _message(1, author="agent.ana", source="SDK", body="Your order shipped."))
    conversation = Conversation.objects.get()
    assert (conversation.customer_address, conversation.profile, conversation.channel) == ("", None, "chat")
    assert not Profile.objects.exists()
    _post(client, _message(2, body="Thanks!"))
    _post(client, _message(3, author="+14155550999", body="I'm on this thread too"))
    conversation.refresh_from_db()
    assert (conversation.customer_address, conversation.channel) == (CUSTOMER, "sms")
    assert conversation.profile == Identifier.objects.get(value=CUSTOMER).profile
    assert conversation.communications.count() == 3 and Conversation.objects.count() == 1


def test_a_chat_customer_is_the_author_whose_message_attributes_say_so(client, configuration):
    _post(client, _message(1, author="visitor-42", source="SDK", Attributes='{"role": "customer"}'))
    _post(client, _message(2, author="agent.bo", source="SDK", Attributes='{"role": "agent"}'))
    _post(client, _message(3, author="agent.cy", source="SDK"))  # no role: an SDK author is an agent
    assert list(Communication.objects.order_by("occurred_at").values_list("direction", "channel")) == [
        ("inbound", "chat"),
        ("outbound", "chat"),
        ("outbound", "chat"),
    ]
    assert list(Identifier.objects.values_list("kind", "value")) == [("chat", "visitor-42")]


def test_a_whatsapp_participant_is_a_whatsapp_customer_and_media_are_linked(client, configuration):
    media = '[{"Sid": "ME' + "d4" * 16 + '", "Filename": "a.png", "ContentType": "image/png", "Size": 1024}]'
    fields = _message(author=f"whatsapp:{CUSTOMER}", source="WHATSAPP", body="", Media=media)
    assert _post(client, fields).status_code == 200
    message = Communication.objects.get()
    assert message.channel == "whatsapp"
    assert message.media == [f"https://mcs.us1.twilio.com/v1/Services/{SERVICE}/Media/ME{'d4' * 16}"]
    assert Identifier.objects.filter(kind="whatsappid", value=f"whatsapp:{CUSTOMER}").exists()


def test_the_same_message_sid_delivered_twice_is_stored_once(client, configuration):
    for _ in range(2):
        assert _post(client, _message(7)).status_code == 200
    assert Communication.objects.count() == 1 and Conversation.objects.count() == 1


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_stored(client, configuration, signature):
    response = client.post(PATH, _message(), HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert not Communication.objects.exists() and not Conversation.objects.exists() and not Profile.objects.exists()


def test_another_stores_token_cannot_post_into_this_store(client, configuration, account, other_account):
    other = StoreFactory(account=other_account)
    _configuration(other, token="a" * 32)  # captures the same service, with its own token
    assert _post(client, _message(1), token="f" * 32).status_code == 403  # nobody's token
    assert _post(client, _message(2), token="a" * 32).status_code == 200
    assert Communication.objects.get().store == other
    assert not Conversation.objects.filter(store=configuration.store).exists()
    # Nor can it close this store's conversation of the same Twilio conversation.
    assert _post(client, _message(3)).status_code == 200
    ours = Conversation.objects.get(store=configuration.store)
    assert _post(client, _state("closed"), token="a" * 32).status_code == 200
    ours.refresh_from_db()
    assert ours.status == ConversationStatus.OPEN


def test_closed_in_twilio_closes_ours_once_with_its_history_and_extraction(client, configuration):
    _post(client, _message(1))
    _post(client, _message(2, author="agent.ana", source="SDK"))
    for _ in range(2):  # Twilio may send it again
        assert _post(client, _state("closed")).status_code == 200
    conversation = Conversation.objects.get()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.closed_at == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    closed = LifecycleEvent.objects.filter(conversation=conversation, kind="closed")
    assert list(closed.values_list("reason", flat=True)) == ["Closed in Twilio Conversations"]
    assert ExtractionRequest.objects.filter(conversation=conversation, transition="closed").count() == 1
    # A later message of the same Twilio conversation opens another of ours (Closed is final).
    _post(client, _message(3))
    assert Conversation.objects.filter(twilio_conversation_sid=CONVERSATION).count() == 2


def test_inactive_in_twilio_follows_the_configurations_lifecycle(client, store):
    configuration = _configuration(store, lifecycle="inactive", inactivity_minutes=5)
    _post(client, _message(1))
    assert _post(client, _state("inactive")).status_code == 200
    conversation = Conversation.objects.get()
    assert conversation.status == ConversationStatus.INACTIVE
    assert conversation.history.filter(kind="inactive", reason="Inactive in Twilio Conversations").count() == 1
    assert not ExtractionRequest.objects.exists()  # observations off
    _post(client, _message(2, body="Still there?"))  # the customer reopens it
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    configuration.lifecycle = "basic"
    configuration.save()
    _post(client, _state("inactive"))  # a Basic configuration has no Inactive state
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_a_state_update_without_the_service_sid_reaches_the_conversation_already_ours(client, configuration):
    _post(client, _message(1))
    fields = _state("closed")
    del fields["ChatServiceSid"]
    assert _post(client, fields).status_code == 200
    assert Conversation.objects.get().status == ConversationStatus.CLOSED


@pytest.mark.parametrize("event", ["onParticipantAdded", "onConversationAdded", "onMessageUpdated", ""])
def test_an_event_we_do_not_take_is_answered_and_ignored(client, configuration, event):
    response = _post(client, _message(EventType=event))
    assert (response.status_code, response.content) == (200, b"")
    assert not Communication.objects.exists() and not Conversation.objects.exists()


def test_a_service_nobody_captures_is_answered_and_not_stored(client, configuration):
    response = _post(client, _message(ChatServiceSid="IS" + "e5" * 16))
    assert (response.status_code, response.content) == (200, b"")
    assert not Communication.objects.exists()


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"Body": "a\x00b"}, "Body: The body contains U+0000 NULL."),
        ({"Author": "+1415\x00"}, "Author: SMS: “+1415\x00” contains U+0000 NULL"),
        ({"Author": "agent\x00", "Source": "SDK"}, "Author: The author contains U+0000 NULL."),
        ({"ConversationSid": "CH123"}, "ConversationSid: A ConversationSid is CH and 32 hexadecimal characters."),
        (
            {"ChatServiceSid": "IS\x00" + "0" * 31},
            "ChatServiceSid: A ChatServiceSid is IS and 32 hexadecimal characters.",
        ),
        ({"MessageSid": ""}, "MessageSid: onMessageAdded carries the message's SID (IM...)."),
        ({"Attributes": "{not json"}, "Attributes: Attributes must be JSON."),
        ({"Attributes": "[" * 30_000}, "Attributes: Attributes must be JSON."),
        ({"Attributes": "{}" + " " * 40_000}, "Attributes: Attributes is longer than 32,768 characters."),
        ({"Media": "[{]"}, "Media: Media must be JSON."),
        ({"Media": '{"Sid": "ME1"}'}, "Media: Media must be a JSON array of objects."),
        ({"Media": '[{"Sid": "../../x"}]'}, "Media: Each medium has a Sid: ME and 32 hexadecimal characters."),
        (
            {"DateCreated": "yesterday"},
            "DateCreated: The timestamp must be a date and time (ISO 8601, e.g. 2026-11-24T10:00:00Z)",
        ),
    ],
)
def test_hostile_fields_answer_400_naming_the_field(client, configuration, fields, text):
    response = _post(client, _message(**fields))
    assert (response.status_code, response.content.decode()) == (400, text)
    assert not Communication.objects.exists() and not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"StateTo": "exploded"}, "StateTo: The state must be active, inactive or closed."),
        (
            {"DateUpdated": "31/12/2026"},
            "DateUpdated: The timestamp must be a date and time (ISO 8601, e.g. 2026-11-24T10:00:00Z)",
        ),
    ],
)
def test_a_hostile_state_update_answers_400_and_closes_nothing(client, configuration, fields, text):
    _post(client, _message(1))
    response = _post(client, _state("closed", **fields))
    assert (response.status_code, response.content.decode()) == (400, text)
    assert Conversation.objects.get().status == ConversationStatus.OPEN


def test_a_body_over_the_upload_limit_is_refused_without_a_500(client, configuration, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post(PATH, _message(body="x" * 4096), HTTP_X_TWILIO_SIGNATURE="x")
    assert response.status_code == 413  # too large, said plainly
    assert not Communication.objects.exists()


def test_undecodable_bytes_are_not_a_500(client, configuration):
    raw = f"EventType=onMessageAdded&ChatServiceSid={SERVICE}&ConversationSid={CONVERSATION}&Body=%ED%A0%80"
    response = client.post(PATH, raw, content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE="x")
    assert response.status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_twilio_conversations_first_messages_racing_share_one_conversation_on_postgres(store):
    import threading

    from django.db import connections

    from conversations.services import twilio_conversation_message_ingest

    configuration = _configuration(store)
    barrier, errors = threading.Barrier(4), []

    def deliver(n, from_customer):
        try:
            barrier.wait()
            twilio_conversation_message_ingest(
                configuration=configuration,
                conversation_sid=CONVERSATION,
                service_sid=SERVICE,
                channel="sms" if from_customer else "chat",
                author=CUSTOMER if from_customer else "agent.ana",
                from_customer=from_customer,
                body=f"message {n}",
                external_id=_sid("IM", n),
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # A customer message and an agent's, each delivered twice at once.
    runs = [(1, True), (1, True), (2, False), (2, False)]
    threads = [threading.Thread(target=deliver, args=run) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Communication.objects.count() == 2 and Conversation.objects.count() == 1
    conversation = Conversation.objects.get()
    assert (conversation.customer_address, conversation.twilio_conversation_sid) == (CUSTOMER, CONVERSATION)
    assert Profile.objects.count() == 1


def test_a_conversation_whose_customer_is_not_known_yet_says_so_in_the_console(client, admin_client, configuration):
    from django.urls import reverse

    _post(client, _message(1, author="agent.ana", source="SDK", body="Your order shipped."))
    conversation = Conversation.objects.get()
    store_id = configuration.store_id
    listed = admin_client.get(reverse("conversations:conversations", args=[store_id])).content.decode()
    assert "Customer not known yet" in listed
    page = admin_client.get(reverse("conversations:conversation", args=[store_id, conversation.pk])).content.decode()
    assert f"Conversation #{conversation.pk}" in page and "not known yet (only the business has written)" in page
    assert "agent.ana" in page and conversation.twilio_conversation_sid in page
