"""CSV files as spreadsheets write them (issue 13): values in any script, blank identifier cells,
separators other than the comma, Excel's ``sep=`` line, trailing empty columns, cells at the 1 MB
limit, long lines read in bounded memory, the failed-rows download with the original cells, and
mapping specs through the command and the API. Each runs the real upload check and the worker's
import path (in-process), on SQLite and PostgreSQL alike."""

import csv
import io
import json
import re
import tracemalloc
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.services import api_key_create
from identity.models import Identifier
from imports.csvfile import MAX_CELL_LENGTH, FileRuleError, csv_file_check, detect_layout, failed_rows_download
from imports.models import ImportRowError, ImportStatus, ProfileImport
from imports.services import import_failed_rows_csv, import_run
from tests.imports_helpers import CONTACT, csv_text, queue, run, upload
from traits.models import TraitGroup
from traits.services import trait_create, trait_group_create

SPECS = ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"


@pytest.fixture
def key(account):
    return api_key_create(account=account, actor=None, name="CRM sync")[1]


def contact(store, email):
    return Identifier.objects.get(store=store, kind="email", value=email).profile.traits["Contact"]


def failures(profile_import):
    rows = ImportRowError.objects.filter(profile_import=profile_import, row_failed=True).order_by("line", "id")
    return [(e.line, e.column, e.reason) for e in rows]


def rejected(store, data: str | bytes) -> str:
    before = ProfileImport.objects.filter(store=store).count()
    with pytest.raises(ValidationError) as caught:
        upload(store, data)
    assert ProfileImport.objects.filter(store=store).count() == before
    return " ".join(caught.value.messages)


