"""Run by tests/test_database_busy.py in its own process, on its own migrated SQLite file
(DATABASE_URL): while another connection holds SQLite's write lock, as a running import does,
send console and API requests and print what each answered, as JSON."""

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memory_console.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.services import api_key_create  # noqa: E402
from tests.factories import AdminMembershipFactory, StoreFactory  # noqa: E402


def main():
    member = AdminMembershipFactory()
    store = StoreFactory(account=member.account, name="Shop")
    raw = api_key_create(account=member.account, actor=None, name="probe")[1]
    console = Client(HTTP_HOST="localhost")
    console.force_login(member.user)
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    console.get(f"/stores/{store.pk}/")  # the store page remembers the last store in the session
    connection.close()

    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as an import's transaction holds it
    answers = {}

    def record(name, response, started):
        answers[name] = {
            "status": response.status_code,
            "seconds": time.monotonic() - started,
            "retry_after": response.get("Retry-After"),
            "body": response.content.decode(),
        }

    started = time.monotonic()
    record("console_get", console.get(f"/stores/{store.pk}/settings/"), started)
    started = time.monotonic()
    record("store_page", console.get(f"/stores/{store.pk}/"), started)
    started = time.monotonic()
    data = {"name": "Renamed", "description": "", "default_region": "US"}
    record("console_post", console.post(f"/stores/{store.pk}/settings/edit/", data), started)
    started = time.monotonic()
    record("api_get", api.get("/api/v1/stores"), started)
    started = time.monotonic()
    record("api_post", api.post("/api/v1/stores", {"name": "New"}, content_type="application/json"), started)
    holder.execute("ROLLBACK")
    holder.close()
    store.refresh_from_db()
    answers["store_name_after"] = store.name
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
