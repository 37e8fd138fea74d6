"""The communications and conversations API (issue 16): any source's messages through one JSON
route, single and batch, idempotent by external id; conversations listed and read; fields named
on 422; the tenant wall."""

import pytest

from conversations.models import Communication
from conversations.services import ConfigurationInput, conversation_configuration_create
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

BUSINESS = "+14155550100"


@pytest.fixture
def configured(store):
    conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Support", captures=[("sms", BUSINESS), ("chat", "web")])
    )
    return store


def _message(**extra):
    return {
        "channel": "sms",
        "from": "(415) 555-0123",
        "to": BUSINESS,
        "direction": "inbound",
        "body": "Hi 👋",
        "timestamp": "2026-11-30T12:00:00Z",
        "external_id": "crm-1",
        **extra,
    }


def test_a_communication_is_added_then_found_again_by_its_external_id(api, configured):
    first = api.call("post", f"/stores/{configured.pk}/communications", _message())
    assert first.status_code == 201
    body = first.json()
    assert body["created"] is True and body["profile_id"]
    assert body["communication"]["from"] == "+14155550123" and body["communication"]["body"] == "Hi 👋"
    again = api.call("post", f"/stores/{configured.pk}/communications", _message())
    assert again.status_code == 200 and again.json()["created"] is False  # a redelivery: the stored one
    assert again.json()["communication"]["id"] == body["communication"]["id"]
    assert Communication.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "loc", "msg"),
    [
        ({"to": "+12125550100"}, ["body", "to"], "No conversation configuration of this store captures +12125550100"),
        ({"timestamp": "0026-11-30T12:00:00Z"}, ["body", "timestamp"], "The timestamp"),
        ({"body": "a\u0000b"}, ["body", "body"], "U+0000 NULL"),
        ({"direction": "sideways"}, ["body", "direction"], "The direction must be inbound or outbound."),
    ],
)
def test_a_wrong_field_is_a_422_naming_it(api, configured, change, loc, msg):
    response = api.call("post", f"/stores/{configured.pk}/communications", _message(**change))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(item["loc"] == loc and msg in item["msg"] for item in detail), detail
    assert not Communication.objects.exists()


def test_a_batch_handles_each_item_on_its_own_and_in_order(api, configured):
    items = [_message(external_id="a"), _message(external_id="a"), _message(external_id="b", to="+12125550100")]
    response = api.call("post", f"/stores/{configured.pk}/communications/batch", {"items": items})
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created", "duplicate", "error"]
    assert response.json()["results"][2]["errors"][0]["loc"] == ["body", "items", 2, "to"]


def test_a_batch_of_more_than_1000_is_refused(api, configured):
    response = api.call("post", f"/stores/{configured.pk}/communications/batch", {"items": [_message()] * 1001})
    assert response.status_code == 422


def test_conversations_are_listed_newest_first_by_pages_and_read_with_their_communications(api, configured):
    for n in range(3):
        api.call(
            "post",
            f"/stores/{configured.pk}/communications",
            _message(**{"from": f"+1415555020{n}", "external_id": f"m{n}"}),
        )
    listed = api.call("get", f"/stores/{configured.pk}/conversations?status=open").json()
    assert [c["customer_address"] for c in listed["items"]] == ["+14155550202", "+14155550201", "+14155550200"]
    assert listed["next_before_id"] is None
    one = api.call("get", f"/stores/{configured.pk}/conversations/{listed['items'][0]['id']}").json()
    assert [c["external_id"] for c in one["communications"]] == ["m2"]
    assert one["participants"] == [
        {"role": "customer", "address": "+14155550202", "profile_id": one["profile_id"]},
        {"role": "business", "address": BUSINESS, "profile_id": None},
    ]
    assert [(e["kind"], e["reason"]) for e in one["history"]] == [("opened", "A message from the customer")]
    assert api.call("get", f"/stores/{configured.pk}/conversations?status=maybe").status_code == 422
    base = f"/stores/{configured.pk}/conversations"
    assert len(api.call("get", f"{base}?opened_after=2026-11-30T12:00:00Z").json()["items"]) == 3
    assert api.call("get", f"{base}?opened_before=2026-11-30T12:00:00Z").json()["items"] == []
    wrong = api.call("get", f"{base}?opened_after=10000-01-01")
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["query", "opened_after"]


