"""GET /metrics: what an operator's Prometheus scrapes (issue 18): the state of imports,
conversations, memory extraction and the task queue, and request latency by route; only for
loopback clients or a METRICS_TOKEN bearer."""

from datetime import timedelta

from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from conversations.models import ExtractionRequest
from conversations.services import ConfigurationInput, communication_ingest, conversation_configuration_create
from imports.models import ImportStatus, ProfileImport
from tests.imports_helpers import CONTACT, csv_text, queue, upload

BUSINESS, CUSTOMER = "+14155550100", "+14155550199"


def _samples(client, **headers) -> dict:
    answer = client.get("/metrics", **headers)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_imports_by_status_and_the_oldest_queued_age_for_the_stuck_import_alert(client, store):
    queued = queue(upload(store, csv_text("a@example.com,+14155550123,A,B")), CONTACT)
    ProfileImport.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(minutes=30))
    now = timezone.now()
    done = ProfileImport.objects.create(
        store=store, file_name="old.csv", status=ImportStatus.COMPLETED, rows_processed=120_000,
        started_at=now - timedelta(minutes=3), finished_at=now - timedelta(minutes=1),
    )  # fmt: skip
    samples = _samples(client)
    assert samples[("memory_console_imports", (("status", "queued"),))] == 1
    assert samples[("memory_console_imports", (("status", "completed"),))] == 1
    assert samples[("memory_console_imports", (("status", "running"),))] == 0
    assert 1790 < samples[("memory_console_import_oldest_seconds", (("status", "queued"),))] < 1900
    assert samples[("memory_console_import_oldest_seconds", (("status", "running"),))] == 0
    assert samples[("memory_console_import_duration_seconds_count", ())] == 1
    assert samples[("memory_console_import_duration_seconds_bucket", (("le", "60.0"),))] == 0
    assert samples[("memory_console_import_duration_seconds_bucket", (("le", "120.0"),))] == 1
    assert 990 < samples[("memory_console_import_rows_per_second", ())] < 1010  # 120,000 rows in 120 s
    assert done.pk


def test_conversations_by_status_and_the_extraction_lag(client, store):
    data = ConfigurationInput(name="Support line", captures=[("sms", BUSINESS)], observations_enabled=True)
    conversation_configuration_create(store=store, actor=None, data=data)
    message = communication_ingest(
        store=store, channel="sms", direction="inbound", from_address=CUSTOMER, to_address=BUSINESS, body="Hi"
    )
    samples = _samples(client)
    assert samples[("memory_console_conversations", (("status", "open"),))] == 1
    assert samples[("memory_console_conversations", (("status", "closed"),))] == 0
    assert samples[("memory_console_extractions_pending", ())] == 0
    assert samples[("memory_console_extraction_lag_seconds", ())] == 0
    ExtractionRequest.objects.create(
        store=store, conversation=message.conversation, transition="closed",
        last_communication_id=message.communication.pk,
        requested_at=timezone.now() - timedelta(minutes=10),
    )  # fmt: skip
    samples = _samples(client)
    assert samples[("memory_console_extractions_pending", ())] == 1
    assert 590 < samples[("memory_console_extraction_lag_seconds", ())] < 700


def test_request_latency_is_by_route_never_by_path_with_ids(client, api, store):
    count = "memory_console_request_duration_seconds_count"
    route = ("route", "api/v1/stores/<store_id>")
    ok, missing = (
        (count, (("method", "GET"), route, ("status", "2xx"))),
        (count, (("method", "GET"), route, ("status", "4xx"))),
    )
    before = _samples(client)  # the histogram is the process's: other tests' requests count too
    api.call("get", f"/stores/{store.pk}")
    api.call("get", "/stores/999999")
    samples = _samples(client)
    assert samples[ok] - before.get(ok, 0) == 1
    assert samples[missing] - before.get(missing, 0) == 1  # the other account's: 404
    labels = {value for key in samples if key[0].startswith("memory_console_request") for _, value in key[1]}
    assert not any(str(store.pk) in v.split("/") or "999999" in v for v in labels)
    assert samples[("memory_console_clusters", ())] == 0  # no qcluster here (tests/test_scale_out.py runs them)


def test_only_loopback_or_the_metrics_token_may_read(client, settings, db):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403  # with a token set, loopback needs it too
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", REMOTE_ADDR="203.0.113.9").status_code == 200
    )


def test_a_request_a_proxy_on_this_host_forwarded_is_not_loopback(client, db):
    """nginx on the web host passes every visitor's request on from 127.0.0.1: without a token, such
    a request is refused, whatever its connection's address."""
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **{header: "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_a_missing_multiprocess_directory_never_fails_a_request(client, db, tmp_path, monkeypatch):
    """PROMETHEUS_MULTIPROC_DIR names a directory that is not there (a gunicorn started by hand with
    the deployment's env file): the request histogram cannot be written, the console still answers."""
    from prometheus_client import Histogram, values

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "not-there"))
    monkeypatch.setattr(values, "ValueClass", values.get_value_class())  # multiprocess mode, as at gunicorn's start
    histogram = Histogram("multiprocess_seconds", "In multiprocess mode.", ["route", "method", "status"], registry=None)
    monkeypatch.setattr("memory_console.metrics_middleware.REQUEST_SECONDS", histogram)
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/accounts/login/").status_code == 200
