"""Conversation configurations (issue 16, first part): lifecycle and timeout rules from the seed,
capture rules (one rule per kind of address, wildcards, one configuration per address), and the
write paths' validation. The console pages and ingestion come next."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from conversations.capture import CaptureError, capture_pattern
from conversations.lifecycle import Channel, Lifecycle, effective_timeouts
from conversations.models import CaptureRule
from conversations.selectors import configuration_capturing, configuration_get, configuration_timeouts
from conversations.services import (
    ConfigurationInput,
    conversation_configuration_create,
    conversation_configuration_delete,
    conversation_configuration_update,
)
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


def _minutes(timeouts):
    return {channel: t.minutes for channel, t in timeouts.items()}


def test_one_channel_gets_its_default_timeout_and_voice_closes_when_the_call_ends():
    assert _minutes(effective_timeouts(channels=["sms"], timeout_minutes=None)) == {"sms": 15}
    voice = effective_timeouts(channels=["voice"], timeout_minutes=None)["voice"]
    assert (voice.minutes, voice.text, voice.why) == (None, "when the call ends", "the default for Voice")


def test_two_or_more_channels_get_the_longest_default_for_all_and_a_set_timeout_overrides():
    # The seed: "If you set up two or more conversation channels, Twilio applies the longest
    # conversation timeout to all channels."
    both = effective_timeouts(channels=["voice", "whatsapp"], timeout_minutes=None)
    assert _minutes(both) == {"whatsapp": 15, "voice": 15}
    assert both["voice"].why == (
        "the longest default of your channels, applied to all of them; a call in progress is not timed out "
        "(its end closes it; at most 4 hours)"
    )
    assert _minutes(effective_timeouts(channels=["sms", "voice"], timeout_minutes=45)) == {"sms": 45, "voice": 45}


@pytest.mark.parametrize(
    ("channel", "raw", "stored"),
    [
        ("sms", "(415) 555-0100", "+14155550100"),
        ("voice", "+1 415 555 0100", "+14155550100"),
        ("whatsapp", "whatsapp:+14155550100", "whatsapp:+14155550100"),
        ("whatsapp", "+1 415-555-0100", "whatsapp:+14155550100"),
        ("sms", " * ", "*"),
        ("sms", "+1 415*", "+1415*"),
        ("whatsapp", "whatsapp:+44*", "whatsapp:+44*"),
        ("chat", "web-support", "web-support"),
    ],
)
def test_capture_addresses_take_the_stored_form_of_their_kind(channel, raw, stored):
    assert capture_pattern(channel, raw) == stored


@pytest.mark.parametrize(
    ("channel", "raw", "message"),
    [
        ("sms", "not a number", "SMS: “not a number” is not a phone number"),
        ("sms", "41*5", "is not a pattern"),
        ("chat", "web*", "is not a pattern"),
        ("fax", "+14155550100", "“fax” is not a channel"),
        ("chat", "a\x00b", r"U\+0000 NULL"),
        ("sms", 14155550100, "an address must be text"),
    ],
)
def test_a_capture_address_that_cannot_be_used_says_why(channel, raw, message):
    with pytest.raises(CaptureError, match=message):
        capture_pattern(channel, raw)


def _create(store, name="Support line", **kwargs):
    data = ConfigurationInput(name=name, captures=kwargs.pop("captures", [("sms", "+14155550100")]), **kwargs)
    return conversation_configuration_create(store=store, actor=None, data=data)


def test_a_configuration_is_created_with_its_rules_audited_and_its_effective_timeouts(store):
    created = _create(store, captures=[("sms", "(415) 555-0100"), ("voice", "+14155550100")])
    assert [(r.channel, r.pattern) for r in created.captures.all()] == [
        ("sms", "+14155550100"),
        ("voice", "+14155550100"),
    ]
    assert (created.lifecycle, created.observations_enabled, created.grouping) == ("basic", False, "addresses_channel")
    assert _minutes(configuration_timeouts(configuration=created)) == {"sms": 15, "voice": 15}
    assert AuditEvent.objects.filter(action="conversation_configuration.create").count() == 1


def test_every_wrong_field_is_named_at_once_and_nothing_is_saved(store):
    data = ConfigurationInput(
        name="x" * 33,
        lifecycle="sometimes",
        timeout_minutes=0,
        grouping="by mood",
        observations_enabled="yes",
        captures=[("sms", "nope")],
    )
    with pytest.raises(ValidationError) as caught:
        conversation_configuration_create(store=store, actor=None, data=data)
    errors = caught.value.message_dict
    assert set(errors) == {"name", "lifecycle", "timeout_minutes", "grouping", "observations_enabled", "captures"}
    assert errors["name"] == ["The friendly name can have at most 32 characters."]
    assert errors["timeout_minutes"] == ["The conversation timeout must be between 1 and 43,200 minutes (30 days)."]
    assert not CaptureRule.objects.exists()


def test_the_inactive_lifecycle_needs_an_inactivity_period_shorter_than_the_timeout(store):
    with pytest.raises(ValidationError, match="Set the inactivity period"):
        _create(store, lifecycle=Lifecycle.INACTIVE)
    with pytest.raises(
        ValidationError, match=r"inactivity period \(15 min\) must be shorter than the conversation timeout \(15 min\)"
    ):
        _create(store, lifecycle=Lifecycle.INACTIVE, inactivity_minutes=15)
    made = _create(store, lifecycle=Lifecycle.INACTIVE, inactivity_minutes=5, timeout_minutes=60)
    assert (made.inactivity_minutes, made.timeout_minutes) == (5, 60)
    with pytest.raises(ValidationError, match="An inactivity period needs the lifecycle with the Inactive state"):
        conversation_configuration_update(  # not dropped silently: said
            configuration=made,
            actor=None,
            data=ConfigurationInput(name="Support line", inactivity_minutes=5, captures=[("sms", "+14155550100")]),
        )
    basic = conversation_configuration_update(
        configuration=made, actor=None, data=ConfigurationInput(name="Support line", captures=[("sms", "+14155550100")])
    )
    assert basic.inactivity_minutes is None


def test_an_address_is_captured_by_one_configuration_of_a_store_and_the_error_names_it(store):
    _create(store, captures=[("sms", "+14155550100")])
    with pytest.raises(ValidationError, match=r"\+14155550100 \(sms\) is captured by “Support line”"):
        _create(store, name="Sales", captures=[("sms", "(415) 555-0100")])
    _create(store, name="Sales WhatsApp", captures=[("whatsapp", "+14155550100")])  # another channel: fine
    _create(StoreFactory(account=store.account), name="Other store", captures=[("sms", "+14155550100")])


def test_the_most_specific_capture_rule_wins_an_address(store):
    everything = _create(store, name="Everything", captures=[("sms", "*")])
    california = _create(store, name="California", captures=[("sms", "+1415*")])
    desk = _create(store, name="Desk", captures=[("sms", "+14155550100")])
    assert configuration_capturing(store=store, channel="sms", address="+14155550100") == desk
    assert configuration_capturing(store=store, channel="sms", address="+14155550199") == california
    assert configuration_capturing(store=store, channel="sms", address="+12125550100") == everything
    assert configuration_capturing(store=store, channel=Channel.CHAT, address="web") is None


def test_edit_turns_observations_on_and_delete_removes_the_rules(store):
    made = _create(store)
    data = ConfigurationInput(name="Support line", observations_enabled=True, captures=[("sms", "+14155550100")])
    assert conversation_configuration_update(configuration=made, actor=None, data=data).observations_enabled is True
    conversation_configuration_delete(configuration=made, actor=None)
    assert not CaptureRule.objects.exists()
    assert configuration_get(store=store, configuration_id=made.pk) is None


def test_another_stores_configuration_is_not_found(store):
    made = _create(store)
    other = StoreFactory(account=store.account)
    assert configuration_get(store=other, configuration_id=made.pk) is None