def api_post(client, key, store, text: str, mapping: dict):
    return client.post(
        f"/api/v1/stores/{store.pk}/imports",
        {
            "file": SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv"),
            "mapping": json.dumps(mapping),
        },
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def api_run(client, key, store, text: str, mapping: dict) -> ProfileImport:
    response = api_post(client, key, store, text, mapping)
    assert response.status_code == 202, response.content
    queued = ProfileImport.objects.get(pk=response.json()["id"])
    return import_run(import_id=queued.pk, attempt=queued.attempt)


# --- values people write ------------------------------------------------------------------------

ISSUE_FILE = 'email,firstName,lastName,address\r\na1@example.test,Seán,O\'Brien,"1 Main St, Apt 2"\r\n'
ISSUE_MAPPING = {
    "email": "identifier:email",
    "firstName": "Contact.firstName",
    "lastName": "Contact.lastName",
    "address": "Contact.address",
}


def test_the_issue_example_file_imports_through_the_api(client, key, store):
    finished = api_run(client, key, store, ISSUE_FILE, ISSUE_MAPPING)
    assert (finished.status, finished.rows_failed, finished.rows_ingested) == (ImportStatus.COMPLETED, 0, 1)
    assert contact(store, "a1@example.test") == {
        "firstName": "Seán",
        "lastName": "O'Brien",
        "address": "1 Main St, Apt 2",
    }


def test_the_issue_example_file_imports_through_the_command_path(store):
    specs = [f"{header}={target}" for header, target in ISSUE_MAPPING.items()]
    finished = run(store, ISSUE_FILE, specs)
    assert (finished.status, finished.rows_failed, finished.rows_ingested) == (ImportStatus.COMPLETED, 0, 1)
    assert contact(store, "a1@example.test") == {
        "firstName": "Seán",
        "lastName": "O'Brien",
        "address": "1 Main St, Apt 2",
    }


def test_values_in_other_scripts_and_an_apostrophe_email_import(store):
    text = csv_text("o'neil@example.com,,Иван,Nuñez", 'b@example.com,,Zoë;x,"Say ""hi"""', "c@example.com,,Ana 🎉,李")
    finished = run(store, text, CONTACT)
    assert (finished.rows_failed, finished.rows_ingested) == (0, 3)
    assert contact(store, "c@example.com") == {"firstName": "Ana 🎉", "lastName": "李"}
    assert contact(store, "o'neil@example.com") == {"firstName": "Иван", "lastName": "Nuñez"}
    assert contact(store, "b@example.com") == {"firstName": "Zoë;x", "lastName": 'Say "hi"'}


def test_array_cells_stay_bar_separated_and_may_hold_commas_and_semicolons(store):
    group = trait_group_create(store=store, actor=None, name="Prefs")
    trait_create(group=group, actor=None, name="tags", data_type="array")
    text = 'Email,First,Last,Tags\r\na@example.com,A,L,"red, dark | blue;light"\r\n'
    finished = run(
        store, text, ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName", "Tags=Prefs.tags"]
    )
    assert finished.rows_failed == 0
    profile = Identifier.objects.get(store=store, value="a@example.com").profile
    assert profile.traits["Prefs"]["tags"] == ["red, dark", "blue;light"]


@pytest.mark.parametrize("blank", [" ", "   ", "\u00a0", "\u200b", " \ufeff\u2060 "])
def test_an_identifier_cell_of_only_spaces_or_invisible_characters_is_empty(store, blank):
    finished = run(store, csv_text(f"a@example.test,{blank},Ada,L", f"{blank},+14155552671,Bo,L"), CONTACT)
    assert (finished.rows_failed, finished.rows_ingested) == (0, 2), failures(finished)
    assert Identifier.objects.filter(store=store).count() == 2
    assert not Identifier.objects.filter(store=store, value__in=[blank, blank.strip()]).exists()


def test_a_row_whose_identifier_cells_are_all_blank_fails_as_having_no_identifier(store):
    finished = run(store, csv_text(" , ,Ada,L"), CONTACT)
    assert failures(finished) == [(2, "", "needs a value in at least one identifier column (email, phone)")]


# --- separators ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("separator", "label"),
    [(";", "semicolon (;)"), ("\t", "tab"), ("|", "vertical bar (|)")],
)
def test_a_file_separated_by_semicolon_tab_or_bar_is_detected_shown_and_imported(admin_client, store, separator, label):
    rows = ["email,firstName,lastName", 'a@example.com,Ana,"Lee, Jr"', "b@example.com,Bo,Ng"]
    text = "\r\n".join(row.replace(",", separator) if i == 0 else _sep(row, separator) for i, row in enumerate(rows))
    profile_import = upload(store, text + "\r\n")
    assert (profile_import.delimiter, profile_import.headers) == (separator, ["email", "firstName", "lastName"])
    assert profile_import.samples[2] == ["Lee, Jr", "Ng"]
    page = admin_client.get(reverse("imports:mapping", args=[store.pk, profile_import.pk])).content.decode()
    assert f"Separator: {label}" in page
    finished = import_run(import_id=queue(profile_import, SPECS).pk, attempt=1)
    assert (finished.status, finished.rows_failed, finished.rows_ingested) == (ImportStatus.COMPLETED, 0, 2)
    assert contact(store, "a@example.com") == {"firstName": "Ana", "lastName": "Lee, Jr"}


def _sep(row: str, separator: str) -> str:
    """A data row with `separator` between cells (the quoted "Lee, Jr" keeps its comma)."""
    cells = next(csv.reader([row]))
    out = io.StringIO()
    csv.writer(out, delimiter=separator, lineterminator="").writerow(cells)
    return out.getvalue()


def test_a_semicolon_file_from_a_european_excel_imports_through_the_api(client, key, store):
    text = "email;firstName;lastName\r\na@example.com;Zoë;Müller\r\n"
    response = api_post(client, key, store, text, {k.split("=")[0]: k.split("=")[1] for k in SPECS})
    assert response.status_code == 202, response.content
    assert (response.json()["separator"], response.json()["file_notes"]) == (";", [])
    queued = ProfileImport.objects.get(pk=response.json()["id"])
    finished = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert (finished.delimiter, finished.rows_ingested, finished.rows_failed) == (";", 1, 0)
    assert contact(store, "a@example.com") == {"firstName": "Zoë", "lastName": "Müller"}


