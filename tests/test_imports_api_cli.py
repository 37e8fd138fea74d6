"""CSV imports through the JSON API and the import_profiles command."""

import json
import re
import time
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.services import api_key_create
from identity.models import Identifier
from imports import storage
from imports.management.commands import import_profiles
from imports.models import ImportStatus, ProfileImport
from imports.services import import_run
from profiles.models import Profile
from tests.factories import StoreFactory

CSV = "Email,First Name,Last Name\r\nada@example.com,Ada,Lovelace\r\nnot-an-email,Bad,Row\r\n"
MAPPING = {"Email": "identifier:email", "First Name": "Contact.firstName", "Last Name": "Contact.lastName"}


@pytest.fixture
def key(account):
    return api_key_create(account=account, actor=None, name="CRM sync")[1]


def _post(client, key, store, text=CSV, mapping=MAPPING, name="people.csv"):
    return client.post(
        f"/api/v1/stores/{store.pk}/imports",
        {"file": SimpleUploadedFile(name, text.encode(), content_type="text/csv"), "mapping": json.dumps(mapping)},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_api_upload_queues_the_import_and_get_reports_status_counts_and_errors(client, key, store):
    response = _post(client, key, store)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["total_rows"] == 2
    assert [m["header"] for m in body["mapping"]] == ["Email", "First Name", "Last Name"]
    queued = ProfileImport.objects.get(pk=body["id"])
    import_run(import_id=queued.pk, attempt=queued.attempt)
    result = client.get(f"/api/v1/stores/{store.pk}/imports/{queued.pk}", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert result["status"] == "completed"
    assert (result["rows_ingested"], result["rows_failed"], result["profiles_created"]) == (1, 1, 1)
    assert result["errors"] == [
        {
            "line": 3,
            "column": "Email",
            "value": "not-an-email",
            "reason": "is not a valid email address (An email address must have an @-sign.)",
            "row_failed": True,
        }
    ]
    assert Profile.objects.get(store=store).traits["Contact"] == {"firstName": "Ada", "lastName": "Lovelace"}


def test_api_reports_rows_processed_and_an_estimate_of_the_time_left_while_running(client, key, store):
    from datetime import timedelta

    from django.utils import timezone

    queued = ProfileImport.objects.get(pk=_post(client, key, store).json()["id"])
    started = timezone.now() - timedelta(seconds=20)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING, started_at=started)
    storage.progress_write(queued.file_path, rows_processed=1, rows_failed=0)  # 1 of 2 rows in 20 s
    result = client.get(f"/api/v1/stores/{store.pk}/imports/{queued.pk}", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert (result["status"], result["rows_processed"]) == ("running", 1)
    expected = 60 if connection.vendor == "sqlite" else 20  # SQLite: 2 rows to check, then 2 to write
    assert expected - 1 <= result["seconds_left"] <= expected + 1


def test_api_rejects_a_file_rule_break_with_422_and_keeps_nothing(client, key, store):
    response = _post(client, key, store, text="Email,Email\r\na@example.com,b@example.com\r\n")
    assert response.status_code == 422
    assert "appears twice" in response.json()["detail"][0]["msg"]
    assert not ProfileImport.objects.filter(store=store).exists()


def test_api_rejects_a_mapping_with_an_unknown_trait_before_anything_is_queued(client, key, store):
    response = _post(client, key, store, mapping={**MAPPING, "Last Name": "Contact.surname"})
    assert response.status_code == 422
    assert "Contact.surname" in response.json()["detail"][0]["msg"]
    assert not ProfileImport.objects.filter(store=store).exists()


def test_api_import_of_another_accounts_store_is_404(client, key, store):
    other = StoreFactory()
    assert _post(client, key, other).status_code == 404
    mine = ProfileImport.objects.create(store=other, file_name="x.csv")
    assert (
        client.get(f"/api/v1/stores/{store.pk}/imports/{mine.pk}", HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        == 404
    )


def _cli_import(store, path) -> str:
    """Run import_profiles on `path` with the Email/First Name/Last Name mapping; what it printed."""
    out = StringIO()
    maps = ["Email=identifier:email", "First Name=Contact.firstName", "Last Name=Contact.lastName"]
    call_command("import_profiles", "--store", str(store.pk), str(path), *[f"--map={m}" for m in maps], stdout=out)
    return out.getvalue()


def test_cli_imports_a_file_and_prints_progress_status_and_counts(store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    text = _cli_import(store, path)
    assert "2 rows, checked" in text
    assert "Completed: 1 rows ingested, 1 failed; profiles created 1" in text
    assert "line 3 Email: “not-an-email” is not a valid email address" in text
    assert Identifier.objects.filter(store=store, kind="email", value="ada@example.com").exists()
    assert ProfileImport.objects.get(store=store).status == ImportStatus.COMPLETED


def test_cli_prints_rows_processed_while_a_big_file_is_imported(store, tmp_path, monkeypatch):
    monkeypatch.setattr(import_profiles.Command, "report_every", 0.01)
    delete = storage.file_delete

    def slow_delete(path):  # the worker's progress is gone while the import has not returned yet
        delete(path)
        time.sleep(0.2)

    monkeypatch.setattr(storage, "file_delete", slow_delete)
    path = tmp_path / "people.csv"
    lines = [f"customer{i}@example.com,First{i},Last{i}" for i in range(30_000)]
    path.write_text("Email,First Name,Last Name\r\n" + "\r\n".join(lines) + "\r\n")
    text = _cli_import(store, path)
    processed = [int(n.replace(",", "")) for n in re.findall(r"^  ([\d,]+) / 30,000 rows processed$", text, re.M)]
    assert processed, text
    assert processed == sorted(processed)  # never goes back
    assert 0 < max(processed) <= 30_000  # the worker's count as the rows go by, not only the total at the end
    assert text.index("rows processed") < text.index("Completed: 30,000 rows ingested, 0 failed")


def test_cli_says_the_database_is_busy_instead_of_a_traceback(store, tmp_path, monkeypatch):
    from django.db import OperationalError

    def locked(**kwargs):
        raise OperationalError("database is locked")  # SQLite, behind a running import

    monkeypatch.setattr(import_profiles, "import_start", locked)
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError, match="The database is busy with another write"):
        _cli_import(store, path)


def test_cli_reports_a_rejected_mapping_and_leaves_no_import(store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError, match="Map at least 2 columns to traits"):
        call_command("import_profiles", "--store", str(store.pk), str(path), "--map", "Email=identifier:email")
    assert not ProfileImport.objects.filter(store=store).exists()


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ([], "expected an object"),
        (["Email", "identifier:email"], "expected an object"),
        ("[" * 50000 + "]" * 50000, "not valid JSON"),
    ],
    ids=["empty array", "array of strings", "nested 50,000 levels"],
)
def test_api_refuses_a_mapping_that_is_not_an_object_naming_the_field(client, key, store, mapping, words):
    raw = mapping if isinstance(mapping, str) else json.dumps(mapping)
    response = client.post(
        f"/api/v1/stores/{store.pk}/imports",
        {"file": SimpleUploadedFile("people.csv", CSV.encode(), content_type="text/csv"), "mapping": raw},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == "mapping" and words in error["msg"]
    assert not ProfileImport.objects.filter(store=store).exists()


# --- cancel, and the undo of what was written -----------------------------------------------------


def _cancel(client, key, store, import_id):
    return client.post(f"/api/v1/stores/{store.pk}/imports/{import_id}/cancel", HTTP_AUTHORIZATION=f"Bearer {key}")


def _get(client, key, store, import_id):
    return client.get(f"/api/v1/stores/{store.pk}/imports/{import_id}", HTTP_AUTHORIZATION=f"Bearer {key}").json()


def test_api_cancels_a_queued_import_which_then_reads_cancelled_and_its_task_does_nothing(client, key, store):
    from accounts.models import AuditEvent

    queued = ProfileImport.objects.get(pk=_post(client, key, store).json()["id"])
    response = _cancel(client, key, store, queued.pk)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["undoing"]) == (queued.pk, "cancelled", False)
    assert body["failure_reason"] == "Cancelled by API key “CRM sync”; nothing from the file stays applied."
    assert body["finished_at"] is not None
    assert _get(client, key, store, queued.pk)["status"] == "cancelled"
    assert import_run(import_id=queued.pk, attempt=queued.attempt) is None
    assert not Profile.objects.filter(store=store).exists()
    event = AuditEvent.objects.get(action="import.cancel")
    assert event.api_key is not None and event.summary == "Cancelled the import of people.csv"
    assert _post(client, key, store).status_code == 202  # the store takes imports again


def test_api_cancel_of_an_import_no_longer_queued_or_running_is_409_saying_its_status(client, key, store):
    queued = ProfileImport.objects.get(pk=_post(client, key, store).json()["id"])
    import_run(import_id=queued.pk, attempt=queued.attempt)
    response = _cancel(client, key, store, queued.pk)
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Import #{queued.pk} is completed: only a queued or running import can be cancelled."
    }
    assert ProfileImport.objects.get(pk=queued.pk).status == ImportStatus.COMPLETED
    stopped = ProfileImport.objects.get(pk=_post(client, key, store).json()["id"])
    assert _cancel(client, key, store, stopped.pk).status_code == 200
    again = _cancel(client, key, store, stopped.pk)
    assert again.status_code == 409 and " is cancelled: " in again.json()["detail"]


