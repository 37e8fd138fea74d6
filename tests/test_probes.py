"""Health checks and the metrics scrape as load balancers, Kubernetes probes and Prometheus make
them in production (DEBUG=False): by the web process's own address over plain HTTP. They must be
answered, not refused for their Host (400) nor redirected to HTTPS (301), while every other request
still is."""

import json

import pytest


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["console.example.com"]
    settings.SECURE_SSL_REDIRECT = True


def test_probes_by_the_pods_address_over_plain_http_are_answered(production, client, db):
    live = client.get("/api/v1/health", HTTP_HOST="10.0.0.5:8000")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = client.get("/api/v1/health/ready", HTTP_HOST="10.0.0.5:8000")
    assert ready.status_code == 503  # no qcluster runs in this test
    assert json.loads(ready.content)["checks"]["workers"]["ok"] is False
    scrape = client.get("/metrics", HTTP_HOST="web-1:8000")
    assert scrape.status_code == 200 and b"memory_console_imports" in scrape.content
    assert b'route="metrics"' in client.get("/metrics", HTTP_HOST="web-1:8000").content


def test_the_metrics_access_rule_still_holds_and_other_routes_still_check_the_host(production, client, db):
    assert client.get("/metrics", HTTP_HOST="web-1:8000", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/api/v1/stores", HTTP_HOST="10.0.0.5:8000").status_code == 400
    assert client.get("/api/v1/health", HTTP_HOST="console.example.com").status_code == 200
    assert client.get("/api/v1/stores", HTTP_HOST="console.example.com").status_code == 301  # to HTTPS