@pytest.mark.parametrize(
    "rows",
    [
        ["a@example.com,Ana,a;b;c", "b@example.com,Bo,d;e;f"],  # a semicolon in every row, as many as commas
        ["a@example.com,Ana,x;y", "b@example.com,Bo,z"],
        ['a@example.com,Ana,"x;y;z"', 'b@example.com,"Bo;Bo",w'],
        ["a@example.com;x,Ana;y,L;z"],  # more semicolons than commas
    ],
)
def test_a_comma_file_with_semicolons_inside_cells_stays_a_comma_file(store, rows):
    profile_import = upload(store, "\r\n".join(["email,firstName,lastName", *rows]) + "\r\n")
    assert profile_import.delimiter == ","
    assert profile_import.headers == ["email", "firstName", "lastName"]


# --- Excel's sep= line --------------------------------------------------------------------------


@pytest.mark.parametrize("separator", [",", ";", "|", "\t"])
def test_a_sep_line_declares_the_separator_is_skipped_and_lines_still_count_the_file(admin_client, store, separator):
    rows = ["email,firstName,lastName", "a@example.com,Ana,Lee", "not-an-email,Bo,Ng"]
    text = f"sep={separator}\r\n" + "\r\n".join(row.replace(",", separator) for row in rows) + "\r\n"
    profile_import = upload(store, text)
    assert profile_import.headers == ["email", "firstName", "lastName"]
    assert (profile_import.delimiter, profile_import.separator_declared) == (separator, True)
    assert (
        "declared by the file"
        in admin_client.get(reverse("imports:mapping", args=[store.pk, profile_import.pk])).content.decode()
    )
    finished = import_run(import_id=queue(profile_import, SPECS).pk, attempt=1)
    assert finished.rows_ingested == 1
    assert [(line, column) for line, column, _ in failures(finished)] == [(4, "email")]  # line 1 is sep=, 2 the header


def test_a_sep_line_after_a_bom_is_honoured_and_a_written_backslash_t_means_tab(store):
    text = "\ufeffsep=\\t\r\nemail\tfirstName\tlastName\r\na@example.com\tA\tB\r\n"
    profile_import = upload(store, text)
    assert (profile_import.delimiter, profile_import.headers) == ("\t", ["email", "firstName", "lastName"])


def test_a_sep_line_declaring_an_unsupported_separator_is_refused_naming_it(store):
    message = rejected(store, "sep=:\r\nemail:firstName:lastName\r\na@example.com:A:B\r\n")
    assert "Line 1 (sep=:) declares the separator “:”" in message


# --- trailing empty columns ---------------------------------------------------------------------


def test_trailing_empty_columns_are_ignored_with_a_notice(admin_client, store):
    text = "email,firstName,lastName,,\r\na@example.com,Ana,Lee,,\r\nb@example.com,Bo,Ng,,\r\n"
    profile_import = upload(store, text)
    assert profile_import.headers == ["email", "firstName", "lastName"]
    page = admin_client.get(reverse("imports:mapping", args=[store.pk, profile_import.pk])).content.decode()
    assert "Empty columns 4-5 at the end (no header, no values) ignored." in page
    finished = import_run(import_id=queue(profile_import, SPECS).pk, attempt=1)
    assert (finished.rows_failed, finished.rows_ingested) == (0, 2)


def test_rows_with_one_trailing_comma_are_ignored_with_a_notice(admin_client, store):
    text = "email,firstName,lastName\r\na@example.com,Ana,Lee,\r\nb@example.com,Bo,Ng\r\n"
    profile_import = upload(store, text)
    page = admin_client.get(reverse("imports:mapping", args=[store.pk, profile_import.pk])).content.decode()
    assert "1 row ends with a separator after the last column (an empty cell without a header): ignored." in page
    finished = import_run(import_id=queue(profile_import, SPECS).pk, attempt=1)
    assert (finished.rows_failed, finished.rows_ingested) == (0, 2)
    assert contact(store, "a@example.com") == {"firstName": "Ana", "lastName": "Lee"}


