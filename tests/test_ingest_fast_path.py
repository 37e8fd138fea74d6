"""The cases where a message's one-statement write on PostgreSQL (`_communication_save_at_once`,
`_create_at_once`; docs/ARCHITECTURE.md, "Hand-written statements") must step aside for the
general way, with the same outcome a user sees on either database."""

from datetime import timedelta

from django.db import connection, transaction

from conversations.models import Communication, Conversation, LifecycleEvent
from identity.models import Identifier
from profiles.models import Profile
from tests.test_conversation_ingest import AT, CUSTOMER, _configuration, _inbound


def test_a_new_customer_whose_address_already_has_a_live_conversation_joins_it(store):
    _configuration(store)
    first = _inbound(store, body="Hi", external_id="SM1")
    # The conversation outlived its profile (deleted, say): the next message's identity is new.
    Conversation.objects.filter(pk=first.conversation.pk).update(profile=None)
    Identifier.objects.all().delete()
    Profile.objects.all().delete()

    second = _inbound(store, body="Still there?", at=AT + timedelta(minutes=1), external_id="SM2")
    assert second.created and second.conversation.pk == first.conversation.pk
    assert Conversation.objects.count() == 1  # never a second live conversation for one group
    assert list(Communication.objects.order_by("id").values_list("body", flat=True)) == ["Hi", "Still there?"]
    assert LifecycleEvent.objects.filter(kind="opened").count() == 1
    assert Profile.objects.count() == 1  # the customer's new profile


def test_a_redelivery_inside_a_callers_transaction_leaves_it_usable(store, db):
    _configuration(store)
    with transaction.atomic():
        first = _inbound(store, body="Where is my order?", external_id="SMtx")
        again = _inbound(store, body="Where is my order?", at=AT + timedelta(seconds=5), external_id="SMtx")
        assert (first.created, again.created) == (True, False)
        assert again.communication.pk == first.communication.pk
        with connection.cursor() as cursor:  # the caller's transaction was not aborted by the refusal
            cursor.execute("SELECT count(*) FROM conversations_communication")
            assert cursor.fetchone() == (1,)
    conversation = Conversation.objects.get()
    assert conversation.last_customer_at == AT  # the redelivery did not bump it


def test_a_returning_customer_joins_the_open_conversation_and_moves_its_clock(store):
    _configuration(store)
    first = _inbound(store, body="Hi", external_id="SMa")
    later = _inbound(store, body="Any news?", at=AT + timedelta(minutes=3), external_id="SMb")
    earlier = _inbound(store, body="(sent before)", at=AT - timedelta(minutes=1), external_id="SMc")
    assert first.conversation.pk == later.conversation.pk == earlier.conversation.pk
    assert later.profile.pk == first.profile.pk
    conversation = Conversation.objects.get()
    assert conversation.last_customer_at == AT + timedelta(minutes=3)  # a late, earlier-dated one moves nothing
    assert later.communication.conversation_id == conversation.pk and later.communication.body == "Any news?"
    assert Communication.objects.filter(conversation=conversation).count() == 3
    assert Identifier.objects.get().value == CUSTOMER
