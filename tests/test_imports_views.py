"""The console pages of CSV import: Data sources list, Select a CSV, Map CSV columns, details."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from identity.config import store_config
from imports import storage
from imports.models import ImportRowError, ImportStatus, ImportUndo, ProfileImport
from imports.services import import_run
from profiles.models import Profile
from tests.factories import AdminMembershipFactory, StoreFactory
from tests.imports_helpers import queue, upload

GOOD_CSV = (
    "email,firstName,lastName,nickname\r\n"
    "ada@example.com,Ada,Lovelace,countess\r\n"
    "not-an-email,Bad,Row,oops\r\n"
    "grace@example.com,Grace,Hopper,amazing\r\n"
)


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"
    return settings.IMPORTS_DIR


def _csv_file(text: str | bytes, name="people.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def _url(name, store, profile_import=None):
    args = [store.pk] if profile_import is None else [store.pk, profile_import.pk]
    return reverse(f"imports:{name}", args=args)


def _trait_value(store, path: str) -> str:
    group, trait = path.split(".")
    return f"trait:{store_config(store=store).schema[group][trait].pk}"


def _selected(html: str, field: str) -> str | None:
    """The value of the selected <option> of the <select name=field>."""
    select = re.search(rf'<select name="{field}".*?</select>', html, re.S)
    assert select, f"no <select name={field}>"
    match = re.search(r'<option value="([^"]*)"[^>]*selected', select.group(0))
    return match.group(1) if match else None


def _checked(html: str, field: str) -> bool:
    tag = re.search(rf'<input type="checkbox" name="{field}"[^>]*>', html)
    assert tag, f"no checkbox {field}"
    return "checked" in tag.group(0)


def _mapping_post(store, **columns):
    """{"import_<i>": "on", "target_<i>": target} for `col0="identifier:email"` style keywords."""
    data = {}
    for key, target in columns.items():
        column = key.removeprefix("col")
        data[f"target_{column}"] = target
        if target:
            data[f"import_{column}"] = "on"
    return data


def _finished(profile_import):
    return import_run(import_id=profile_import.pk, attempt=profile_import.attempt)


# --- list -----------------------------------------------------------------------------------------


def test_empty_list_offers_add_profiles_to_administrators(admin_client, store):
    response = admin_client.get(_url("list", store))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="imports-empty"' in html
    assert f'href="{_url("upload", store)}"' in html
    assert "+ Add profiles" in html


def test_list_shows_imports_newest_first_with_status_and_counts(admin_client, store, admin_user):
    older = upload(store, GOOD_CSV, name="older.csv", actor=admin_user)
    older = _finished(
        queue(older, ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"])
    )
    newer = upload(store, GOOD_CSV, name="newer.csv", actor=admin_user)
    html = admin_client.get(_url("list", store)).content.decode()
    assert html.index("newer.csv") < html.index("older.csv")
    row = re.search(rf'<tr data-import="{older.pk}">.*?</tr>', html, re.S).group(0)
    assert "Completed" in row and admin_user.email in row
    assert re.search(r">\s*2\s*</td>", row) and re.search(r">\s*1\s*</td>", row)  # 2 ingested, 1 failed
    newer_row = re.search(rf'<tr data-import="{newer.pk}">.*?</tr>', html, re.S).group(0)
    assert "Mapping" in newer_row


def test_list_is_paginated_25_per_page(admin_client, store):
    ProfileImport.objects.bulk_create(
        [ProfileImport(store=store, file_name=f"file-{n:02}.csv", status=ImportStatus.COMPLETED) for n in range(30)]
    )
    first = admin_client.get(_url("list", store)).content.decode()
    second = admin_client.get(_url("list", store) + "?page=2").content.decode()
    assert first.count("<tr data-import=") == 25
    assert second.count("<tr data-import=") == 5
    assert "Page 1 of 2" in first


# --- Select a CSV ---------------------------------------------------------------------------------


def test_upload_page_lists_the_file_rules_and_links_the_template(admin_client, store):
    html = admin_client.get(_url("upload", store)).content.decode()
    assert 'type="file"' in html and 'accept=".csv,text/csv"' in html
    assert f'href="{_url("template", store)}"' in html
    for rule in ["UTF-8", "1,000,000", "100 columns", "no two headers are the same", "phone, email or whatsappid"]:
        assert rule in html
    assert r"<code>\N</code> deletes" in html


def test_template_download_is_a_csv_attachment_with_identifier_and_contact_headers(admin_client, store):
    response = admin_client.get(_url("template", store))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    lines = response.content.decode().splitlines()
    assert lines[0] == "phone,email,whatsappid,firstName,lastName,address"
    # One example row, which imports as one profile.
    assert lines[1:] == ['+14155552671,ada@example.com,+14155552671,Ada,Lovelace,"12 Example Street, London"']
    from tests.imports_helpers import run

    specs = [f"{kind}=identifier:{kind}" for kind in ("phone", "email", "whatsappid")]
    specs += [f"{name}=Contact.{name}" for name in ("firstName", "lastName", "address")]
    finished = run(store, response.content, specs, name="profiles-template.csv")
    assert (finished.profiles_created, finished.rows_failed, finished.identifiers_dropped) == (1, 0, 0)


def test_upload_breaking_a_file_rule_shows_the_rule_in_an_alert_and_creates_nothing(admin_client, store, _imports_dir):
    bad = "email,firstName,email\r\nada@example.com,Ada,ada@example.com\r\n"
    response = admin_client.post(_url("upload", store), {"file": _csv_file(bad, name="dupes.csv")})
    assert response.status_code == 200
    html = response.content.decode()
    alert = re.search(r'<div class="alert alert-danger" role="alert".*?</div>', html, re.S).group(0)
    assert "dupes.csv: Header “email” appears twice (columns 1 and 3)." in alert
    assert not ProfileImport.objects.exists()
    assert not any(Path(_imports_dir).rglob("*.csv"))  # the rejected file was deleted


def test_upload_of_a_spreadsheet_is_refused_as_not_a_csv(admin_client, store):
    response = admin_client.post(_url("upload", store), {"file": _csv_file(b"PK\x03\x04rest", name="people.xlsx")})
    assert "not a CSV file" in response.content.decode()
    assert not ProfileImport.objects.exists()


def test_upload_without_a_file_asks_for_one(admin_client, store):
    response = admin_client.post(_url("upload", store), {})
    assert response.status_code == 200
    assert "Choose a CSV file to upload." in response.content.decode()
    assert not ProfileImport.objects.exists()


def test_upload_over_the_size_limit_is_refused_before_the_file_checks(admin_client, store, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 50
    response = admin_client.post(_url("upload", store), {"file": _csv_file(GOOD_CSV)})
    assert "Split it into smaller files" in response.content.decode()
    assert not ProfileImport.objects.exists()


def test_upload_while_another_import_is_queued_names_that_import(admin_client, store):
    busy = queue(
        upload(store, GOOD_CSV, name="first.csv"),
        ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"],
    )
    response = admin_client.post(_url("upload", store), {"file": _csv_file(GOOD_CSV, name="second.csv")})
    html = response.content.decode()
    assert 'role="alert"' in html
    assert f"“first.csv” (import #{busy.pk}) is queued" in html
    assert ProfileImport.objects.count() == 1


def test_good_upload_leads_to_the_mapping_page_with_suggested_targets(admin_client, store):
    response = admin_client.post(_url("upload", store), {"file": _csv_file(GOOD_CSV)}, follow=True)
    profile_import = ProfileImport.objects.get()
    assert profile_import.status == ImportStatus.MAPPING
    assert response.redirect_chain == [(_url("mapping", store, profile_import), 302)]
    html = response.content.decode()
    assert "Map CSV columns" in html
    assert _selected(html, "target_0") == "identifier:email"
    assert _selected(html, "target_1") == _trait_value(store, "Contact.firstName")
    assert _selected(html, "target_2") == _trait_value(store, "Contact.lastName")
    assert _selected(html, "target_3") in (None, "")  # nickname: no trait of that name
    assert [_checked(html, f"import_{i}") for i in range(4)] == [True, True, True, False]
    assert "ada@example.com" in html and "countess" in html  # sample values
    assert f'href="{reverse("traits:list", args=[store.pk])}"' in html and "Create a trait" in html
    assert '<optgroup label="Identifiers">' in html and "Contact.address" in html


def test_suggested_targets_ignore_case_spaces_and_punctuation_in_headers(admin_client, store):
    text = "E-Mail,FIRST NAME,last_name,Contact Address,Phone Number,firstname\r\nada@example.com,Ada,L,Paris,,A\r\n"
    response = admin_client.post(_url("upload", store), {"file": _csv_file(text)}, follow=True)
    html = response.content.decode()
    assert _selected(html, "target_0") == "identifier:email"
    assert _selected(html, "target_1") == _trait_value(store, "Contact.firstName")
    assert _selected(html, "target_2") == _trait_value(store, "Contact.lastName")
    assert _selected(html, "target_3") == _trait_value(store, "Contact.address")  # group + trait name
    assert _selected(html, "target_4") in (None, "")  # "phonenumber" is not "phone": no guess
    assert _selected(html, "target_5") in (None, "")  # Contact.firstName already went to column 1
    assert [_checked(html, f"import_{i}") for i in range(6)] == [True, True, True, True, False, False]


# --- Map CSV columns ------------------------------------------------------------------------------


def test_complete_with_a_bad_mapping_lists_each_error_and_keeps_the_choices(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    data = _mapping_post(store, col0="", col1=_trait_value(store, "Contact.firstName"))
    data["target_2"] = _trait_value(store, "Contact.lastName")  # chosen but Import? left off
    response = admin_client.post(_url("mapping", store, profile_import), data)
    assert response.status_code == 200
    html = response.content.decode()
    alert = re.search(r'<div class="alert alert-danger" role="alert".*?</div>', html, re.S).group(0)
    assert "<li>Map at least one column to a default identifier: phone, email or whatsappid.</li>" in alert
    assert "<li>Map at least 2 columns to traits (now 1).</li>" in alert
    assert _selected(html, "target_1") == _trait_value(store, "Contact.firstName")
    assert _selected(html, "target_2") == _trait_value(store, "Contact.lastName")
    assert [_checked(html, f"import_{i}") for i in range(3)] == [False, True, False]
    profile_import.refresh_from_db()
    assert profile_import.status == ImportStatus.MAPPING


def test_complete_with_an_unknown_target_is_refused(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    data = _mapping_post(store, col0="identifier:email", col1="trait:999999")
    response = admin_client.post(_url("mapping", store, profile_import), data)
    assert 'role="alert"' in response.content.decode()
    assert "Select a valid choice" in response.content.decode()
    profile_import.refresh_from_db()
    assert profile_import.status == ImportStatus.MAPPING


def test_complete_queues_the_import_with_only_the_checked_columns(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    data = _mapping_post(
        store,
        col0="identifier:email",
        col1=_trait_value(store, "Contact.firstName"),
        col2=_trait_value(store, "Contact.lastName"),
    )
    data["target_3"] = _trait_value(store, "Contact.address")  # Import? off: not mapped
    response = admin_client.post(_url("mapping", store, profile_import), data)
    assert response.status_code == 302
    assert response.url == _url("detail", store, profile_import)
    profile_import.refresh_from_db()
    assert profile_import.status == ImportStatus.QUEUED
    assert profile_import.mapping == [
        {"column": 0, "header": "email", "identifier": "email"},
        {"column": 1, "header": "firstName", "group": "Contact", "trait": "firstName"},
        {"column": 2, "header": "lastName", "group": "Contact", "trait": "lastName"},
    ]


def test_mapping_page_of_a_queued_import_redirects_to_its_details(admin_client, store):
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    response = admin_client.get(_url("mapping", store, queued))
    assert response.status_code == 302
    assert response.url == _url("detail", store, queued)


def test_cancel_upload_discards_the_import_and_deletes_its_file(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    path = Path(profile_import.file_path)
    assert path.exists()
    response = admin_client.post(_url("discard", store, profile_import))
    assert response.status_code == 302
    assert response.url == _url("list", store)
    assert not ProfileImport.objects.exists()
    assert not path.exists()


def test_cancel_upload_without_javascript_confirms_first(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    response = admin_client.get(_url("discard", store, profile_import))
    assert response.status_code == 200
    assert "Cancel the upload of people.csv?" in response.content.decode()
    assert ProfileImport.objects.exists()


# --- details --------------------------------------------------------------------------------------


def test_details_of_a_queued_import_poll_its_progress(admin_client, store):
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    html = admin_client.get(_url("detail", store, queued)).content.decode()
    assert f'hx-get="{_url("progress", store, queued)}" hx-trigger="every 1s"' in html
    assert "0 of 3 rows processed" in html
    assert "Queued" in html
    waiting = re.search(r'data-testid="waiting">([^<]*)<', html).group(1)
    if connection.vendor == "sqlite":  # imports of every store take turns there: say so
        assert waiting == "Waiting for a worker (on SQLite one import runs at a time)…"
    else:
        assert waiting == "Waiting for a worker…"


def test_progress_of_a_running_import_reads_the_workers_progress_file(admin_client, store):
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING)
    storage.progress_write(queued.file_path, rows_processed=2, rows_failed=1)
    response = admin_client.get(_url("progress", store, queued), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "HX-Refresh" not in response
    assert 'hx-trigger="every 1s"' in html
    assert "2 of 3 rows processed · 1 failed" in html
    # On SQLite writing the checked rows is part of the work too: 2 checked of 3 + 2 to write.
    assert f'aria-valuenow="{40 if connection.vendor == "sqlite" else 67}"' in html and "Running" in html


def test_progress_of_a_sqlite_import_writing_its_checked_rows_says_how_many_are_written(admin_client, store):
    # On SQLite every row is checked first, then the good ones are written in steps: both phases count.
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING)
    storage.progress_write(queued.file_path, rows_processed=3, rows_failed=1, rows_applied=1)
    html = admin_client.get(_url("progress", store, queued), HTTP_HX_REQUEST="true").content.decode()
    assert "All 3 rows checked · 1 of 2 written · 1 failed" in html
    assert 'aria-label="Rows written" aria-valuenow="80"' in html  # (3 checked + 1 written) of (3 + 2)


def test_progress_of_a_running_import_estimates_the_time_left_at_the_pace_so_far(admin_client, store):
    from datetime import timedelta

    from django.utils import timezone

    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    started = timezone.now() - timedelta(seconds=20)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING, started_at=started)
    storage.progress_write(queued.file_path, rows_processed=1, rows_failed=0)  # 1 row in 20 s, 2 to go
    html = admin_client.get(_url("progress", store, queued), HTTP_HX_REQUEST="true").content.decode()
    # SQLite writes the checked rows after checking them all: 1 of 6 rows' work done, not 1 of 3.
    left = "about 2 min left" if connection.vendor == "sqlite" else "about 40 s left"
    assert f'1 of 3 rows processed · <span data-testid="time-left">{left}</span>' in html
    storage.progress_write(queued.file_path, rows_processed=3, rows_failed=0)
    html = admin_client.get(_url("progress", store, queued), HTTP_HX_REQUEST="true").content.decode()
    assert '3 of 3 rows processed · <span data-testid="time-left">finishing</span>' in html


@pytest.mark.parametrize(
    ("processed", "seconds_left", "text"),
    [(0, None, ""), (10, 4, "a few seconds left"), (10, 33, "about 30 s left"), (10, 150, "about 2 min left")],
)
def test_time_left_reads_as_a_rounded_estimate(processed, seconds_left, text):
    from imports.selectors import ImportProgress

    progress = ImportProgress("running", "Running", 100, processed, 0, True, seconds_left)
    assert progress.time_left == text


def test_progress_asks_the_page_to_reload_once_the_import_has_finished(admin_client, store):
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    _finished(queued)
    response = admin_client.get(_url("progress", store, queued), HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    assert b"every 1s" not in response.content


def test_progress_without_htmx_sends_the_visitor_to_the_details(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    response = admin_client.get(_url("progress", store, profile_import))
    assert response.status_code == 302
    assert response.url == _url("detail", store, profile_import)


def test_details_show_counts_and_failed_rows_after_the_worker_ran(admin_client, store):
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    done = _finished(queued)
    assert done.status == ImportStatus.COMPLETED
    html = admin_client.get(_url("detail", store, queued)).content.decode()
    assert "every 1s" not in html
    facts = dict(re.findall(r'data-fact="(\w+)">([^<]*)<', html))
    assert facts["total_rows"] == "3"
    assert facts["rows_processed"] == "3"
    assert facts["rows_ingested"] == "2"
    assert facts["rows_failed"] == "1"
    assert facts["profiles_created"] == "2"
    assert facts["duration"].endswith(" s")
    row = re.search(r'<tr data-line="3">.*?</tr>', html, re.S).group(0)
    assert "failed row" in row and "not-an-email" in row and "<code>email</code>" in row
    assert f'href="{_url("failed_rows_csv", store, queued)}"' in html
    assert Profile.objects.filter(store=store).count() == 2


def test_details_show_who_uploaded_when_and_the_profiles_updated_and_merged(admin_client, admin_user, store):
    specs = ["Email=identifier:email", "Phone=identifier:phone", "First=Contact.firstName", "Last=Contact.lastName"]
    first = "Email,Phone,First,Last\r\nada@example.com,,Ada,L\r\n,+14155552671,Augusta,L\r\n" + (
        "grace@example.com,,Grace,H\r\n"
    )
    assert _finished(queue(upload(store, first), specs)).profiles_created == 3
    # Ada's email and phone now arrive together: her two profiles become one (one merged away, the
    # other updated with the new last name); Grace is updated with a new first name.
    second = "Email,Phone,First,Last\r\nada@example.com,+14155552671,Ada,King\r\ngrace@example.com,,Amazing,H\r\n"
    admin_client.post(_url("upload", store), {"file": _csv_file(second, name="second.csv")})
    later = ProfileImport.objects.get(file_name="second.csv")
    assert _finished(queue(later, specs)).status == ImportStatus.COMPLETED
    html = admin_client.get(_url("detail", store, later)).content.decode()
    facts = dict(re.findall(r'data-fact="(\w+)">([^<]*)<', html))
    assert (facts["profiles_created"], facts["profiles_updated"], facts["profiles_merged"]) == ("0", "2", "1")
    assert f"uploaded by {admin_user.email}" in html
    uploaded = date_format(localtime(later.created_at), "DATETIME_FORMAT")
    assert f">{uploaded}</span>" in html
    assert Profile.objects.filter(store=store, merged_into__isnull=True).count() == 2


def test_details_of_a_failed_import_show_the_failure_reason(admin_client, store):
    rows = "".join(f"bad{n},A,B,x\r\n" for n in range(100))
    queued = queue(
        upload(store, "email,firstName,lastName,nickname\r\n" + rows),
        ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"],
    )
    assert _finished(queued).status == ImportStatus.FAILED
    html = admin_client.get(_url("detail", store, queued)).content.decode()
    reason = re.search(r'data-testid="failure-reason">.*?</div>', html, re.S).group(0)
    assert "100 rows failed" in reason and "nothing from the file was applied" in reason
    assert "Failed" in html


def test_failed_rows_are_paginated_50_per_page_and_notes_are_told_apart(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(
                store=store,
                profile_import=profile_import,
                line=n + 2,
                column="email",
                value="x",
                reason="bad",
                row_failed=n != 0,
            )
            for n in range(60)
        ]
    )
    ProfileImport.objects.filter(pk=profile_import.pk).update(status=ImportStatus.COMPLETED)
    first = admin_client.get(_url("detail", store, profile_import)).content.decode()
    second = admin_client.get(_url("detail", store, profile_import) + "?page=2").content.decode()
    assert first.count("<tr data-line=") == 50
    assert second.count("<tr data-line=") == 10
    note = re.search(r'<tr data-line="2">.*?</tr>', first, re.S).group(0)
    assert ">note<" in note


def test_failed_rows_csv_says_each_line_kind_and_escapes_cells_spreadsheets_would_run_as_formulas(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    values = ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain"]
    ImportRowError.objects.bulk_create(
        [
            ImportRowError(
                store=store,
                profile_import=profile_import,
                line=n + 2,
                column="nickname",
                value=value,
                reason="-bad" if value == "plain" else "bad",
                row_failed=value != "-2",
            )
            for n, value in enumerate(values)
        ]
    )
    response = admin_client.get(_url("failed_rows_csv", store, profile_import))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="people-failed-rows.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [*profile_import.headers, "line", "kind", "column", "value", "reason"]
    ours = [row[len(profile_import.headers) :] for row in rows[1:]]
    assert [row[3] for row in ours] == ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "plain"]
    assert ours[4][4] == "'-bad"  # every text column is escaped, the reason too
    assert [row[1] for row in ours] == ["failed row", "failed row", "note", "failed row", "failed row"]


# --- cancel, and the undo of what was written -----------------------------------------------------

MAPPED = ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]


def _queued(store):
    return queue(upload(store, GOOD_CSV), MAPPED)


def _journal(profile_import, rows=1):
    """What a SQLite import's short transactions wrote, as the undo engine would find it."""
    ImportUndo.objects.bulk_create(
        [
            ImportUndo(
                profile_import=profile_import, batch=n, table_name="profiles_profile", op="I", row_id=n, last_id=n
            )
            for n in range(1, rows + 1)
        ]
    )