def test_a_column_without_a_header_that_holds_a_value_is_refused_naming_it(store):
    text = "email,firstName,lastName,,\r\na@example.com,Ana,Lee,,\r\nb@example.com,Bo,Ng,,oops\r\n"
    assert "Column 5 has no header but line 3 holds a value in it" in rejected(store, text)


# --- cells at the 1 MB limit and long lines -----------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True])
def test_a_cell_of_exactly_1_mb_imports_and_one_more_character_is_refused_as_longer_than_1_mb(store, quoted):
    def file(length):
        cell = "x" * length
        return csv_text("a@example.com,,Ada," + (f'"{cell}"' if quoted else cell))

    finished = run(store, file(MAX_CELL_LENGTH), CONTACT)
    assert (finished.rows_failed, finished.rows_ingested) == (0, 1)
    assert len(contact(store, "a@example.com")["lastName"]) == 1_048_576
    message = rejected(store, file(MAX_CELL_LENGTH + 1))
    assert "Line 2 has a cell longer than 1 MB" in message and "malformed" not in message


def test_a_header_cell_over_1_mb_says_so(store):
    message = rejected(store, "Email,Phone," + "x" * (MAX_CELL_LENGTH + 1) + "\r\na@example.com,,A\r\n")
    assert "Line 1 has a cell longer than 1 MB" in message and "malformed" not in message


def test_a_line_over_4_mb_of_small_cells_is_refused_naming_its_line(store):
    row = "a@example.com,," + ",".join(["y" * 10_000] * 420)
    assert "Line 3 is longer than 4 MB (4,194,304 characters)" in rejected(store, csv_text("b@example.com,,A,B", row))


