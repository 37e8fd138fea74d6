"""Twilio-compatible messaging webhook (issue 16): signed with X-Twilio-Signature exactly as Twilio
signs (the `twilio` package computes it), the replays and quirks Twilio users report."""

import pytest
from django.core.exceptions import ValidationError
from twilio.request_validator import RequestValidator

from conversations.models import Communication, Conversation
from conversations.services import ConfigurationInput, conversation_configuration_create, twilio_auth_token_set
from identity.models import Identifier
from profiles.models import Profile
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

TOKEN = "0123456789abcdef0123456789abcdef"
BUSINESS = "+14155550100"
URL = "http://testserver/webhooks/twilio/messaging"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
def configuration(store):
    made = conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(
            name="Support line",
            captures=[("sms", BUSINESS), ("whatsapp", BUSINESS), ("voice", BUSINESS)],
            observations_enabled=True,
        ),
    )
    twilio_auth_token_set(configuration=made, actor=None, token=TOKEN)
    return made


def _post(client, fields, *, token=TOKEN, url=URL, **headers):
    signature = RequestValidator(token).compute_signature(url, fields)
    path = url.split("testserver", 1)[-1] if "testserver" in url else "/webhooks/twilio/messaging"
    return client.post(path, fields, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def _sms(sid="SM1", body="Hello", **extra):
    return {"MessageSid": sid, "From": "+14155550123", "To": BUSINESS, "Body": body, "NumMedia": "0", **extra}


def test_a_signed_message_is_stored_and_answered_with_empty_twiml(client, configuration):
    response = _post(client, _sms(body="Où est ma commande ? 📦"))
    assert (response.status_code, response["Content-Type"], response.content.decode()) == (200, "text/xml", TWIML)
    communication = Communication.objects.get()
    assert (communication.body, communication.external_id, communication.channel) == (
        "Où est ma commande ? 📦",
        "SM1",
        "sms",
    )
    assert list(Identifier.objects.values_list("kind", "value")) == [("phone", "+14155550123")]


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_stored(client, configuration, signature):
    response = client.post("/webhooks/twilio/messaging", _sms(), HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert not Communication.objects.exists() and not Profile.objects.exists()


def test_a_message_signed_with_another_accounts_token_is_refused(client, configuration):
    assert _post(client, _sms(), token="f" * 32).status_code == 403


def test_the_same_message_sid_delivered_eight_times_is_stored_once(client, configuration):
    for _ in range(8):
        assert _post(client, _sms(sid="SMdup")).status_code == 200
    assert Communication.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_a_status_callback_on_the_incoming_url_stores_nothing_and_makes_no_profile(client, configuration):
    fields = {"MessageSid": "SM9", "MessageStatus": "delivered", "From": BUSINESS, "To": "+14155550123"}
    fields["To"] = BUSINESS  # as Twilio sends it to the number's own webhook
    response = _post(client, fields)
    assert (response.status_code, response.content.decode()) == (200, TWIML)
    assert not Communication.objects.exists() and not Profile.objects.exists()


def test_an_mms_with_an_empty_body_and_two_media_keeps_both_urls(client, configuration):
    media = {"NumMedia": "2", "MediaUrl0": "https://api.twilio.com/m/0", "MediaUrl1": "https://api.twilio.com/m/1"}
    assert _post(client, _sms(body="", **media)).status_code == 200
    assert Communication.objects.get().media == ["https://api.twilio.com/m/0", "https://api.twilio.com/m/1"]


def test_whatsapp_with_profile_name_and_waid_is_a_whatsapp_customer(client, configuration):
    fields = {
        "MessageSid": "SMw",
        "From": "whatsapp:+14155550123",
        "To": f"whatsapp:{BUSINESS}",
        "Body": "hola",
        "ProfileName": "Ana",
        "WaId": "14155550123",
        "NumMedia": "0",
    }
    assert _post(client, fields).status_code == 200
    communication = Communication.objects.get()
    assert (communication.channel, communication.author_name) == ("whatsapp", "Ana")
    assert Identifier.objects.filter(kind="whatsappid", value="whatsapp:+14155550123").exists()


def test_a_message_to_an_address_nobody_captures_is_answered_and_not_stored(client, configuration):
    response = _post(client, _sms(To="+12125550100"))
    assert (response.status_code, response.content.decode()) == (200, TWIML)
    assert not Communication.objects.exists()


def test_the_store_whose_token_signs_the_message_takes_a_number_two_stores_capture(client, configuration, account):
    other = StoreFactory(account=account)
    theirs = conversation_configuration_create(
        store=other, actor=None, data=ConfigurationInput(name="Other", captures=[("sms", BUSINESS)])
    )
    twilio_auth_token_set(configuration=theirs, actor=None, token="a" * 32)
    assert _post(client, _sms(), token="a" * 32).status_code == 200
    assert Communication.objects.get().store == other


def test_a_signature_made_on_the_public_https_url_is_checked_behind_a_proxy(client, configuration, settings):
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["console.example.com", "testserver"]
    public = "https://console.example.com:8443/webhooks/twilio/messaging"
    response = _post(
        client, _sms(), url=public, HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="console.example.com:8443"
    )
    assert response.status_code == 200 and Communication.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "status", "text"),
    [
        ({"From": "not a phone"}, 400, "from: SMS: “not a phone” is not a phone number"),
        ({"Body": "a\x00b"}, 400, "body: The body contains U+0000 NULL."),
        ({"NumMedia": "two"}, 400, "NumMedia must be a whole number."),
    ],
)
def test_hostile_fields_answer_400_naming_the_field(client, configuration, fields, status, text):
    response = _post(client, _sms(**fields))
    assert (response.status_code, response.content.decode()) == (status, text)
    assert not Communication.objects.exists()