def _badge(html: str) -> str:
    return re.search(r'<span class="badge [^"]*" data-testid="import-status"[^>]*>[^<]*</span>', html).group(0)


def test_details_of_a_queued_import_offer_cancel_which_asks_for_confirmation_first(admin_client, store):
    queued = _queued(store)
    html = admin_client.get(_url("detail", store, queued)).content.decode()
    cancel = _url("cancel", store, queued)
    link = re.search(rf'<a [^>]*href="{cancel}"[^>]*>([^<]*)</a>', html)
    assert link and link.group(1) == "Cancel import…"
    assert f'hx-get="{cancel}"' in link.group(0)  # opens in the side sheet; a plain page without JavaScript
    page = admin_client.get(cancel)
    assert page.status_code == 200
    confirm = page.content.decode()
    assert "Cancel the import of people.csv?" in confirm
    assert "nothing from the file stays applied" in confirm
    assert re.search(rf'<form method="post" action="{cancel}"', confirm)
    assert '<button type="submit" class="btn btn-danger">Cancel import</button>' in confirm
    assert f'href="{_url("detail", store, queued)}">Keep importing</a>' in confirm
    sheet = admin_client.get(cancel, HTTP_HX_REQUEST="true").content.decode()
    assert "offcanvas-body" in sheet and "<html" not in sheet and "Keep importing" in sheet
    assert ProfileImport.objects.get(pk=queued.pk).status == ImportStatus.QUEUED  # asking changes nothing