def test_the_upload_check_refuses_a_200_mb_line_in_flat_memory(tmp_path):
    path = tmp_path / "one-line.csv"
    block = b"x" * (1 << 20)
    with open(path, "wb") as handle:
        handle.write(b"Email,First,Last\r\na@example.com,A,")
        for _ in range(200):
            handle.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(FileRuleError, match="Line 2 has a cell longer than 1 MB"):
            csv_file_check(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_the_worker_reads_a_long_line_in_flat_memory_too(store, tmp_path):
    from imports.csvfile import CsvLayout, read_rows

    path = tmp_path / "one-line.csv"
    path.write_bytes(b"Email,First,Last\r\n" + b"y" * (50 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(FileRuleError, match="Line 2 has a cell longer than 1 MB"):
            list(read_rows(path, CsvLayout(width=3)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


# --- the failed-rows download -------------------------------------------------------------------


def _download(profile_import) -> list[list[str]]:
    text = "".join(import_failed_rows_csv(profile_import=profile_import))
    assert text.startswith("\ufeff")  # a UTF-8 BOM, so Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=profile_import.delimiter))


def test_the_failed_rows_download_carries_each_failed_rows_original_cells_and_can_be_uploaded_again(store):
    text = csv_text(
        "a@example.com,,Ada,Lovelace",
        "not-an-email,+1 nope,=HYPERLINK(1),Bad",  # two failures on one row: one line in the download
        "c@example.com,,Cy",  # too few cells
    )
    finished = run(store, text, CONTACT)
    assert finished.rows_failed == 2
    rows = _download(finished)
    assert rows[0] == ["Email", "Phone", "First", "Last", "line", "kind", "column", "value", "reason"]
    assert rows[1][:6] == ["not-an-email", "'+1 nope", "'=HYPERLINK(1)", "Bad", "3", "failed row"]
    assert rows[1][6] == "Email / Phone"
    assert "is not a valid email address" in rows[1][8]
    assert rows[2][:6] == ["c@example.com", "", "Cy", "", "4", "failed row"]
    assert "the row has 3 cells but the header has 4 columns" in rows[2][8]
    assert len(rows) == 3
    # the download passes the file checks as it is: fix the cells and upload it again
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    fixed = out.getvalue().replace("not-an-email", "b@example.com")
    again = upload(store, fixed, name="people-failed-rows.csv")
    assert again.headers[:4] == ["Email", "Phone", "First", "Last"]


def test_the_download_keeps_notes_marked_and_renames_its_columns_when_the_file_has_them(store):
    text = "Email,line,reason,Last\r\nnot-an-email,1,x,L\r\n"
    finished = run(store, text, ["Email=identifier:email", "line=Contact.firstName", "Last=Contact.lastName"])
    rows = _download(finished)
    assert rows[0] == [
        "Email",
        "line",
        "reason",
        "Last",
        "import line",
        "import kind",
        "import column",
        "import value",
        "import reason",
    ]
    assert rows[1][:6] == ["not-an-email", "1", "x", "L", "2", "failed row"]


def test_the_download_view_sends_the_original_cells(admin_client, store):
    finished = run(store, csv_text("not-an-email,,Ada,Lovelace"), CONTACT)
    response = admin_client.get(reverse("imports:failed_rows_csv", args=[store.pk, finished.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][:5] == ["not-an-email", "", "Ada", "Lovelace", "2"]


ROUND_TRIP = ["Email=identifier:email", "Phone=identifier:phone", "Tag=Contact.tag", "Score=Contact.score"]


@pytest.fixture
def tagged(store):
    """Contact.tag (text), Contact.score (number) and Contact.reason, which the download's own
    "reason" column would be suggested for."""
    contact = TraitGroup.objects.get(store=store, name="Contact")
    trait_create(group=contact, actor=None, name="tag", data_type="string")
    trait_create(group=contact, actor=None, name="score", data_type="number")
    trait_create(group=contact, actor=None, name="reason", data_type="string")


def test_the_failed_rows_download_uploaded_again_stores_the_values_of_the_original_file(admin_client, store, tagged):
    rows = [f"e{n}@example.com,+14155552671,plain,1" for n in range(6)]  # the 6th email is over the limit: a note
    original = csv_text(
        *rows,
        "a@example.com,+14155550150,-VIP,-3.5",
        "not-an-email,+14155550151,-VIP,-3.5",  # fails on its email only
        "not-an-email-2,+14155550152,'@home,2",  # a cell that starts with ' before @ already
        header="Email,Phone,Tag,Score",
    )
    first = run(store, original, ROUND_TRIP)
    assert (first.rows_failed, first.identifiers_dropped) == (2, 1)
    download = "".join(import_failed_rows_csv(profile_import=first))
    assert "'-VIP,'-3.5" in download and "''@home" in download  # escaped for spreadsheets
    fixed = download.replace("not-an-email-2,", "c@example.com,").replace("not-an-email,", "b@example.com,")

    again = upload(store, fixed, name="people-failed-rows.csv")
    assert again.total_rows == 2  # the note line is not a row
    assert again.samples[1:3] == [["+14155550151", "+14155550152"], ["-VIP", "'@home"]]
    page = admin_client.get(reverse("imports:mapping", args=[store.pk, again.pk])).content.decode()
    assert "This is a failed-rows download: the &#x27; added before cells starting with =, +, -, @" in page
    assert "its note line is skipped" in page
    # the download's own columns are not mapped by default, though a trait is named "reason"
    toggles = re.findall(r'<input type="checkbox" name="import_(\d+)"[^>]*?( checked)?>', page)
    assert [column for column, checked in toggles if checked] == ["0", "1", "2", "3"]  # the file's, not "reason" (8)
    assert re.search(r'<option value="trait:\d+" selected>Contact\.reason</option>', page) is None

    finished = import_run(import_id=queue(again, ROUND_TRIP).pk, attempt=1)
    assert (finished.status, finished.rows_failed, finished.rows_ingested) == (ImportStatus.COMPLETED, 0, 2)
    b, c, a = (contact(store, email) for email in ("b@example.com", "c@example.com", "a@example.com"))
    assert (b["tag"], b["score"]) == ("-VIP", a["score"])
    assert str(a["score"]) == "-3.5"
    assert (c["tag"], c["score"]) == ("'@home", 2)
    phones = Identifier.objects.filter(store=store, kind="phone", value__in=["+14155550151", "+14155550152"])
    assert sorted(phone.profile.traits["Contact"]["tag"] for phone in phones) == ["'@home", "-VIP"]


def test_a_download_of_a_download_keeps_one_set_of_its_columns(store, tagged):
    first = run(store, csv_text("not-an-email,+14155550151,-VIP,-3.5", header="Email,Phone,Tag,Score"), ROUND_TRIP)
    again = run(store, "".join(import_failed_rows_csv(profile_import=first)), ROUND_TRIP, name="failed.csv")
    assert again.rows_failed == 1
    rows = _download(again)
    assert rows[0] == ["Email", "Phone", "Tag", "Score", "line", "kind", "column", "value", "reason"]
    assert rows[1][:6] == ["not-an-email", "'+14155550151", "'-VIP", "'-3.5", "2", "failed row"]


def test_a_file_is_a_failed_rows_download_only_by_the_downloads_own_last_five_headers():
    assert failed_rows_download(["Email", "line", "kind", "column", "value", "reason"])
    assert failed_rows_download(["line", *(f"import {name}" for name in ["line", "kind", "column", "value", "reason"])])
    assert not failed_rows_download(["line", "kind", "column", "value", "reason"])  # no column of the file itself
    assert not failed_rows_download(["Email", "kind", "line", "column", "value", "reason"])
    assert not failed_rows_download(["Email", "line", "kind", "column", "value", "reason", "Extra"])
    assert not failed_rows_download(["Email", "import line", "kind", "column", "value", "reason"])


def test_the_command_reads_a_download_back_the_same_way_and_says_so(store, tmp_path):
    path = tmp_path / "people-failed-rows.csv"
    path.write_text(
        "Email,First Name,Last Name,line,kind,column,value,reason\r\n"
        ",,,3,note,email,x@example.com,identifier not added\r\n"
        "ada@example.com,'-Ada,'=Lovelace,2,failed row,Email,not-an-email,is not a valid email address\r\n"
    )
    text = _cli(store, path, "Email=identifier:email", "First Name=Contact.firstName", "Last Name=Contact.lastName")
    assert "1 rows, checked." in text and "This is a failed-rows download" in text
    assert "Completed: 1 rows ingested" in text
    assert contact(store, "ada@example.com") == {"firstName": "-Ada", "lastName": "=Lovelace"}


def test_an_ordinary_file_keeps_its_leading_apostrophes(store, tagged):
    run(store, csv_text("a@example.com,,'-VIP,1", header="Email,Phone,Tag,Score"), ROUND_TRIP)
    assert contact(store, "a@example.com")["tag"] == "'-VIP"


# --- mapping specs: the command and the API -----------------------------------------------------

CLI_CSV = "Email,First Name,Last Name,Score=1\r\nada@example.com,Ada,Lovelace,5\r\n"


def _cli(store, path, *maps):
    out = StringIO()
    call_command("import_profiles", "--store", str(store.pk), str(path), *[f"--map={m}" for m in maps], stdout=out)
    return out.getvalue()


@pytest.fixture
def dotted(store):
    """Groups whose names hold dots: Prefs (trait v2) and Prefs.v2 (trait tier)."""
    prefs = trait_group_create(store=store, actor=None, name="Prefs")
    trait_create(group=prefs, actor=None, name="v2", data_type="string")
    versioned = trait_group_create(store=store, actor=None, name="Prefs.v2")
    trait_create(group=versioned, actor=None, name="tier", data_type="string")
    trait_create(group=versioned, actor=None, name="a.b", data_type="string")


def test_cli_refuses_a_map_entry_without_equals_naming_it(store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(CLI_CSV)
    with pytest.raises(CommandError, match="“First Name”: no “=”"):
        _cli(
            store,
            path,
            "Email=identifier:email",
            "First Name",
            "Last Name=Contact.lastName",
            "Score=1=Contact.firstName",
        )
    assert not ProfileImport.objects.filter(store=store).exists()


def test_cli_names_a_column_the_file_does_not_have(store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(CLI_CSV)
    with pytest.raises(CommandError, match="the file has no column “Nickname”"):
        _cli(store, path, "Email=identifier:email", "First Name=Contact.firstName", "Nickname=Contact.lastName")


def test_cli_maps_headers_holding_equals_and_dotted_group_and_trait_names(store, tmp_path, dotted):
    path = tmp_path / "people.csv"
    path.write_text("Email,First Name,Tier,AB,Score=1\r\nada@example.com,Ada,gold,x,5\r\n")
    text = _cli(
        store,
        path,
        "Email=identifier:email",
        "First Name=Contact.firstName",
        "Tier=Prefs.v2.tier",
        "AB=Prefs.v2.a.b",
        "Score=1=Prefs.v2",
    )
    assert "Completed: 1 rows ingested" in text
    traits = Identifier.objects.get(store=store, value="ada@example.com").profile.traits
    assert traits["Prefs.v2"] == {"tier": "gold", "a.b": "x"}
    assert traits["Prefs"] == {"v2": "5"}


def test_api_maps_dotted_names_and_headers_holding_equals(client, key, store, dotted):
    text = "Email,First Name,Tier,Score=1\r\nada@example.com,Ada,gold,5\r\n"
    mapping = {
        "Email": "identifier:email",
        "First Name": "Contact.firstName",
        "Tier": "Prefs.v2.tier",
        "Score=1": "Prefs.v2",
    }
    finished = api_run(client, key, store, text, mapping)
    assert finished.rows_ingested == 1, finished.failure_reason
    traits = Identifier.objects.get(store=store, value="ada@example.com").profile.traits
    assert (traits["Prefs.v2"], traits["Prefs"]) == ({"tier": "gold"}, {"v2": "5"})


def test_api_names_a_column_the_file_does_not_have(client, key, store):
    mapping = {"Email": "identifier:email", "First Name": "Contact.firstName", "Nickname": "Contact.lastName"}
    response = api_post(client, key, store, CLI_CSV, mapping)
    assert response.status_code == 422
    assert "the file has no column “Nickname”" in response.json()["detail"][0]["msg"]
    assert not ProfileImport.objects.filter(store=store).exists()


def test_api_refuses_a_column_given_twice_instead_of_dropping_one(client, key, store):
    raw = (
        '{"Email": "identifier:email", "First Name": "Contact.firstName", "Last Name": "Contact.lastName", '
        '"Email": "Contact.address"}'
    )
    response = client.post(
        f"/api/v1/stores/{store.pk}/imports",
        {"file": SimpleUploadedFile("p.csv", CLI_CSV.encode(), content_type="text/csv"), "mapping": raw},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 422
    assert "the column “Email” is mapped twice" in response.json()["detail"][0]["msg"]
    assert not ProfileImport.objects.filter(store=store).exists()


@pytest.mark.parametrize("target", ["firstName", "", "identifier:", ".firstName"])
def test_api_and_cli_refuse_a_target_that_is_neither_an_identifier_nor_a_trait(client, key, store, tmp_path, target):
    mapping = {"Email": "identifier:email", "First Name": target, "Last Name": "Contact.lastName"}
    response = api_post(client, key, store, CLI_CSV, mapping)
    assert response.status_code == 422
    assert "First Name" in response.json()["detail"][0]["msg"]
    path = tmp_path / "people.csv"
    path.write_text(CLI_CSV)
    with pytest.raises(CommandError, match="First Name"):
        _cli(store, path, *[f"{h}={t}" for h, t in mapping.items()])


NFC, NFD = "Prénom", "Pre\u0301nom"  # one header, composed and decomposed


def test_headers_are_read_in_nfc_so_a_map_spec_typed_composed_names_a_decomposed_header(store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(f"Email,{NFD},Last Name\r\nada@example.com,Ada,Lovelace\r\n", encoding="utf-8")
    text = _cli(store, path, "Email=identifier:email", f"{NFC}=Contact.firstName", "Last Name=Contact.lastName")
    assert "Completed: 1 rows ingested" in text
    assert ProfileImport.objects.get(store=store).headers == ["Email", NFC, "Last Name"]
    assert contact(store, "ada@example.com") == {"firstName": "Ada", "lastName": "Lovelace"}


def test_api_mapping_headers_are_compared_in_nfc(client, key, store):
    text = f"Email,{NFC},Last Name\r\nada@example.com,Ada,Lovelace\r\n"
    mapping = {"Email": "identifier:email", NFD: "Contact.firstName", "Last Name": "Contact.lastName"}
    finished = api_run(client, key, store, text, mapping)
    assert finished.rows_ingested == 1, finished.failure_reason
    assert contact(store, "ada@example.com")["firstName"] == "Ada"
    twice = {"Email": "identifier:email", NFD: "Contact.firstName", NFC: "Contact.lastName"}
    response = api_post(client, key, store, text, twice)
    assert response.status_code == 422
    assert f"the column “{NFC}” is mapped twice" in response.json()["detail"][0]["msg"]


def test_two_headers_that_differ_only_in_normalisation_are_one_header_twice(store):
    assert f"Header “{NFC}” appears twice" in rejected(store, f"Email,{NFC},{NFD}\r\na@example.com,A,B\r\n")


@pytest.mark.parametrize("separator", [";", "\\t", "|", ","])
def test_a_quoted_sep_line_declares_the_separator_too(store, separator):
    char = "\t" if separator == "\\t" else separator
    text = f'"sep={separator}"\r\nemail{char}firstName{char}lastName\r\na@example.com{char}Ana{char}Lee\r\n'
    profile_import = upload(store, text)
    assert (profile_import.delimiter, profile_import.separator_declared) == (char, True)
    assert profile_import.headers == ["email", "firstName", "lastName"]
    finished = import_run(import_id=queue(profile_import, SPECS).pk, attempt=1)
    assert finished.rows_ingested == 1
    assert contact(store, "a@example.com") == {"firstName": "Ana", "lastName": "Lee"}


def test_notes_stay_marked_in_the_download_without_cells(store):
    rows = [f"e{n}@example.com,+14155552671,Ada,L" for n in range(6)]  # one person: the 6th email is over the limit
    finished = run(store, csv_text(*rows, "not-an-email,,Bo,L"), CONTACT)
    assert (finished.status, finished.rows_failed, finished.identifiers_dropped) == (ImportStatus.COMPLETED, 1, 1)
    rows = _download(finished)
    note = next(row for row in rows if row[5] == "note")
    assert note[:5] == ["", "", "", "", "7"] and note[7] == "e5@example.com"
    failed = next(row for row in rows if row[5] == "failed row")
    assert failed[:5] == ["not-an-email", "", "Bo", "L", "8"]


def test_sniffing_a_hostile_start_of_file_stays_quick(tmp_path):
    """csv.Sniffer's quote regex is quadratic: 64 KB of ';"' took 31 s. Only the first 4 KB is sniffed."""
    import time

    path = tmp_path / "hostile.csv"
    path.write_text("email;name\r\n" + ';"' * 32_000 + "\r\n")
    started = time.monotonic()
    assert detect_layout(path).delimiter == ";"
    with pytest.raises(FileRuleError, match="Line 2 has more than 1,000 cells"):  # 16,000 cells: refused as well
        csv_file_check(path)
    assert time.monotonic() - started < 10


def test_the_download_of_a_semicolon_file_is_a_semicolon_file_with_a_bom_that_uploads_again(store):
    """European Excel opens a ";" file with a BOM in columns, and reads it as UTF-8 (Seán, not SeÃ¡n)."""
    text = "Email;Phone;First;Last\r\nnot-an-email;;Seán;O'Brien, Jr\r\nok@example.com;;Bo;L\r\n"
    first = run(store, text, CONTACT)
    download = "".join(import_failed_rows_csv(profile_import=first))
    assert download.startswith("\ufeffEmail;Phone;First;Last;line;kind;column;value;reason\r\n")
    assert "not-an-email;;Seán;O'Brien, Jr;2;failed row;Email;" in download
    fixed = download.replace("not-an-email", "sean@example.com")
    again = run(store, fixed, CONTACT, name="people-failed-rows.csv")
    assert again.status == ImportStatus.COMPLETED and again.rows_failed == 0, again.failure_reason
    assert again.delimiter == ";"
