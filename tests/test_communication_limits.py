"""A communication's body is at most BODY_MAX characters on every path (found by a new user's trial:
a 100,000-character body stalled memory extraction for minutes), and a body at the limit is
extracted quickly."""

import time

import pytest
from django.core.exceptions import ValidationError

from conversations.extraction.base import Message
from conversations.extraction.builtin import BuiltinExtractor
from conversations.services import (
    BODY_MAX,
    ConfigurationInput,
    communication_ingest,
    conversation_configuration_create,
)

BUSINESS, CUSTOMER = "+14155550100", "+14155550199"


@pytest.fixture
def configured(store):
    data = ConfigurationInput(name="Support line", captures=[("sms", BUSINESS)])
    conversation_configuration_create(store=store, actor=None, data=data)
    return store


def test_a_body_over_the_limit_is_refused_naming_the_body_and_one_at_it_is_stored(configured):
    with pytest.raises(ValidationError) as refused:
        communication_ingest(
            store=configured, channel="sms", direction="inbound", from_address=CUSTOMER, to_address=BUSINESS,
            body="x" * (BODY_MAX + 1),
        )  # fmt: skip
    assert "body" in refused.value.message_dict and "32,768" in refused.value.message_dict["body"][0]
    stored = communication_ingest(
        store=configured, channel="sms", direction="inbound", from_address=CUSTOMER, to_address=BUSINESS,
        body="y" * BODY_MAX,
    )  # fmt: skip
    assert len(stored.communication.body) == BODY_MAX


def test_the_api_answers_422_naming_the_body(api, configured):
    answer = api.call(
        "post",
        f"/stores/{configured.pk}/communications",
        {"channel": "sms", "from": CUSTOMER, "to": BUSINESS, "direction": "inbound", "body": "z" * (BODY_MAX + 1)},
    )
    assert answer.status_code == 422
    assert any(item["loc"][-1] == "body" for item in answer.json()["detail"]), answer.json()


@pytest.mark.parametrize(
    "body",
    [
        "x" * BODY_MAX,  # one word, no spaces (a pasted token)
        "https://example.com/" + "a/" * (BODY_MAX // 2 - 12),  # a long URL
        ("I, I, I " * (BODY_MAX // 8))[:BODY_MAX],  # stutters
        ("um, uh, like, " * (BODY_MAX // 14))[:BODY_MAX],  # fillers
    ],
)
def test_a_body_at_the_limit_is_extracted_in_under_two_seconds(body):
    from datetime import UTC, datetime

    started = time.perf_counter()
    BuiltinExtractor().extract([Message(id=1, role="customer", at=datetime(2026, 12, 1, tzinfo=UTC), text=body)])
    assert time.perf_counter() - started < 2.0


def test_the_business_address_cannot_be_its_own_customer(api, configured):
    """Found by a new user's trial: from = to = the captured number made the business a profile."""
    answer = api.call(
        "post",
        f"/stores/{configured.pk}/communications",
        {"channel": "sms", "from": BUSINESS, "to": BUSINESS, "direction": "inbound", "body": "test"},
    )
    assert answer.status_code == 422
    assert any(item["loc"][-1] == "from" for item in answer.json()["detail"]), answer.json()
    from profiles.models import Profile

    assert not Profile.objects.filter(store=configured).exists()