def test_a_cancelled_import_shows_its_own_badge_the_reason_who_and_when_and_no_failed_rows_clutter(
    admin_client, admin_user, store
):
    queued = _queued(store)
    response = admin_client.post(_url("cancel", store, queued), follow=True)
    html = response.content.decode()
    assert "Cancelled the import of people.csv; nothing from the file stays applied." in html
    cancelled = ProfileImport.objects.get(pk=queued.pk)
    assert cancelled.status == ImportStatus.CANCELLED
    badge = _badge(html)
    assert 'data-status="cancelled"' in badge and ">Cancelled<" in badge
    assert "text-bg-warning" in badge and "text-bg-danger" not in badge  # not dressed as Failed
    reason = re.search(r'data-testid="cancel-reason">.*?</div>', html, re.S).group(0)
    assert f"Cancelled by {admin_user.email}; nothing from the file stays applied." in reason
    assert date_format(localtime(cancelled.finished_at), "DATETIME_FORMAT") in reason
    assert 'data-testid="failure-reason"' not in html and "The import failed" not in html
    assert "Failed rows and notes" not in html and "No failed rows" not in html
    assert _url("failed_rows_csv", store, queued) not in html
    assert "every 1s" not in html and "Removing the rows" not in html and "Cancel import…" not in html
    facts = dict(re.findall(r'data-fact="(\w+)">([^<]*)<', html))
    assert facts == {"total_rows": "3", "duration": "— (cancelled before it started)"}  # no counts of nothing