def test_another_accounts_store_and_conversation_are_not_found(api, configured, client):
    from accounts.services import api_key_create
    from tests.factories import AccountFactory

    api.call("post", f"/stores/{configured.pk}/communications", _message())
    conversation_id = api.call("get", f"/stores/{configured.pk}/conversations").json()["items"][0]["id"]
    other_key = api_key_create(account=AccountFactory(), actor=None, name="other")[1]
    stranger = {"HTTP_AUTHORIZATION": f"Bearer {other_key}"}
    assert client.get(f"/api/v1/stores/{configured.pk}/conversations", **stranger).status_code == 404
    other_store = StoreFactory(account=configured.account)
    assert api.call("get", f"/stores/{other_store.pk}/conversations/{conversation_id}").status_code == 404


@pytest.mark.django_db(transaction=True, databases="__all__")  # real commits; the queue is its own database
def test_a_batch_queues_one_status_callbacks_task_for_all_its_items(api, configured):
    from django_q.models import OrmQ

    from conversations.models import CallbackDelivery, ConversationConfiguration

    ConversationConfiguration.objects.filter(store=configured).update(status_callback_urls=["https://e.test/h"])
    before = OrmQ.objects.count()
    items = [_message(**{"from": f"+1415555030{n}", "external_id": f"b{n}"}) for n in range(3)]
    answer = api.call("post", f"/stores/{configured.pk}/communications/batch", {"items": items})
    assert [r["status"] for r in answer.json()["results"]] == ["created"] * 3
    assert CallbackDelivery.objects.count() == 6  # conversation.created + communication.created, each
    assert OrmQ.objects.count() - before == 1  # one send task, not one per item


@pytest.mark.parametrize("parameter", ["configuration_id", "before_id"])
@pytest.mark.parametrize("value", ["99999999999999999999", "-99999999999999999999", "0"])
def test_an_id_no_database_holds_is_a_422_naming_the_parameter(api, configured, parameter, value):
    answer = api.call("get", f"/stores/{configured.pk}/conversations?{parameter}={value}")
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", parameter]


def test_a_timestamp_ahead_of_the_clock_and_an_external_id_naming_another_message_are_refused(api, configured):
    path = f"/stores/{configured.pk}/communications"
    ahead = api.call("post", path, _message(timestamp="9999-12-30T00:00:00Z", external_id="f1"))
    assert ahead.status_code == 422 and ahead.json()["detail"][0]["loc"][-1] == "timestamp"
    assert "must not be more than 5 minutes ahead" in ahead.json()["detail"][0]["msg"]
    assert api.call("post", path, _message(external_id="same")).status_code == 201
    assert api.call("post", path, _message(external_id="same")).status_code == 200  # a redelivery
    other = api.call("post", path, _message(external_id="same", body="Another message"))
    assert other.status_code == 422 and other.json()["detail"][0]["loc"][-1] == "external_id"
    assert "already names another communication" in other.json()["detail"][0]["msg"]
    assert Communication.objects.filter(external_id="same").count() == 1


def test_more_than_10_media_and_more_than_100_capture_rules_are_refused_naming_the_field(api, configured):
    media = [f"https://cdn.example.com/{n}.jpg" for n in range(11)]
    answer = api.call("post", f"/stores/{configured.pk}/communications", _message(media=media, external_id="m11"))
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "media"
    captures = [{"channel": "chat", "address": f"desk-{n}"} for n in range(101)]
    made = api.call(
        "post", f"/stores/{configured.pk}/conversation-configurations", {"name": "Big", "captures": captures}
    )
    assert made.status_code == 422 and made.json()["detail"][0]["loc"][-1] == "captures"
    assert "at most 100 addresses" in made.json()["detail"][0]["msg"]