def test_only_a_twilio_auth_token_can_be_set(configuration):
    with pytest.raises(ValidationError, match="32 hexadecimal characters"):
        twilio_auth_token_set(configuration=configuration, actor=None, token="secret")


VOICE_URL = "http://testserver/webhooks/twilio/voice"


def _call(status, **extra):
    return {"CallSid": "CA1", "From": "+14155550123", "To": BUSINESS, "CallStatus": status, **extra}


def test_a_call_is_one_communication_and_its_end_closes_the_voice_conversation_once(client, configuration):
    from conversations.models import ConversationStatus, ExtractionRequest

    assert _post(client, _call("ringing"), url=VOICE_URL).status_code == 200
    assert _post(client, _call("in-progress"), url=VOICE_URL).status_code == 200
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.status) == ("voice", ConversationStatus.OPEN)
    transcript = _call("in-progress", TranscriptionSid="TR1", TranscriptionText="I'd like to change my order")
    assert _post(client, transcript, url=VOICE_URL).status_code == 200
    assert _post(client, _call("completed"), url=VOICE_URL).content.decode() == TWIML
    assert _post(client, _call("completed"), url=VOICE_URL).status_code == 200  # Twilio may send it again
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED and conversation.closed_at is not None
    assert list(Communication.objects.values_list("external_id", "body")) == [
        ("CA1", ""),
        ("TR1", "I'd like to change my order"),
    ]
    assert ExtractionRequest.objects.filter(conversation=conversation, transition="closed").count() == 1


def test_an_unsigned_voice_callback_closes_nothing(client, configuration):
    _post(client, _call("in-progress"), url=VOICE_URL)
    response = client.post("/webhooks/twilio/voice", _call("completed"), HTTP_X_TWILIO_SIGNATURE="x")
    assert response.status_code == 403
    assert Conversation.objects.get().status == "open"


def test_a_transcript_sent_after_the_call_ended_joins_the_calls_conversation(client, configuration):
    from conversations.models import ConversationStatus

    _post(client, _call("in-progress"), url=VOICE_URL)
    _post(client, _call("completed"), url=VOICE_URL)
    late = _call("completed", TranscriptionSid="TR9", TranscriptionText="Please call me back")
    assert _post(client, late, url=VOICE_URL).status_code == 200
    conversation = Conversation.objects.get()  # not a second one, left Open forever
    assert conversation.status == ConversationStatus.CLOSED
    transcript = conversation.communications.get(external_id="TR9")
    # The closing's extraction covered the call; the transcript gets its own, once.
    from conversations.models import ExtractionRequest

    covered = list(conversation.extractions.values_list("after_communication_id", "last_communication_id"))
    call = conversation.communications.get(external_id="CA1")
    assert covered == [(0, call.pk), (call.pk, transcript.pk)]
    assert _post(client, late, url=VOICE_URL).status_code == 200  # Twilio retries the transcript
    assert ExtractionRequest.objects.count() == 2


NEW_TOKEN = "fedcba9876543210fedcba9876543210"


def test_an_administrator_sets_then_rotates_the_token_in_the_console_and_the_old_one_stops_working(
    admin_client, client, store, configuration
):
    from django.urls import reverse

    page = admin_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])).content.decode()
    assert "http://testserver/webhooks/twilio/messaging" in page and "…cdef" in page and TOKEN not in page
    url = reverse("conversations:twilio_token", args=[store.pk, configuration.pk])
    wrong = admin_client.post(url, {"token": "not-a-token\x00"}, HTTP_HX_REQUEST="true").content.decode()
    assert "32 hexadecimal characters" in wrong
    assert admin_client.post(url, {"token": NEW_TOKEN}).status_code == 302
    page = admin_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])).content.decode()
    assert "…3210" in page and NEW_TOKEN not in page
    assert _post(client, _sms(sid="SMold")).status_code == 403  # the old token no longer signs
    assert _post(client, _sms(sid="SMnew"), token=NEW_TOKEN).status_code == 200


def test_support_cannot_set_the_token_and_sees_no_control(support_client, store, configuration):
    from django.urls import reverse

    page = support_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])).content.decode()
    assert "Replace auth token" not in page
    url = reverse("conversations:twilio_token", args=[store.pk, configuration.pk])
    assert support_client.post(url, {"token": NEW_TOKEN}).status_code == 403


