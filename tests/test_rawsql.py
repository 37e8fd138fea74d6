"""`memory_console.rawsql`, the webhook's hand-written statements: what they read is what the ORM
reads (every field, converted alike: JSON, datetimes, booleans, empty and null values), and what
they write reads back through the ORM as `save()` would have written it. Runs on SQLite and, in
`make ci`, on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from conversations.models import Communication, Conversation, ConversationConfiguration, ConversationStatus
from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
from memory_console import rawsql
from profiles.models import Profile
from stores.models import Store

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.fixture
def conversation(store):
    data = ConfigurationInput(
        name="Support line",
        captures=[("sms", "+14155550100")],
        status_callback_urls=["https://example.com/hook"],
        observations_enabled=True,
    )
    conversation_configuration_create(store=store, actor=None, data=data)
    info = communication_ingest(
        store=store,
        channel="sms",
        direction="inbound",
        from_address="+14155550123",
        to_address="+14155550100",
        body="Hé — ünïcode 🎉",
        occurred_at=AT,
        media=["https://example.com/a.png"],
    )
    return info.conversation


def test_fetch_reads_every_field_as_the_orm_does(store, conversation):
    profile = Profile.objects.get(pk=conversation.profile_id)
    profile.traits = {"Contact": {"first_name": "Zoë", "age": 41, "vip": True, "nothing": None}}
    profile.save()
    sql = (
        f"SELECT 7, {rawsql.columns(Conversation, 'c')}, {rawsql.columns(ConversationConfiguration, 'f')}, "
        f"{rawsql.columns(Store, 's')}, {rawsql.columns(Profile, 'p')} "
        "FROM conversations_conversation c JOIN conversations_conversationconfiguration f ON f.id = c.configuration_id "
        "JOIN stores_store s ON s.id = c.store_id JOIN profiles_profile p ON p.id = c.profile_id WHERE c.id = %s"
    )
    [(seven, conv, configuration, got_store, got_profile)] = rawsql.fetch(
        sql, [conversation.pk], [Conversation, ConversationConfiguration, Store, Profile], leading=1
    )
    assert seven == 7
    for got, model in (
        (conv, Conversation),
        (configuration, ConversationConfiguration),
        (got_store, Store),
        (got_profile, Profile),
    ):
        assert _fields(got) == _fields(model.objects.get(pk=got.pk)), model.__name__
        assert got._state.adding is False and got._state.db == "default"
    assert conv.inactive_at is None and conv.last_customer_at == AT  # a null and a timestamp, microseconds kept
    assert (
        configuration.status_callback_urls == ["https://example.com/hook"]
        and configuration.observations_enabled is True
    )
    assert got_profile.traits["Contact"] == {"first_name": "Zoë", "age": 41, "vip": True, "nothing": None}


def test_fetch_without_rows_is_empty(store):
    assert rawsql.fetch(f"SELECT {rawsql.columns(Store, 's')} FROM stores_store s WHERE s.id = %s", [-1], [Store]) == []
    assert rawsql.scalar("SELECT 1 FROM stores_store WHERE id = %s", [-1]) is None


def test_insert_writes_what_save_would(store, conversation):
    before = datetime.now(UTC)
    made = rawsql.insert(
        Communication(
            store=store,
            conversation=conversation,
            channel="sms",
            direction="outbound",
            from_address="+14155550100",
            to_address="+14155550123",
            body="Line one\nline two — ✓",
            media=["https://example.com/b.png", "https://example.com/c.png"],
            external_id="SM-raw-1",
            occurred_at=AT + timedelta(seconds=1),
        )
    )
    assert made.pk and made._state.adding is False
    stored = Communication.objects.get(pk=made.pk)
    assert _fields(stored) == _fields(made)
    assert stored.media == ["https://example.com/b.png", "https://example.com/c.png"]
    assert stored.body == "Line one\nline two — ✓" and stored.author_name == ""  # the field's default
    assert stored.created_at >= before  # auto_now_add, as save() sets it


def test_update_changes_only_the_named_fields(conversation):
    conversation.status = ConversationStatus.INACTIVE
    conversation.inactive_at = AT + timedelta(minutes=5)
    conversation.business_address = "not saved"
    rawsql.update(conversation, ["status", "inactive_at"])
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.status == ConversationStatus.INACTIVE and stored.inactive_at == AT + timedelta(minutes=5)
    assert stored.business_address == "+14155550100"


def test_for_update_locks_rows_only_where_the_database_does():
    assert rawsql.for_update() == (" FOR UPDATE" if connection.vendor == "postgresql" else "")