def test_api_cancel_of_another_accounts_import_is_404_and_cancels_nothing(client, key, store):
    other = StoreFactory()
    theirs = ProfileImport.objects.create(store=other, file_name="x.csv", status=ImportStatus.QUEUED)
    assert _cancel(client, key, store, theirs.pk).status_code == 404  # my store, their import
    assert _cancel(client, key, other, theirs.pk).status_code == 404  # their store
    assert _cancel(client, key, store, 999_999).status_code == 404
    assert ProfileImport.objects.get(pk=theirs.pk).status == ImportStatus.QUEUED
    no_key = client.post(f"/api/v1/stores/{store.pk}/imports/{theirs.pk}/cancel")
    assert no_key.status_code == 401


def test_api_says_undoing_while_a_cancelled_imports_written_rows_are_being_removed(client, key, store):
    from imports.models import ImportUndo

    queued = ProfileImport.objects.get(pk=_post(client, key, store).json()["id"])
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING)
    ImportUndo.objects.create(
        profile_import=queued, batch=1, table_name="profiles_profile", op="I", row_id=1, last_id=4
    )
    assert _get(client, key, store, queued.pk)["undoing"] is False  # running: the journal is not being undone
    assert _cancel(client, key, store, queued.pk).json()["undoing"] is True
    assert _get(client, key, store, queued.pk)["undoing"] is True
    listed = client.get(f"/api/v1/stores/{store.pk}/imports", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert [(i["status"], i["undoing"]) for i in listed] == [("cancelled", True)]
    ImportUndo.objects.filter(profile_import=queued).delete()
    assert _get(client, key, store, queued.pk)["undoing"] is False


def test_api_documents_every_import_status_undoing_and_the_cancel_conflict(client, db):
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    properties = schemas["ImportOut"]["properties"]
    status = schemas[properties["status"]["$ref"].rsplit("/", 1)[1]]
    assert status["enum"] == ["mapping", "queued", "running", "completed", "failed", "cancelled"]
    for value in status["enum"]:
        assert f"`{value}`" in properties["status"]["description"]
    assert properties["undoing"]["type"] == "boolean" and "undoing" in schemas["ImportOut"]["required"]
    cancel = document["paths"]["/api/v1/stores/{store_id}/imports/{import_id}/cancel"]["post"]
    assert cancel["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImportOut"
    }
    assert cancel["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    assert {"401", "404", "422", "503"} <= set(cancel["responses"])


def test_cli_fails_with_the_reason_when_its_import_is_cancelled(store, tmp_path, monkeypatch):
    def cancelled_meanwhile(*, import_id, attempt):
        ProfileImport.objects.filter(pk=import_id).update(
            status=ImportStatus.CANCELLED,
            failure_reason="Cancelled by ada@example.com; nothing from the file stays applied.",
        )
        return ProfileImport.objects.get(pk=import_id)

    monkeypatch.setattr(import_profiles, "import_run", cancelled_meanwhile)
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    with pytest.raises(CommandError, match="Cancelled by ada@example.com"):
        _cli_import(store, path)