def test_the_api_sets_the_token_never_returns_it_and_walls_other_accounts(api, store, configuration):
    from accounts.services import api_key_create
    from tests.factories import AccountFactory

    path = f"/stores/{store.pk}/conversation-configurations/{configuration.pk}"
    assert api.call("put", f"{path}/twilio-auth-token", {"token": NEW_TOKEN}).status_code == 204
    got = api.call("get", path)
    assert got.json()["twilio_auth_token_hint"] == "…3210" and NEW_TOKEN not in got.content.decode()
    wrong = api.call("put", f"{path}/twilio-auth-token", {"token": "secret"})
    assert wrong.status_code == 422 and "token" in str(wrong.json()["detail"][0]["loc"])
    other_key = api_key_create(account=AccountFactory(), actor=None, name="other")[1]
    stranger = api.client.put(
        f"/api/v1{path}/twilio-auth-token",
        {"token": TOKEN},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_key}",
    )
    assert stranger.status_code == 404


def test_a_store_without_a_phone_rule_stores_the_message_without_a_profile_and_says_why(
    client, admin_client, configuration
):
    from django.urls import reverse

    from identity.models import IdentityRule

    IdentityRule.objects.filter(store=configuration.store, kind="phone").delete()
    answer = _post(client, _sms(sid="SMnorule"))
    assert answer.status_code == 200 and answer.content.decode() == TWIML  # Twilio does not retry
    conversation = Conversation.objects.get()
    assert conversation.profile is None and conversation.communications.get().body == "Hello"
    assert not Profile.objects.exists()
    page = admin_client.get(reverse("conversations:conversation", args=[configuration.store_id, conversation.pk]))
    assert "identity rules do not take this phone identifier" in page.content.decode()


def test_a_broader_rule_with_a_token_never_takes_an_address_whose_own_configuration_has_none(client, store):
    exact = conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Exact", captures=[("sms", BUSINESS)])
    )
    wild = conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Wild", captures=[("sms", "*")])
    )
    twilio_auth_token_set(configuration=wild, actor=None, token=TOKEN)
    answer = _post(client, _sms(sid="SMexact"))
    assert answer.status_code == 403 and not Communication.objects.exists()  # not stored under "Wild"
    assert "“Exact” captures this address but has no Twilio auth token yet" in answer.content.decode()
    twilio_auth_token_set(configuration=exact, actor=None, token=NEW_TOKEN)
    assert _post(client, _sms(sid="SMexact"), token=NEW_TOKEN).status_code == 200
    assert Communication.objects.get().conversation.configuration == exact
    other = _sms(sid="SMother", To="+14155550999")
    assert _post(client, other).status_code == 200
    assert Communication.objects.get(external_id="SMother").conversation.configuration == wild


def test_a_long_call_is_not_timed_out_and_a_call_ending_does_not_close_an_sms_conversation(client, store):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.models import ConversationStatus
    from conversations.services import conversations_advance

    made = conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(name="Line", grouping="addresses", captures=[("sms", BUSINESS), ("voice", BUSINESS)]),
    )
    twilio_auth_token_set(configuration=made, actor=None, token=TOKEN)
    _post(client, _call("in-progress", CallSid="CAlong", From="+14155550777"), url=VOICE_URL)
    call = Conversation.objects.get()
    soon = timezone.now() + timedelta(minutes=16)  # SMS and Voice: 15 minutes, but a call is in progress
    assert conversations_advance(now=soon).closed == 0
    assert conversations_advance(now=timezone.now() + timedelta(hours=4, minutes=1)).closed == 1  # no end came
    assert Conversation.objects.get(pk=call.pk).status == ConversationStatus.CLOSED
    _post(client, _sms(sid="SMmixed"))  # an SMS conversation that a call then joins (grouping by addresses)
    _post(client, _call("completed", CallSid="CAmixed"), url=VOICE_URL)
    mixed = Communication.objects.get(external_id="SMmixed").conversation
    assert mixed.communications.filter(external_id="CAmixed").exists()
    mixed.refresh_from_db()
    assert mixed.status == ConversationStatus.OPEN  # the call's end closes Voice conversations only


def test_a_voice_callback_without_its_sids_and_a_body_over_the_limit_are_refused_plainly(
    client, configuration, settings
):
    assert (
        _post(client, {"From": "+14155550123", "To": BUSINESS, "CallStatus": "ringing"}, url=VOICE_URL).status_code
        == 400
    )
    no_sid = _call("completed", TranscriptionText="Call me back")
    answer = _post(client, no_sid, url=VOICE_URL)
    assert answer.status_code == 400 and "TranscriptionSid" in answer.content.decode()
    assert not Communication.objects.exists()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = _post(client, _sms(sid="SMbig", body="x" * 2000))
    assert big.status_code == 413 and "too large" in big.content.decode()
    assert big["Content-Type"].startswith("text/plain")


def test_a_call_opens_its_conversation_as_a_call(client, configuration):
    _post(client, _call("ringing"), url=VOICE_URL)
    assert Conversation.objects.get().history.get().reason == "A call from the customer"