def test_the_list_tells_a_cancelled_import_from_a_failed_one(admin_client, store):
    ProfileImport.objects.bulk_create(
        [
            ProfileImport(store=store, file_name="stopped.csv", status=ImportStatus.CANCELLED),
            ProfileImport(store=store, file_name="broken.csv", status=ImportStatus.FAILED),
        ]
    )
    html = admin_client.get(_url("list", store)).content.decode()
    stopped = re.search(r"<tr data-import=\"\d+\">(?:(?!</tr>).)*stopped\.csv.*?</tr>", html, re.S).group(0)
    broken = re.search(r"<tr data-import=\"\d+\">(?:(?!</tr>).)*broken\.csv.*?</tr>", html, re.S).group(0)
    assert ">Cancelled<" in _badge(stopped) and "text-bg-warning" in _badge(stopped)
    assert ">Failed<" in _badge(broken) and "text-bg-danger" in _badge(broken)
    assert "Removing the rows" not in html


def test_while_a_cancelled_import_is_undone_details_and_list_say_so_and_the_page_polls_until_done(admin_client, store):
    queued = _queued(store)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING)
    _journal(queued, rows=3)  # the short transactions a SQLite import had committed
    running = admin_client.get(_url("detail", store, queued)).content.decode()
    assert "Removing the rows" not in running  # running: its journal is not being undone
    admin_client.post(_url("cancel", store, queued))

    html = admin_client.get(_url("detail", store, queued)).content.decode()
    reason = re.search(r'data-testid="cancel-reason">.*?</div>\s*</div>', html, re.S).group(0)
    assert "Removing the rows already written…" in reason
    poll = f'hx-get="{_url("progress", store, queued)}?state=undoing" hx-trigger="every 1s"'
    assert poll in html
    listing = admin_client.get(_url("list", store)).content.decode()
    row = re.search(rf'<tr data-import="{queued.pk}">.*?</tr>', listing, re.S).group(0)
    assert ">Cancelled<" in row and "Removing the rows already written…" in row
    still = admin_client.get(_url("progress", store, queued) + "?state=undoing", HTTP_HX_REQUEST="true")
    assert still.status_code == 204 and "HX-Refresh" not in still  # nothing to swap: poll again

    ImportUndo.objects.filter(profile_import=queued).delete()  # the undo is done
    done = admin_client.get(_url("progress", store, queued) + "?state=undoing", HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    html = admin_client.get(_url("detail", store, queued)).content.decode()
    assert "Removing the rows" not in html and "every 1s" not in html
    assert "Cancelled by" in html
    assert "Removing the rows" not in admin_client.get(_url("list", store)).content.decode()


def test_a_failed_import_being_undone_says_so_too(admin_client, store):
    profile_import = upload(store, GOOD_CSV)
    ProfileImport.objects.filter(pk=profile_import.pk).update(status=ImportStatus.FAILED, failure_reason="Worker died.")
    _journal(profile_import)
    html = admin_client.get(_url("detail", store, profile_import)).content.decode()
    reason = re.search(r'data-testid="failure-reason">.*?</div>\s*</div>', html, re.S).group(0)
    assert "Worker died." in reason and "Removing the rows already written…" in reason


def test_the_progress_poll_of_a_running_import_reloads_the_page_once_it_is_cancelled(admin_client, store):
    queued = _queued(store)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING)
    admin_client.post(_url("cancel", store, queued))
    _journal(queued)
    response = admin_client.get(_url("progress", store, queued), HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"  # the page then shows the cancel and the undo


def test_only_a_queued_or_running_import_can_be_cancelled(admin_client, store):
    done = _finished(_queued(store))
    assert done.status == ImportStatus.COMPLETED
    html = admin_client.post(_url("cancel", store, done), follow=True).content.decode()
    assert "people.csv is completed: only a queued or running import can be cancelled." in html
    assert ProfileImport.objects.get(pk=done.pk).status == ImportStatus.COMPLETED
    again = admin_client.get(_url("cancel", store, done))
    assert again.status_code == 302 and again.url == _url("detail", store, done)
    stale_page = admin_client.get(_url("cancel", store, done), HTTP_HX_REQUEST="true")
    assert stale_page["HX-Refresh"] == "true"  # not the details page inside the side sheet
    assert "Cancel import…" not in admin_client.get(_url("detail", store, done)).content.decode()


# --- roles and tenants ----------------------------------------------------------------------------


def test_support_gets_403_on_upload_mapping_discard_and_cancel_and_changes_nothing(support_client, store):
    profile_import = upload(store, GOOD_CSV)
    for name in ["upload", "mapping", "discard", "cancel"]:
        url = _url(name, store) if name == "upload" else _url(name, store, profile_import)
        assert support_client.get(url).status_code == 403, url
        assert support_client.post(url, {"file": _csv_file(GOOD_CSV)}).status_code == 403, url
    profile_import.refresh_from_db()
    assert profile_import.status == ImportStatus.MAPPING
    assert ProfileImport.objects.count() == 1


def test_support_can_view_the_list_and_details_but_is_offered_no_upload(support_client, store):
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    _finished(queued)
    listing = support_client.get(_url("list", store))
    assert listing.status_code == 200
    assert "people.csv" in listing.content.decode()
    assert _url("upload", store) not in listing.content.decode()
    details = support_client.get(_url("detail", store, queued))
    assert details.status_code == 200
    assert "not-an-email" in details.content.decode()
    assert support_client.get(_url("failed_rows_csv", store, queued)).status_code == 200


def test_support_is_not_offered_cancel_on_a_queued_import(support_client, store):
    queued = _queued(store)
    html = support_client.get(_url("detail", store, queued)).content.decode()
    assert "Queued" in html and "Cancel import" not in html and _url("cancel", store, queued) not in html


def test_support_sees_no_mapping_link_on_an_unmapped_upload(support_client, store):
    profile_import = upload(store, GOOD_CSV)
    html = support_client.get(_url("detail", store, profile_import)).content.decode()
    assert "not mapped yet" in html
    assert _url("mapping", store, profile_import) not in html


def test_an_import_of_another_account_answers_404_on_every_import_page(admin_client, store):
    other_store = StoreFactory(account=AdminMembershipFactory().account)
    theirs = upload(other_store, GOOD_CSV)
    for name in ["detail", "mapping", "discard", "cancel", "progress", "failed_rows_csv"]:
        assert admin_client.get(_url(name, store, theirs)).status_code == 404, name
        assert admin_client.get(_url(name, other_store, theirs)).status_code == 404, name
    assert admin_client.post(_url("discard", store, theirs)).status_code == 404
    assert admin_client.post(_url("mapping", store, theirs), {"import_0": "on"}).status_code == 404
    assert ProfileImport.objects.filter(pk=theirs.pk, status=ImportStatus.MAPPING).exists()
    ProfileImport.objects.filter(pk=theirs.pk).update(status=ImportStatus.QUEUED)
    assert admin_client.post(_url("cancel", store, theirs)).status_code == 404
    assert admin_client.post(_url("cancel", other_store, theirs)).status_code == 404
    assert ProfileImport.objects.get(pk=theirs.pk).status == ImportStatus.QUEUED


def test_durations_read_at_a_glance():
    from datetime import timedelta

    from imports.selectors import duration_text

    assert duration_text(None) == "—"
    assert duration_text(timedelta(seconds=0.42)) == "0.4 s"
    assert duration_text(timedelta(seconds=42)) == "42 s"
    assert duration_text(timedelta(seconds=185)) == "3 min 5 s"
    assert duration_text(timedelta(hours=1, minutes=2, seconds=3)) == "1 h 2 min"


def test_details_never_print_a_failed_rows_hidden_characters_raw(admin_client, store):
    text = "email,firstName,lastName\r\na\u200bb@example.com,A\x01B,C\u0085D\r\nok@example.com,E,F\r\n"
    queued = queue(
        upload(store, text), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    assert _finished(queued).status == ImportStatus.COMPLETED
    html = admin_client.get(_url("detail", store, queued)).content.decode()
    rows = "".join(re.findall(r'<tr data-line="2">.*?</tr>', html, re.S))
    assert "a&lt;U+200B&gt;b@example.com" in rows and "A&lt;U+0001&gt;B" in rows
    for hidden in ("\u200b", "\x01", "\u0085"):
        assert hidden not in rows


def test_a_progress_poll_after_the_session_ended_sends_the_browser_to_sign_in(client, store):
    # Found trying issue 15 as a new user: the sign-in page was swapped into the progress card.
    queued = queue(
        upload(store, GOOD_CSV), ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    )
    page = reverse("imports:detail", args=[store.pk, queued.pk])
    response = client.get(
        _url("progress", store, queued), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )
    assert response.status_code == 200 and not response.content
    assert response["HX-Redirect"] == f"{reverse('login')}?next={page}"
    plain = client.get(page)  # without htmx: Django's own redirect, unchanged
    assert plain.status_code == 302 and plain["Location"].startswith(reverse("login"))
