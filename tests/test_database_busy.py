"""SQLite's "database is locked" (a write waited out the busy timeout, e.g. behind a CSV import)
answers 503 with the reason, in the console and in the API, instead of a server error."""

import json

import pytest
from django.db import OperationalError
from django.urls import reverse

from accounts.services import api_key_create
from stores import services as store_services
from stores.models import Store

pytestmark = pytest.mark.django_db


def _locked(**kwargs):
    raise OperationalError("database is locked")  # what sqlite3 raises after the busy timeout


def test_a_console_write_that_finds_the_database_locked_gets_a_503_page_with_the_reason(
    admin_client, store, monkeypatch
):
    monkeypatch.setattr(store_services, "store_update", _locked)
    data = {"name": "Renamed", "description": "", "default_region": "US"}
    response = admin_client.post(reverse("stores:edit", args=[store.pk]), data)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    html = response.content.decode()
    assert "The database is busy" in html
    assert "a CSV import holds the database until it finishes" in html
    assert f'href="{reverse("stores:edit", args=[store.pk])}"' in html  # Try again
    assert Store.objects.get(pk=store.pk).name == store.name


def test_an_api_write_that_finds_the_database_locked_gets_a_json_503(client, account, monkeypatch):
    monkeypatch.setattr("stores.api.store_create", _locked)
    raw = api_key_create(account=account, actor=None, name="CRM sync")[1]
    response = client.post(
        "/api/v1/stores",
        data=json.dumps({"name": "New", "description": ""}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "On SQLite one write runs at a time" in response.json()["detail"]
    assert not Store.objects.filter(name="New").exists()


def test_other_database_errors_are_not_dressed_up_as_busy(admin_client, store, monkeypatch):
    def broken(**kwargs):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(store_services, "store_update", broken)
    data = {"name": "Renamed", "description": "", "default_region": "US"}
    with pytest.raises(OperationalError, match="disk I/O error"):
        admin_client.post(reverse("stores:edit", args=[store.pk]), data)
