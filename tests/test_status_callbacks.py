"""Status callbacks (issue 16): a configuration's URLs (at most 20, http(s), checked by the text
rule), the events (conversation created and updated, communication created) written as deliveries
in the write's own transaction, sent by the worker to a real HTTP receiver (pytest-httpserver)
signed with the configuration's secret, retried with backoff on a moved clock, failed after the
last attempt; shown on the configuration's page and in the API, behind the tenant wall."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from werkzeug import Response

from accounts.models import AuditEvent
from conversations import callbacks
from conversations.models import CallbackDelivery, ConversationConfiguration, DeliveryStatus
from conversations.services import (
    ConfigurationInput,
    communication_ingest,
    conversation_configuration_create,
    conversation_configuration_update,
    conversations_advance,
    status_callback_secret_rotate,
)
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

BUSINESS = "+14155550100"
CUSTOMER = "+14155550123"
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _configuration(store, urls=(), **extra) -> ConversationConfiguration:
    return conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(
            name="Support line", captures=[("sms", BUSINESS)], status_callback_urls=list(urls), **extra
        ),
    )


def _inbound(store, at=AT, body="Hello", **extra):
    return communication_ingest(
        store=store,
        channel="sms",
        direction="inbound",
        from_address=CUSTOMER,
        to_address=BUSINESS,
        body=body,
        occurred_at=at,
        **extra,
    )


def _verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (README.md, "Status callbacks"): the same code, tested here."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(now - timestamp) <= tolerance


# -- the URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ([f"https://example.com/{n}" for n in range(21)], "At most 20 status callback URLs: 21 were given."),
        (["https://example.com/a", "ftp://example.com/b"], "Status callback URL 2 (ftp://example.com/b) must be"),
        (["https://example.com/\x00"], "Status callback URL 1 contains U+0000 NULL."),
        (
            ["https://example.com/a", " https://example.com/a "],
            "Status callback URL 2 (https://example.com/a) is given",
        ),
        (["https://user:pw@example.com/a"], "Status callback URL 1 holds a user name or password"),
        (["https://example.com:port/a"], "Status callback URL 1 (https://example.com:port/a) is not a valid URL."),
        (["https:///no-host"], "must be an http:// or https:// URL with a host"),
        (["https://example.com/" + "a" * 2048], "Status callback URL 1 is longer than 2,048 characters."),
        (["javascript:alert(1)"], "must be an http:// or https:// URL"),
    ],
)
def test_status_callback_urls_are_checked_and_the_error_names_the_url(store, urls, message):
    with pytest.raises(ValidationError) as caught:
        _configuration(store, urls)
    assert message in caught.value.message_dict["status_callback_urls"][0]
    assert not ConversationConfiguration.objects.exists()


def test_urls_are_stored_trimmed_in_nfc_and_the_first_one_brings_a_secret_shown_once(store):
    configuration = _configuration(store)
    assert configuration.status_callback_secret == "" and configuration.new_status_callback_secret is None
    data = ConfigurationInput.of(configuration)
    data.status_callback_urls = [f"  https://example.com/cafe\u0301{n}  " for n in range(20)]
    conversation_configuration_update(configuration=configuration, actor=None, data=data)
    configuration.refresh_from_db()
    assert configuration.status_callback_urls[0] == "https://example.com/caf\u00e90"
    assert len(configuration.status_callback_urls) == 20
    secret = configuration.status_callback_secret
    assert secret.startswith("mcsec_") and len(secret) > 40
    # Saved again: the same secret, not shown again.
    again = conversation_configuration_update(configuration=configuration, actor=None, data=data)
    assert again.status_callback_secret == secret and again.new_status_callback_secret is None


def test_rotating_the_secret_is_audited_without_it(store):
    configuration = _configuration(store, ["https://example.com/hook"])
    old = configuration.status_callback_secret
    new = status_callback_secret_rotate(configuration=configuration, actor=None)
    assert new != old and ConversationConfiguration.objects.get().status_callback_secret == new
    event = AuditEvent.objects.get(action="conversation_configuration.status_callback_secret")
    assert new not in event.summary and old not in event.summary


# -- the events ---------------------------------------------------------------------------------


def _events(configuration=None):
    rows = CallbackDelivery.objects.order_by("id")
    if configuration is not None:
        rows = rows.filter(configuration=configuration)
    return [(d.event_type, json.loads(d.body)) for d in rows]


def test_a_first_message_makes_conversation_created_and_communication_created_for_each_url(
    store, django_capture_on_commit_callbacks
):
    configuration = _configuration(store, ["https://a.example.com/hook", "https://b.example.com/hook"])
    with django_capture_on_commit_callbacks() as queued:
        info = _inbound(store, body="Café ☕")
    assert len(queued) == 1  # one send task for all the deliveries, once committed
    rows = list(CallbackDelivery.objects.order_by("id"))
    assert [(d.event_type, d.url) for d in rows] == [
        ("conversation.created", "https://a.example.com/hook"),
        ("conversation.created", "https://b.example.com/hook"),
        ("communication.created", "https://a.example.com/hook"),
        ("communication.created", "https://b.example.com/hook"),
    ]
    assert {d.status for d in rows} == {DeliveryStatus.PENDING} and rows[0].store_id == store.pk
    created, communication = json.loads(rows[0].body), json.loads(rows[2].body)
    assert set(created) == {"eventType", "timestamp", "data"}
    assert created["eventType"] == "conversation.created" and created["timestamp"].endswith("Z")
    assert created["data"]["id"] == info.conversation.pk and created["data"]["status"] == "open"
    assert created["data"]["configuration_id"] == configuration.pk
    assert created["data"]["profile_id"] == info.profile.pk and created["data"]["channel"] == "sms"
    assert communication["data"]["body"] == "Café ☕" and communication["data"]["from"] == CUSTOMER
    assert communication["data"]["timestamp"] == "2026-11-30T12:00:00Z"
    # The API's own representation of the communication.
    from conversations.api import _communication

    assert set(communication["data"]) == set(_communication(info.communication))
    from conversations.api import ConversationOut

    assert set(created["data"]) == set(ConversationOut.model_fields)


def test_the_next_message_makes_communication_created_only_and_a_redelivery_nothing(store):
    _configuration(store, ["https://example.com/hook"])
    _inbound(store, external_id="SM1")
    CallbackDelivery.objects.all().delete()
    _inbound(store, at=AT + timedelta(minutes=1), external_id="SM2")
    _inbound(store, at=AT + timedelta(minutes=1), external_id="SM2")  # Twilio redelivers: stored once
    assert [event for event, _ in _events()] == ["communication.created"]


def test_going_inactive_closed_and_reopened_makes_conversation_updated(store):
    configuration = _configuration(store, ["https://example.com/hook"], lifecycle="inactive", inactivity_minutes=5)
    info = _inbound(store)
    CallbackDelivery.objects.all().delete()
    conversations_advance(now=AT + timedelta(minutes=5))
    ((event, payload),) = _events()
    assert event == "conversation.updated" and payload["data"]["status"] == "inactive"
    assert payload["data"]["id"] == info.conversation.pk and payload["timestamp"] == "2026-11-30T12:05:00Z"
    CallbackDelivery.objects.all().delete()
    _inbound(store, at=AT + timedelta(minutes=6))  # the customer writes again: reopened
    assert [(e, p["data"].get("status")) for e, p in _events()] == [
        ("conversation.updated", "open"),
        ("communication.created", None),
    ]
    CallbackDelivery.objects.all().delete()
    conversations_advance(now=AT + timedelta(minutes=30))
    assert [(e, p["data"]["status"]) for e, p in _events(configuration)] == [("conversation.updated", "closed")]


def test_without_urls_nothing_is_written_and_no_query_is_added(store, django_capture_on_commit_callbacks):
    _configuration(store)
    _inbound(store)  # the profile and conversation exist: the next message is the hot path
    with CaptureQueriesContext(connection) as without, django_capture_on_commit_callbacks() as queued:
        _inbound(store, at=AT + timedelta(minutes=1))
    assert not CallbackDelivery.objects.exists() and not queued
    assert not any("callbackdelivery" in q["sql"].lower() for q in without.captured_queries)
    with CaptureQueriesContext(connection) as advancing:
        conversations_advance(now=AT + timedelta(minutes=30))
    assert not CallbackDelivery.objects.exists()
    assert not any("callbackdelivery" in q["sql"].lower() for q in advancing.captured_queries)


def test_a_pass_of_the_lifecycle_worker_writes_the_deliveries_in_one_statement_per_chunk(store):
    _configuration(store, ["https://example.com/hook"])
    for n in range(5):
        communication_ingest(
            store=store,
            channel="sms",
            direction="inbound",
            from_address=f"+1415555{n:04d}",
            to_address=BUSINESS,
            occurred_at=AT,
        )
    CallbackDelivery.objects.all().delete()
    with CaptureQueriesContext(connection) as advancing:
        assert conversations_advance(now=AT + timedelta(minutes=30)).closed == 5
    inserts = [
        q for q in advancing.captured_queries if q["sql"].startswith('INSERT INTO "conversations_callbackdelivery"')
    ]
    assert len(inserts) == 1
    assert CallbackDelivery.objects.filter(event_type="conversation.updated").count() == 5


# -- sending ------------------------------------------------------------------------------------


@pytest.fixture
def receiver(httpserver, settings):
    """A real HTTP receiver on localhost: allowed explicitly (non-public addresses are refused by
    default)."""
    settings.STATUS_CALLBACKS_PRIVATE_ADDRESSES = True
    return httpserver


def test_the_receiver_gets_the_json_with_a_signature_that_verifies(store, receiver):
    configuration = _configuration(store, [receiver.url_for("/hook")])
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    _inbound(store)
    now = timezone.now() + timedelta(seconds=3)
    counts = callbacks.status_callbacks_send(now=now)
    assert (counts.delivered, counts.retrying, counts.failed) == (2, 0, 0)
    # Sent in parallel: in any order (receivers order by `timestamp` and the data's own times).
    requests = sorted((r for r, _ in receiver.log), key=lambda r: int(r.headers["X-Memory-Console-Delivery"]))
    assert [json.loads(r.get_data())["eventType"] for r in requests] == [
        "conversation.created",
        "communication.created",
    ]
    deliveries = list(CallbackDelivery.objects.order_by("id"))
    for request, delivery in zip(requests, deliveries, strict=True):
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("MemoryConsole/")
        assert request.headers["X-Memory-Console-Delivery"] == str(delivery.pk)
        body = request.get_data()
        assert body == delivery.body.encode()  # exactly what was stored
        header = request.headers["X-Memory-Console-Signature"]
        assert _verify(configuration.status_callback_secret, header, body, now=int(now.timestamp()))
        assert not _verify("mcsec_wrong", header, body, now=int(now.timestamp()))
        assert not _verify(configuration.status_callback_secret, header, body + b" ", now=int(now.timestamp()))
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
        assert delivery.delivered_at == now and delivery.next_attempt_at is None
    assert callbacks.status_callbacks_send(now=now + timedelta(hours=1)).delivered == 0  # never twice


def test_a_500_is_retried_after_the_backoff_on_a_moved_clock(store, receiver):
    _configuration(store, [receiver.url_for("/hook")])
    receiver.expect_ordered_request("/hook").respond_with_data("down", status=500)
    receiver.expect_ordered_request("/hook").respond_with_data("ok", status=204)
    info = _inbound(store, external_id="SM1")
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    now = timezone.now()
    assert callbacks.status_callbacks_send(now=now).retrying == 1
    delivery = CallbackDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500 INTERNAL SERVER ERROR"
    assert delivery.next_attempt_at == now + timedelta(minutes=1)
    assert callbacks.status_callbacks_send(now=now + timedelta(seconds=59)).delivered == 0  # not due yet
    assert callbacks.status_callbacks_send(now=now + timedelta(minutes=1)).delivered == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "delivered",
        2,
        204,
        "",
    )
    ids = [request.headers["X-Memory-Console-Delivery"] for request, _ in receiver.log]
    assert ids == [str(delivery.pk)] * 2  # the same id on each attempt: receivers dedupe on it
    assert json.loads(receiver.log[0][0].get_data())["data"]["id"] == info.communication.pk


def test_after_the_last_attempt_a_delivery_fails_with_its_error_kept(store, receiver):
    _configuration(store, [receiver.url_for("/hook")])
    receiver.expect_request("/hook").respond_with_data("no", status=503)
    _inbound(store)
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    now, waits = timezone.now(), []
    for _ in range(callbacks.MAX_ATTEMPTS):
        callbacks.status_callbacks_send(now=now)
        delivery = CallbackDelivery.objects.get()
        if delivery.next_attempt_at:
            waits.append(delivery.next_attempt_at - now)
            now = delivery.next_attempt_at
    assert [int(w.total_seconds() // 60) for w in waits] == [1, 2, 4, 8, 16, 32, 60]  # capped at an hour
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 8, 503)
    assert callbacks.status_callbacks_send(now=now + timedelta(days=1)).failed == 0
    assert len(receiver.log) == callbacks.MAX_ATTEMPTS


def test_no_answer_and_a_redirect_are_failed_attempts_and_redirects_are_not_followed(store, receiver):
    receiver.expect_request("/moved").respond_with_response(
        Response("", status=302, headers={"Location": "http://elsewhere.example/steal"})
    )
    _configuration(store, [receiver.url_for("/moved"), "http://127.0.0.1:9/closed"])
    _inbound(store)
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    assert callbacks.status_callbacks_send(now=timezone.now()).retrying == 2
    moved, closed = CallbackDelivery.objects.order_by("id")
    assert moved.last_status_code == 302 and "http://elsewhere.example/steal not followed" in moved.last_error
    assert closed.last_status_code is None and closed.last_error.startswith("URLError")
    assert len(receiver.log) == 1


def test_non_public_addresses_are_refused_when_the_settings_say_so(store, receiver, settings):
    settings.STATUS_CALLBACKS_PRIVATE_ADDRESSES = False
    receiver.expect_request("/hook").respond_with_data("ok")
    _configuration(store, [receiver.url_for("/hook"), "http://169.254.169.254/latest/meta-data"])
    _inbound(store)
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    assert callbacks.status_callbacks_send().retrying == 2
    local, metadata = CallbackDelivery.objects.order_by("id")
    assert local.last_error.startswith("Not sent: localhost is a private or local address (")
    assert local.last_error.endswith("to public addresses only (its setting STATUS_CALLBACKS_PRIVATE_ADDRESSES)")
    assert metadata.last_error.startswith("Not sent: 169.254.169.254 is a private or local address (169.254.169.254)")
    assert receiver.log == []


def test_what_a_receiver_says_is_stored_as_short_printable_text():
    assert callbacks._error_text("HTTP 500 Bad\x00\x1b[31m" + "x" * 300) == "HTTP 500 Bad??[31m" + "x" * 237


def test_two_workers_at_once_send_each_delivery_once(store, receiver):
    """The claim: a delivery a worker took is not due for another (the lease), whichever database."""
    _configuration(store, [receiver.url_for("/hook")])
    receiver.expect_request("/hook").respond_with_data("ok")
    _inbound(store)
    now = timezone.now()
    claimed = callbacks._claim(now, 10)
    assert len(claimed) == 2 and callbacks._claim(now, 10) == []  # the second worker finds none due
    assert callbacks.status_callbacks_send(now=now + timedelta(minutes=4)).delivered == 0
    # The worker that claimed them stopped: once the lease runs out, they are sent.
    assert callbacks.status_callbacks_send(now=now + callbacks.CLAIM_LEASE).delivered == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_postgres_send_every_delivery_exactly_once(store, receiver):
    import threading
    import time

    from django.db import connections

    def slow(request):
        time.sleep(0.01)  # the two workers overlap
        return Response("ok")

    receiver.expect_request("/hook").respond_with_handler(slow)
    _configuration(store, [receiver.url_for("/hook")])
    for n in range(40):
        _inbound(store, at=AT + timedelta(seconds=n))
    now = timezone.now() + timedelta(seconds=1)
    barrier, errors, counts = threading.Barrier(2), [], []

    def work():
        try:
            barrier.wait()
            counts.append(callbacks.status_callbacks_send(now=now).delivered)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sum(counts) == 41
    ids = [request.headers["X-Memory-Console-Delivery"] for request, _ in receiver.log]
    assert len(ids) == len(set(ids)) == 41
    assert CallbackDelivery.objects.filter(status="delivered").count() == 41


def test_the_task_sends_and_prunes_finished_deliveries_after_30_days(store, receiver):
    from conversations.tasks import status_callbacks_send_task

    receiver.expect_request("/hook").respond_with_data("ok")
    _configuration(store, [receiver.url_for("/hook")])
    _inbound(store)
    assert status_callbacks_send_task() == "2 delivered, 0 to retry, 0 failed, 0 old pruned"
    CallbackDelivery.objects.update(created_at=timezone.now() - timedelta(days=31))
    _inbound(store, at=AT + timedelta(minutes=1))
    # Still pending, however old: never pruned.
    CallbackDelivery.objects.filter(status="pending").update(created_at=timezone.now() - timedelta(days=31))
    assert callbacks.deliveries_prune() == 2
    assert list(CallbackDelivery.objects.values_list("status", flat=True)) == ["pending"]


def test_deleting_the_configuration_deletes_its_deliveries(store):
    from conversations.services import conversation_configuration_delete

    configuration = _configuration(store, ["https://example.com/hook"])
    _inbound(store)
    conversation_configuration_delete(configuration=configuration, actor=None)
    assert not CallbackDelivery.objects.exists()


@pytest.mark.django_db(databases="__all__")  # django-q2's schedules are in the queue database on SQLite
def test_the_schedule_sends_due_deliveries_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="conversations.tasks.status_callbacks_send_task")  # made by migrate
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


# -- console ------------------------------------------------------------------------------------


def test_the_page_shows_the_deliveries_and_support_reads_only(store, receiver, support_client):
    configuration = _configuration(store, [receiver.url_for("/hook")])
    receiver.expect_request("/hook").respond_with_data("down", status=500)
    _inbound(store)
    callbacks.status_callbacks_send()
    html = support_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])).content.decode()
    assert 'data-testid="callbacks"' in html and receiver.url_for("/hook") in html
    assert "conversation.created" in html and "communication.created" in html and "HTTP 500" in html
    assert ">Retrying<" in html
    assert "Rotate secret" not in html and configuration.status_callback_secret not in html
    rotate = reverse("conversations:callback_secret", args=[store.pk, configuration.pk])
    assert support_client.post(rotate).status_code == 403
    assert ConversationConfiguration.objects.get().status_callback_secret == configuration.status_callback_secret


def test_the_page_says_when_there_are_no_deliveries(store, admin_client):
    configuration = _configuration(store)
    html = admin_client.get(reverse("conversations:detail", args=[store.pk, configuration.pk])).content.decode()
    assert "No status callbacks" in html


def test_the_wizard_takes_urls_shows_them_on_the_summary_and_the_secret_once(store, admin_client):
    url = reverse("conversations:create", args=[store.pk])
    post = {
        "name": "Hooks",
        "lifecycle": "basic",
        "grouping": "addresses_channel",
        "capture_channel": "sms",
        "capture_address": BUSINESS,
        "status_callback_urls": "https://a.example.com/hook\r\n\r\nhttps://b.example.com/hook\n",
        "step": "4",
        "action": "next",
    }
    summary = admin_client.post(url, post).content.decode()
    assert "Step 5 of 5" in summary and "https://b.example.com/hook" in summary
    wrong = admin_client.post(url, {**post, "status_callback_urls": "ftp://a.example.com"}).content.decode()
    assert "Step 4 of 5" in wrong and "Status callback URL 1 (ftp://a.example.com) must be" in wrong
    created = admin_client.post(url, {**post, "step": "5", "action": "create"})
    assert created.status_code == 302
    configuration = ConversationConfiguration.objects.get()
    assert configuration.status_callback_urls == ["https://a.example.com/hook", "https://b.example.com/hook"]
    first = admin_client.get(created["Location"]).content.decode()
    assert configuration.status_callback_secret in first  # shown once
    second = admin_client.get(created["Location"]).content.decode()
    assert configuration.status_callback_secret not in second


def test_the_edit_page_changes_the_urls_and_rotate_shows_the_new_secret_once(store, admin_client):
    configuration = _configuration(store, ["https://a.example.com/hook"])
    edit = reverse("conversations:edit", args=[store.pk, configuration.pk])
    page = admin_client.get(edit).content.decode()
    assert "https://a.example.com/hook" in page
    post = {
        "name": "Support line",
        "lifecycle": "basic",
        "grouping": "addresses_channel",
        "capture_channel": "sms",
        "capture_address": BUSINESS,
        "status_callback_urls": "https://c.example.com/hook",
        "action": "save",
    }
    assert admin_client.post(edit, post).status_code == 302
    configuration.refresh_from_db()
    assert configuration.status_callback_urls == ["https://c.example.com/hook"]
    rotate = reverse("conversations:callback_secret", args=[store.pk, configuration.pk])
    confirm = admin_client.get(rotate).content.decode()
    assert "Rotate" in confirm and configuration.status_callback_secret not in confirm
    done = admin_client.post(rotate).content.decode()
    configuration.refresh_from_db()
    assert configuration.status_callback_secret in done


def test_another_stores_configuration_is_not_found(store, admin_client, account):
    configuration = _configuration(store, ["https://a.example.com/hook"])
    other = StoreFactory(account=account)
    rotate = reverse("conversations:callback_secret", args=[other.pk, configuration.pk])
    assert admin_client.post(rotate).status_code == 404
    assert admin_client.get(reverse("conversations:detail", args=[other.pk, configuration.pk])).status_code == 404


# -- API ----------------------------------------------------------------------------------------


def test_the_api_sets_urls_returns_the_secret_once_and_rotates_it(store, api):
    base = f"/stores/{store.pk}/conversation-configurations"
    body = {"name": "Hooks", "captures": [{"channel": "sms", "address": BUSINESS}]}
    created = api.call("post", base, {**body, "status_callback_urls": ["https://a.example.com/hook"]})
    assert created.status_code == 201, created.content
    secret = created.json()["status_callback_secret"]
    assert secret.startswith("mcsec_") and created.json()["status_callback_urls"] == ["https://a.example.com/hook"]
    one = created.json()["id"]
    got = api.call("get", f"{base}/{one}").json()
    assert "status_callback_secret" not in got and got["status_callback_secret_set"] is True
    patched = api.call("patch", f"{base}/{one}", {"description": "x"}).json()
    assert patched["status_callback_secret"] is None and patched["status_callback_urls"] == [
        "https://a.example.com/hook"
    ]
    rotated = api.call("post", f"{base}/{one}/status-callback-secret")
    assert rotated.status_code == 200 and rotated.json()["status_callback_secret"] not in (None, secret)
    bad = api.call("patch", f"{base}/{one}", {"status_callback_urls": ["ftp://x.example.com"]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "status_callback_urls"]


def test_the_api_lists_deliveries_by_pages_behind_the_tenant_wall(store, api, receiver, account, monkeypatch):
    monkeypatch.setattr("conversations.api.DELIVERIES_PAGE", 25)
    configuration = _configuration(store, [receiver.url_for("/hook")])
    for n in range(30):
        _inbound(store, at=AT + timedelta(seconds=n))
    path = f"/stores/{store.pk}/conversation-configurations/{configuration.pk}/deliveries"
    first = api.call("get", path).json()
    assert len(first["items"]) == 25 and first["next_before_id"] is not None  # 31 deliveries, newest first
    item = first["items"][0]
    assert item["event_type"] == "communication.created" and item["status"] == "pending"
    assert json.loads(item["body"])["eventType"] == "communication.created"
    rest = api.call("get", path, QUERY_STRING=f"before_id={first['next_before_id']}").json()
    assert len(rest["items"]) == 6 and rest["next_before_id"] is None
    other = StoreFactory(account=account)
    assert (
        api.call("get", f"/stores/{other.pk}/conversation-configurations/{configuration.pk}/deliveries").status_code
        == 404
    )
    assert (
        api.call(
            "post", f"/stores/{other.pk}/conversation-configurations/{configuration.pk}/status-callback-secret"
        ).status_code
        == 404
    )


def test_deleting_the_store_deletes_its_deliveries_and_conversations_history(store, admin_client):
    from conversations.models import LifecycleEvent
    from workspace.services import store_delete

    _configuration(store, ["https://example.com/hook"])
    _inbound(store)
    store_delete(store=store, actor=None, confirm_name=store.name)
    assert not CallbackDelivery.objects.exists() and not LifecycleEvent.objects.exists()


def test_a_twilio_conversation_and_a_call_with_its_transcript_each_say_conversation_created_once(store):
    from conversations.services import communication_ingest as ingest
    from conversations.services import twilio_conversation_message_ingest

    service, sid = "IS" + "a" * 32, "CH" + "b" * 32
    configuration = conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(
            name="Chat", captures=[("chat", service), ("voice", BUSINESS)], status_callback_urls=["https://e.test/h"]
        ),
    )
    twilio_conversation_message_ingest(
        configuration=configuration,
        conversation_sid=sid,
        service_sid=service,
        channel="sms",
        author=CUSTOMER,
        from_customer=True,
        body="Hi",
        occurred_at=AT,
        external_id="IM" + "c" * 32,
    )
    ((created, payload), (communication, _)) = _events()
    assert (created, communication) == ("conversation.created", "communication.created")
    assert payload["data"]["twilio_conversation_sid"] == sid and payload["data"]["customer_address"] == CUSTOMER
    CallbackDelivery.objects.all().delete()
    call = ingest(
        store=store,
        channel="voice",
        direction="inbound",
        from_address=CUSTOMER,
        to_address=BUSINESS,
        occurred_at=AT,
        external_id="CA1",
        configuration=configuration,
    )
    ingest(
        store=store,
        channel="voice",
        direction="inbound",
        from_address=CUSTOMER,
        to_address=BUSINESS,
        body="Transcript",
        occurred_at=AT,
        external_id="TR1",
        configuration=configuration,
        into=call.conversation,
    )
    assert [event for event, _ in _events()] == [
        "conversation.created",
        "communication.created",
        "communication.created",
    ]


# -- review fixes -------------------------------------------------------------------------------


class _Trickler:
    """A raw socket receiver that answers one byte a second, for at most `seconds`, and notes when
    the sender gave up on it (the connection closed)."""

    def __init__(self, seconds: int = 12):
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.seconds, self.accepted, self.dropped = seconds, [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import time

        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.accepted.append(time.monotonic())
            with conn:
                conn.settimeout(1)
                answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000
                for n in range(self.seconds):
                    try:
                        conn.recv(65536)  # the request, then EOF (b"") once the sender closed
                    except TimeoutError:
                        pass
                    except OSError:
                        break
                    try:
                        conn.send(answer[n : n + 1])
                    except OSError:
                        break
                    if self.stop.wait(1):
                        break
                    try:
                        conn.send(b"")
                        if conn.recv(1, 64) == b"":  # MSG_DONTWAIT: closed by the sender
                            break
                    except (BlockingIOError, TimeoutError):
                        pass
                    except OSError:
                        break
                self.dropped.append(time.monotonic())

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.server.close()


@pytest.fixture
def trickler(settings):
    settings.STATUS_CALLBACKS_PRIVATE_ADDRESSES = True
    slow = _Trickler()
    yield slow
    slow.close()


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_deadline_and_holds_nothing(
    store, receiver, trickler, monkeypatch
):
    import time

    monkeypatch.setattr(callbacks, "DEADLINE_SECONDS", 2, raising=False)
    receiver.expect_request("/hook").respond_with_data("ok")
    _configuration(store, [trickler.url, receiver.url_for("/hook")])
    _inbound(store)
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    started = time.monotonic()
    counts = callbacks.status_callbacks_send()
    took = time.monotonic() - started
    assert (counts.delivered, counts.retrying) == (1, 1)
    assert took < 4, f"the chunk waited {took:.1f} s for a receiver trickling bytes"
    slow, fast = CallbackDelivery.objects.order_by("id")
    assert (slow.status, slow.attempts, slow.last_status_code) == ("pending", 1, None)
    assert slow.last_error == "No answer within 2 s"
    assert fast.status == "delivered"
    # The sender's thread let go of the connection itself at the deadline (not left trickling).
    for _ in range(30):
        if trickler.dropped:
            break
        time.sleep(0.1)
    assert trickler.dropped and trickler.dropped[0] - trickler.accepted[0] < 3.5


def test_a_send_stuck_outside_the_socket_is_recorded_as_no_answer_and_not_waited_for(store, monkeypatch):
    import threading
    import time

    release = threading.Event()

    def stuck(*args, **kwargs):  # e.g. a DNS lookup that does not return
        release.wait(10)
        return callbacks._Outcome(200, "")

    monkeypatch.setattr(callbacks, "_post", stuck)
    monkeypatch.setattr(callbacks, "DEADLINE_SECONDS", 1, raising=False)
    _configuration(store, ["https://example.com/hook"])
    _inbound(store)
    started = time.monotonic()
    try:
        counts = callbacks.status_callbacks_send()
    finally:
        release.set()
    assert time.monotonic() - started < 4
    assert (counts.delivered, counts.retrying) == (0, 2)
    assert set(CallbackDelivery.objects.values_list("last_error", flat=True)) == {"No answer within 1 s"}


def test_at_most_64_kib_of_an_answer_is_read(store, receiver):
    big = {f"X-Padding-{n}": "p" * 1000 for n in range(90)}  # 90 KB of headers
    receiver.expect_request("/hook").respond_with_response(Response("ok", headers=big))
    _configuration(store, [receiver.url_for("/hook")])
    _inbound(store)
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    assert callbacks.status_callbacks_send().retrying == 1
    assert "Answer longer than 64 KiB" in CallbackDelivery.objects.get().last_error


def test_the_send_task_queued_on_commit_does_not_prune_the_schedule_does(store, receiver, monkeypatch):
    from conversations.tasks import status_callbacks_send_task

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kwargs: queued.append((func, kwargs)))
    receiver.expect_request("/hook").respond_with_data("ok")
    _configuration(store, [receiver.url_for("/hook")])
    _inbound(store)
    callbacks._send_task_queue()
    ((func, kwargs),) = queued
    assert func == callbacks.SEND_TASK and kwargs["prune"] is False
    with CaptureQueriesContext(connection) as sending:
        assert status_callbacks_send_task(**{"prune": False}) == "2 delivered, 0 to retry, 0 failed"
    assert not any(q["sql"].startswith("DELETE") or '"created_at" <' in q["sql"] for q in sending.captured_queries)
    CallbackDelivery.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert status_callbacks_send_task() == "0 delivered, 0 to retry, 0 failed, 2 old pruned"  # the schedule


def test_the_prune_has_an_index_on_finished_deliveries():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, CallbackDelivery._meta.db_table)
    assert constraints["callback_delivery_finished"]["columns"] == ["created_at"]


def test_pending_deliveries_to_a_url_removed_from_the_configuration_are_not_sent(store):
    configuration = _configuration(store, ["https://a.example.com/hook", "https://b.example.com/hook"])
    _inbound(store)
    CallbackDelivery.objects.filter(event_type="conversation.created", url__contains="//a.").update(
        status=DeliveryStatus.DELIVERED, next_attempt_at=None
    )
    data = ConfigurationInput.of(configuration)
    data.status_callback_urls = ["https://b.example.com/hook", "https://c.example.com/hook"]
    conversation_configuration_update(configuration=configuration, actor=None, data=data)
    rows = {(d.event_type, d.url[8:9]): (d.status, d.last_error) for d in CallbackDelivery.objects.all()}
    assert rows == {
        ("conversation.created", "a"): ("delivered", ""),  # finished: as it was
        ("communication.created", "a"): ("failed", "URL removed from the configuration"),
        ("conversation.created", "b"): ("pending", ""),
        ("communication.created", "b"): ("pending", ""),
    }
    assert {d.url for d in callbacks._claim(timezone.now(), 10)} == {"https://b.example.com/hook"}
    data.status_callback_urls = []  # all removed
    conversation_configuration_update(configuration=configuration, actor=None, data=data)
    assert not CallbackDelivery.objects.filter(status="pending").exists()


def test_private_addresses_are_refused_by_default_on_each_connection(store, httpserver, monkeypatch):
    import socket

    from django.conf import settings as django_settings

    assert django_settings.STATUS_CALLBACKS_PRIVATE_ADDRESSES is False  # the default (not set in tests)
    resolve = socket.getaddrinfo

    def intranet(host, *args, **kwargs):  # a public-looking name for an address of ours
        return resolve("127.0.0.1" if host == "intranet.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", intranet)
    httpserver.expect_request("/hook").respond_with_data("ok")
    port = httpserver.port
    _configuration(store, [f"http://intranet.example.com:{port}/hook", httpserver.url_for("/hook")])
    _inbound(store)
    CallbackDelivery.objects.exclude(event_type="communication.created").delete()
    assert callbacks.status_callbacks_send().retrying == 2
    intranet_row, local = CallbackDelivery.objects.order_by("id")
    assert intranet_row.last_error == (
        "Not sent: intranet.example.com is a private or local address (127.0.0.1); this console sends "
        "status callbacks to public addresses only (its setting STATUS_CALLBACKS_PRIVATE_ADDRESSES)"
    )
    assert local.last_error.startswith("Not sent: localhost is a private or local address (")
    assert httpserver.log == []


def test_deliveries_are_scheduled_on_the_servers_clock_whatever_time_twilio_gives(store):
    from conversations.services import twilio_conversation_message_ingest, twilio_conversation_state_apply

    service, sid = "IS" + "a" * 32, "CH" + "b" * 32
    configuration = conversation_configuration_create(
        store=store,
        actor=None,
        data=ConfigurationInput(name="Chat", captures=[("chat", service)], status_callback_urls=["https://e.test/h"]),
    )
    twilio_conversation_message_ingest(
        configuration=configuration,
        conversation_sid=sid,
        service_sid=service,
        channel="sms",
        author=CUSTOMER,
        from_customer=True,
        body="Hi",
        occurred_at=timezone.now(),
        external_id="IM" + "c" * 32,
    )
    CallbackDelivery.objects.all().delete()
    before = timezone.now()
    assert twilio_conversation_state_apply(
        configuration=configuration, conversation_sid=sid, state="closed", at="9000-01-01T00:00:00Z"
    )
    after = timezone.now()
    delivery = CallbackDelivery.objects.get()
    assert before <= delivery.next_attempt_at <= after and before <= delivery.created_at <= after
    closed = json.loads(delivery.body)["data"]["closed_at"]
    assert closed.startswith(str(before.year))  # not year 9000: Twilio's time is never ahead of ours
    assert callbacks._claim(after, 10) == [delivery]  # due at once
    # The lifecycle worker's pass time (tests move it) is the event's time, not the schedule's.
    far = timezone.now() + timedelta(days=400)
    callbacks.status_callbacks_queue(configuration=configuration, events=[("conversation.updated", {"id": 1})], now=far)
    queued = CallbackDelivery.objects.latest("id")
    assert queued.next_attempt_at <= timezone.now() and json.loads(queued.body)["timestamp"].startswith(str(far.year))
