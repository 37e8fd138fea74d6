"""SQLite's "database is locked" (a write waited out the busy timeout, e.g. behind a CSV import)
answers 503 with the reason, in the console and in the API, instead of a server error."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert "On SQLite one write runs at a time" in html
    assert f'href="{reverse("stores:edit", args=[store.pk])}"' in html  # Try again
    assert Store.objects.get(pk=store.pk).name == store.name


def test_an_api_write_that_finds_the_database_locked_gets_a_json_503(client, account, monkeypatch):
    monkeypatch.setattr("workspace.api.store_create", _locked)
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


@pytest.mark.sqlite
def test_behind_a_real_sqlite_write_lock_reads_answer_at_once_and_writes_get_503_after_the_timeout(tmp_path):
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'locked.sqlite3'}", "SQLITE_BUSY_TIMEOUT": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True, timeout=120)
    probe = subprocess.run(
        [sys.executable, "tests/sqlite_lock_probe.py"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    answers = json.loads(probe.stdout.strip().splitlines()[-1])
    # Reading needs no lock: the page, and the API call whose "last used" time is skipped, not awaited.
    assert answers["console_get"]["status"] == 200
    assert answers["store_page"]["status"] == 200 and answers["store_page"]["seconds"] < 0.9
    assert answers["api_get"]["status"] == 200 and answers["api_get"]["seconds"] < 0.9
    # A write waits out SQLITE_BUSY_TIMEOUT (1 s here), then says why.
    post = answers["console_post"]
    assert post["status"] == 503 and post["seconds"] >= 0.9 and post["retry_after"] == "30"
    assert "The database is busy with another write" in post["body"]
    api_post = answers["api_post"]
    # It waited too: skipping the key's last-use write put the busy timeout back.
    assert api_post["status"] == 503 and api_post["seconds"] >= 0.9 and api_post["retry_after"] == "30"
    assert "On SQLite one write runs at a time" in json.loads(api_post["body"])["detail"]
    assert answers["store_name_after"] == "Shop"
