"""The CSV import rules of issue 5: file rules, mapping rules, row rules and the Completed/Failed outcome.

Every file rule rejects the upload (nothing is stored, the file is deleted); every row rule fails
one row with a reason and its line; 100 failed rows, or an internal error, apply nothing at all.
"""

import codecs
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from identity.models import Identifier, MergeRecord
from identity.services import profile_identify
from imports import services as import_services
from imports.csvfile import FileRuleError, csv_file_check
from imports.engine import ChunkResolver
from imports.models import ImportRowError, ImportStatus, ProfileImport
from imports.storage import store_dir
from profiles.models import Event, Profile
from profiles.stamps import trait_stamp
from tests.imports_helpers import CONTACT, csv_text, queue, run, upload
from traits.models import Trait
from traits.services import trait_create, trait_group_create
from workspace.services import trait_delete

PREFS = ["Age=Prefs.age", "VIP=Prefs.vip", "Tags=Prefs.tags"]
WIDE = "Email,Phone,First,Last,Age,VIP,Tags"


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"


@pytest.fixture
def prefs(store):
    group = trait_group_create(store=store, actor=None, name="Prefs")
    for name, data_type in (("age", "number"), ("vip", "boolean"), ("tags", "array")):
        trait_create(group=group, actor=None, name=name, data_type=data_type)
    return group


def identify(store, *pairs, **traits):
    return profile_identify(store=store, identifiers=list(pairs), traits=traits or None, source="seed").profile


def holder(store, kind, value) -> Profile:
    return Identifier.objects.get(store=store, kind=kind, value=value).profile


def failures(profile_import):
    rows = ImportRowError.objects.filter(profile_import=profile_import, row_failed=True).order_by("line", "id")
    return [(e.line, e.column, e.value, e.reason) for e in rows]


def rejected(store, data: bytes, name="people.csv") -> str:
    """Upload `data`, expect a file-rule rejection; nothing may be left behind. The message."""
    with pytest.raises(ValidationError) as caught:
        upload(store, data, name=name)
    assert not ProfileImport.objects.filter(store=store).exists()
    directory = store_dir(store.pk)
    assert not directory.exists() or list(directory.iterdir()) == []
    (message,) = caught.value.messages
    assert message.startswith(f"{name}: ")
    return message


def snapshot(store):
    """Everything an import may write: profiles (with traits and sources), identifiers, merges, events."""
    return (
        list(
            Profile.objects.filter(store=store)
            .order_by("pk")
            .values_list("pk", "traits", "trait_sources", "merged_into_id", "updated_at")
        ),
        list(Identifier.objects.filter(store=store).order_by("pk").values_list("pk", "profile_id", "kind", "value")),
        list(
            MergeRecord.objects.filter(store=store)
            .order_by("pk")
            .values_list("pk", "from_profile_id", "into_profile_id")
        ),
        list(Event.objects.filter(store=store).order_by("pk").values_list("pk", "profile_id", "name")),
    )


# --- file rules --------------------------------------------------------------------------------


def test_an_empty_file_is_rejected(store):
    assert "The file is empty" in rejected(store, b"")


def test_a_header_row_without_data_rows_is_rejected(store):
    assert "has a header row but no data rows" in rejected(store, b"Email,First,Last\r\n")


def test_blank_lines_alone_are_not_data_rows(store):
    assert "has a header row but no data rows" in rejected(store, b"Email,First,Last\r\n\r\n\r\n")


def test_an_xlsx_workbook_is_rejected_as_not_csv(store):
    message = rejected(store, b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, name="people.xlsx")
    assert "ZIP archive" in message and "not a CSV file" in message and "CSV UTF-8" in message


def test_a_pdf_is_rejected_as_not_csv(store):
    message = rejected(store, b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", name="people.pdf")
    assert "PDF document" in message and "not a CSV file" in message


def test_utf16_text_with_a_bom_is_rejected_naming_the_encoding(store):
    data = csv_text("ada@example.com,,Ada,Lovelace").encode("utf-16")
    assert data.startswith(codecs.BOM_UTF16_LE)
    message = rejected(store, data)
    assert "UTF-16" in message and "only UTF-8" in message


def test_a_latin1_byte_is_rejected_naming_its_line(store):
    data = b"Email,Phone,First,Last\r\nada@example.com,,Ada,L\r\nrene@example.com,,Ren\xe9,D\r\n"
    message = rejected(store, data)
    assert "Line 3 is not valid UTF-8" in message and "0xe9" in message and "Latin-1" in message


def test_a_nul_byte_is_rejected_as_a_binary_file(store):
    data = b"Email,Phone,First,Last\r\nada@example.com,,A\x00da,L\r\n"
    message = rejected(store, data)
    assert "Line 2 holds a NUL byte" in message and "binary file" in message


def test_utf8_with_a_bom_is_accepted_and_the_bom_is_not_part_of_the_first_header(store):
    data = codecs.BOM_UTF8 + csv_text("ada@example.com,,Ada,Lovelace").encode("utf-8")
    profile_import = upload(store, data)
    assert profile_import.headers == ["Email", "Phone", "First", "Last"]
    queued = queue(profile_import, CONTACT)
    finished = import_services.import_run(import_id=queued.pk, attempt=queued.attempt)
    assert finished.status == ImportStatus.COMPLETED
    assert holder(store, "email", "ada@example.com").traits["Contact"] == {"firstName": "Ada", "lastName": "Lovelace"}


def test_more_than_100_columns_is_rejected_and_100_are_accepted(store):
    headers = [f"Column {n}" for n in range(1, 102)]
    message = rejected(store, (",".join(headers) + "\r\n" + ",".join("x" * 101) + "\r\n").encode())
    assert "The file has 101 columns; at most 100 are allowed." in message
    accepted = upload(store, (",".join(headers[:100]) + "\r\n" + ",".join("x" * 100) + "\r\n").encode())
    assert len(accepted.headers) == 100


def test_1000000_data_rows_are_accepted_and_1000001_rejected(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("Email,First\n" + "a@example.com,A\n" * 1_000_000)
    assert csv_file_check(path).total_rows == 1_000_000
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write("a@example.com,A\n")
    with pytest.raises(FileRuleError, match="more than 1,000,000 data rows"):
        csv_file_check(path)


def test_the_row_limit_is_enforced_by_import_upload(store, monkeypatch):
    monkeypatch.setattr("imports.csvfile.MAX_ROWS", 3)
    assert "more than 3 data rows" in rejected(store, csv_text(*["a@example.com,,A,B"] * 4).encode())
    assert upload(store, csv_text(*["a@example.com,,A,B"] * 3)).total_rows == 3


def test_duplicate_headers_are_rejected_naming_both_columns(store):
    message = rejected(store, b"Email,First,Email\r\na@example.com,A,b@example.com\r\n")
    assert "Header “Email” appears twice (columns 1 and 3)." in message


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (" First", "must not start or end with a space"),
        ("First ", "must not start or end with a space"),
        ("First  Name", "must not contain consecutive spaces"),
    ],
)
def test_headers_with_leading_trailing_or_consecutive_spaces_are_rejected(store, header, problem):
    message = rejected(store, f"Email,{header},Last\r\na@example.com,A,B\r\n".encode())
    assert f"Header “{header}” (column 2) {problem}" in message


@pytest.mark.parametrize(("header", "shown"), [("Price€", "“€”"), ("Name;Alias", "“;”"), ("Nick'name", "“'”")])
def test_a_header_with_a_disallowed_character_is_rejected(store, header, shown):
    message = rejected(store, f"Email,{header},Last\r\na@example.com,A,B\r\n".encode())
    assert f"Header “{header}” (column 2) contains characters that are not allowed: {shown}" in message


def test_headers_with_allowed_accents_and_symbols_are_accepted(store):
    assert upload(store, b"E-mail (work),Pr\xc3\xa9nom,Stra\xc3\x9fe #\r\na@example.com,A,B\r\n").headers == [
        "E-mail (work)",
        "Prénom",
        "Straße #",
    ]


def test_a_column_without_a_header_is_rejected(store):
    assert "Column 2 has no header." in rejected(store, b"Email,,Last\r\na@example.com,A,B\r\n")


def test_an_unterminated_quote_rejects_the_file_naming_the_line_where_it_opens(store):
    data = csv_text("a@example.com,,Ada,L", 'b@example.com,,"Open,L', "c@example.com,,Cy,L").encode()
    message = rejected(store, data)
    assert "Line 3: the CSV is malformed" in message and "never closed" in message


def test_text_after_a_closing_quote_rejects_the_file_naming_the_line(store):
    data = csv_text("a@example.com,,Ada,L", "", 'b@example.com,,"Bo"b,L').encode()
    assert "Line 4: the CSV is malformed" in rejected(store, data)


def test_quoted_commas_newlines_and_escaped_quotes_parse_and_line_numbers_count_quoted_newlines(store):
    text = (
        "Email,Phone,First,Last\r\n"
        'a@example.com,,"Ada",Lovelace\r\n'  # line 2: a quoted plain value reaches the trait
        'b@example.com,,"Two\r\nlines",B\r\n'  # lines 3-4: the cell holds a line break (allowed in values)
        'c@example.com,,"Say ""hi""",C\r\n'  # line 5: "" is one quote
        "\r\n"  # line 6: blank, not a row
        'd@example.com,,"Smith, Jr",D\r\n'  # line 7: the quoted comma stays in the cell
        'bad-e,,"Eve\r\n\r\nE",E\r\n'  # lines 8-10: fails (invalid email) at line 8
        'f@example.com,,Fay,""\r\n'  # line 11: after all that, still parsed right
    )
    finished = run(store, text, CONTACT)
    assert finished.status == ImportStatus.COMPLETED
    assert (finished.rows_processed, finished.rows_failed, finished.rows_ingested) == (6, 1, 5)
    assert failures(finished) == [
        (8, "Email", "bad-e", "is not a valid email address (An email address must have an @-sign.)")
    ]
    assert holder(store, "email", "a@example.com").traits["Contact"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert holder(store, "email", "b@example.com").traits["Contact"]["firstName"] == "Two\r\nlines"
    assert holder(store, "email", "c@example.com").traits["Contact"]["firstName"] == 'Say "hi"'
    assert holder(store, "email", "d@example.com").traits["Contact"]["firstName"] == "Smith, Jr"
    assert holder(store, "email", "f@example.com").traits["Contact"] == {"firstName": "Fay", "lastName": ""}


def test_a_row_with_a_different_number_of_cells_fails_with_its_line_and_the_rest_go_in(store):
    finished = run(
        store,
        csv_text("a@example.com,,Ada,L", "b@example.com,,Bo", "c@example.com,,Cy,L,extra", "d@example.com,,Di,L"),
        CONTACT,
    )
    assert finished.status == ImportStatus.COMPLETED
    assert failures(finished) == [
        (3, "", "", "the row has 3 cells but the header has 4 columns"),
        (4, "", "", "the row has 5 cells but the header has 4 columns"),
    ]
    assert finished.rows_ingested == 2
    assert sorted(Identifier.objects.filter(store=store).values_list("value", flat=True)) == [
        "a@example.com",
        "d@example.com",
    ]


# --- mapping rules -----------------------------------------------------------------------------


def queue_refused(store, text, specs) -> list[str]:
    profile_import = upload(store, text)
    with pytest.raises(ValidationError) as caught:
        queue(profile_import, specs)
    profile_import.refresh_from_db()
    assert profile_import.status == ImportStatus.MAPPING and profile_import.mapping == []
    return caught.value.messages


def test_a_mapping_without_a_default_identifier_is_refused(store):
    messages = queue_refused(
        store,
        csv_text("c-1,Ada,L", header="Chat,First,Last"),
        ["Chat=identifier:chat", "First=Contact.firstName", "Last=Contact.lastName"],
    )
    assert messages == ["Map at least one column to a default identifier: phone, email or whatsappid."]


def test_a_mapping_with_one_trait_column_is_refused(store):
    messages = queue_refused(
        store, csv_text("a@example.com,,Ada,L"), ["Email=identifier:email", "First=Contact.firstName"]
    )
    assert messages == ["Map at least 2 columns to traits (now 1)."]


def test_a_mapping_to_a_trait_the_store_does_not_have_is_refused_before_the_import_starts(store):
    messages = queue_refused(
        store,
        csv_text("a@example.com,,Ada,L"),
        ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.nickname"],
    )
    assert messages == [
        "Column “Last”: the trait “Contact.nickname” does not exist in this memory store; create it on the Traits page "
        "first.",
        "Map at least 2 columns to traits (now 1).",
    ]
    assert not Profile.objects.filter(store=store).exists()


def test_a_mapping_with_the_same_trait_twice_is_refused(store):
    messages = queue_refused(
        store,
        csv_text("a@example.com,,Ada,L"),
        ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.firstName"],
    )
    assert messages == ["Columns “First” and “Last” are both mapped to Contact.firstName."]


def test_a_mapping_to_an_identifier_kind_without_a_rule_is_refused(store):
    messages = queue_refused(
        store, csv_text("a@example.com,x,Ada,L"), [*CONTACT[:1], "Phone=identifier:fax", *CONTACT[2:]]
    )
    assert messages == ["Column “Phone”: there is no identity rule for the identifier kind “fax”."]


def test_a_trait_deleted_after_queueing_fails_the_import_with_the_mapping_problem(store, prefs):
    queued = queue(upload(store, csv_text("a@example.com,,Ada,L,7,,", header=WIDE)), CONTACT + PREFS)
    trait_delete(trait=Trait.objects.get(store=store, name="age"), actor=None)
    finished = import_services.import_run(import_id=queued.pk, attempt=queued.attempt)
    assert finished.status == ImportStatus.FAILED
    assert "the trait “Prefs.age” does not exist in this memory store" in finished.failure_reason
    assert "Internal error" not in finished.failure_reason
    assert not Profile.objects.filter(store=store).exists()


# --- one import at a time ----------------------------------------------------------------------


def test_a_second_upload_while_an_import_is_queued_is_refused_naming_it(store):
    first = queue(upload(store, csv_text("a@example.com,,Ada,L"), name="first.csv"), CONTACT)
    with pytest.raises(ValidationError) as caught:
        upload(store, csv_text("b@example.com,,Bo,L"), name="second.csv")
    assert caught.value.messages == [
        f"“first.csv” (import #{first.pk}) is queued in this memory store; wait for it to finish before importing "
        "another file."
    ]
    assert ProfileImport.objects.filter(store=store).count() == 1


def test_a_second_upload_while_an_import_is_running_is_refused_naming_it(store):
    first = queue(upload(store, csv_text("a@example.com,,Ada,L"), name="first.csv"), CONTACT)
    ProfileImport.objects.filter(pk=first.pk).update(status=ImportStatus.RUNNING)
    with pytest.raises(ValidationError, match=rf"“first.csv” \(import #{first.pk}\) is running"):
        upload(store, csv_text("b@example.com,,Bo,L"), name="second.csv")


def test_after_the_running_import_finishes_the_next_upload_is_accepted(store):
    first = queue(upload(store, csv_text("a@example.com,,Ada,L"), name="first.csv"), CONTACT)
    import_services.import_run(import_id=first.pk, attempt=first.attempt)
    assert upload(store, csv_text("b@example.com,,Bo,L"), name="second.csv").status == ImportStatus.MAPPING


def test_two_uploads_waiting_for_mapping_cannot_both_be_queued(store):
    first = upload(store, csv_text("a@example.com,,Ada,L"), name="first.csv")
    second = upload(store, csv_text("b@example.com,,Bo,L"), name="second.csv")
    queue(first, CONTACT)
    with pytest.raises(ValidationError, match=rf"“first.csv” \(import #{first.pk}\) is queued"):
        queue(second, CONTACT)
    second.refresh_from_db()
    assert second.status == ImportStatus.MAPPING


def test_an_import_in_another_store_does_not_block_this_one(store, account):
    from workspace.services import store_create

    other = store_create(account=account, actor=None, name="Other")
    queue(upload(other, csv_text("a@example.com,,Ada,L")), CONTACT)
    assert upload(store, csv_text("a@example.com,,Ada,L")).status == ImportStatus.MAPPING


# --- row rules ---------------------------------------------------------------------------------


def run_wide(store, *rows):
    return run(store, csv_text(*rows, header=WIDE), CONTACT + PREFS)


def test_a_row_without_any_identifier_value_fails(store, prefs):
    finished = run_wide(store, "a@example.com,,Ada,,,,", ",,Nobody,Known,,,", '"",\\N,Nobody,Known,,,')
    assert failures(finished) == [
        (3, "", "", "needs a value in at least one identifier column (email, phone)"),
        (4, "", "", "needs a value in at least one identifier column (email, phone)"),
    ]
    assert (finished.status, finished.rows_ingested) == (ImportStatus.COMPLETED, 1)
    assert Profile.objects.filter(store=store).count() == 1


def test_a_number_trait_takes_numbers_and_fails_the_row_on_text(store, prefs):
    finished = run_wide(store, "a@example.com,,A,,42,,", "b@example.com,,B,,-3.5,,", "c@example.com,,C,,forty,,")
    assert failures(finished) == [
        (4, "Age", "forty", "is not a number (expected e.g. 42 or 3.14) (number)"),
    ]
    assert holder(store, "email", "a@example.com").traits["Prefs"]["age"] == 42
    assert holder(store, "email", "b@example.com").traits["Prefs"]["age"] == -3.5
    assert not Identifier.objects.filter(store=store, value="c@example.com").exists()


def test_a_boolean_trait_takes_true_false_yes_no_1_0_and_fails_the_row_on_anything_else(store, prefs):
    finished = run_wide(
        store,
        "a@example.com,,A,,,YES,",
        "b@example.com,,B,,,0,",
        "c@example.com,,C,,,False,",
        "d@example.com,,D,,,maybe,",
    )
    assert failures(finished) == [
        (5, "VIP", "maybe", "is not a boolean (expected true/false, yes/no or 1/0) (boolean)"),
    ]
    assert [holder(store, "email", f"{x}@example.com").traits["Prefs"]["vip"] for x in "abc"] == [True, False, False]


def test_an_array_trait_takes_bar_separated_trimmed_items(store, prefs):
    run_wide(store, "a@example.com,,A,,,,red|green||blue", "b@example.com,,B,,,,red | dark green |")
    assert holder(store, "email", "a@example.com").traits["Prefs"]["tags"] == ["red", "green", "blue"]
    assert holder(store, "email", "b@example.com").traits["Prefs"]["tags"] == ["red", "dark green"]


def test_an_invalid_phone_fails_the_row_and_a_valid_one_is_normalised(store):
    finished = run(store, csv_text(",(415) 555-2671,A,L", ",12345,B,L", "b@example.com,+1 415 555,B,L"), CONTACT)
    assert [(line, column, value) for line, column, value, _ in failures(finished)] == [
        (3, "Phone", "12345"),
        (4, "Phone", "+1 415 555"),
    ]
    assert all("phone number" in reason for *_, reason in failures(finished))
    assert holder(store, "phone", "+14155552671").traits["Contact"]["firstName"] == "A"
    assert Profile.objects.filter(store=store).count() == 1


def test_an_invalid_email_fails_the_row_even_when_another_identifier_is_valid(store):
    finished = run(store, csv_text("not-an-email,+14155552671,A,L", "Ada@Example.COM,,B,L"), CONTACT)
    reason = "is not a valid email address (An email address must have an @-sign.)"
    assert failures(finished) == [(2, "Email", "not-an-email", reason)]
    assert not Identifier.objects.filter(store=store, kind="phone").exists()
    assert holder(store, "email", "ada@example.com").traits["Contact"]["firstName"] == "B"


def test_value_cells_take_any_text_and_only_control_characters_fail_the_row(store):
    finished = run(
        store,
        csv_text(
            "a@example.com,,Jürgen,Ørsted-Łukasz",
            "b@example.com,,Bo,5€",
            'c@example.com,,"Smith, Jr",C',
            "d@example.com,,Zoë;x,D",
            "e@example.com,,Émile,Dvořák",
            "f@example.com,,F\x07,F",
        ),
        CONTACT,
    )
    assert failures(finished) == [(7, "First", "F\x07", "contains U+0007 BELL (string)")]
    assert holder(store, "email", "a@example.com").traits["Contact"] == {
        "firstName": "Jürgen",
        "lastName": "Ørsted-Łukasz",
    }
    assert holder(store, "email", "b@example.com").traits["Contact"]["lastName"] == "5€"
    assert holder(store, "email", "c@example.com").traits["Contact"]["firstName"] == "Smith, Jr"
    assert holder(store, "email", "d@example.com").traits["Contact"]["firstName"] == "Zoë;x"
    assert holder(store, "email", "e@example.com").traits["Contact"] == {"firstName": "Émile", "lastName": "Dvořák"}


def test_characters_in_an_unmapped_column_do_not_fail_the_row(store):
    finished = run(store, csv_text('a@example.com,,Ada,L,"5€, b"', header="Email,Phone,First,Last,Notes"), CONTACT)
    assert (finished.status, finished.rows_failed, finished.rows_ingested) == (ImportStatus.COMPLETED, 0, 1)


def test_an_empty_cell_and_a_quoted_empty_cell_set_the_trait_to_the_empty_string(store, prefs):
    identify(
        store, ("email", "ada@example.com"), Contact={"firstName": "Ada", "lastName": "Lovelace"}, Prefs={"age": 36}
    )
    finished = run_wide(store, 'ada@example.com,,,"","",,')
    assert finished.status == ImportStatus.COMPLETED and finished.rows_failed == 0
    profile = holder(store, "email", "ada@example.com")
    # every mapped empty cell sets "", also for traits the profile did not have and for non-string types
    assert profile.traits == {
        "Contact": {"firstName": "", "lastName": ""},
        "Prefs": {"age": "", "vip": "", "tags": ""},
    }
    assert trait_stamp(profile.trait_sources, "Contact", "firstName")[1] == f"import:{finished.pk}"


def test_backslash_n_deletes_an_existing_trait(store, prefs):
    identify(
        store, ("email", "ada@example.com"), Contact={"firstName": "Ada", "lastName": "Lovelace"}, Prefs={"age": 36}
    )
    finished = run_wide(store, "ada@example.com,,\\N,Byron,\\N,,", "new@example.com,,\\N,New,,,")
    assert finished.rows_failed == 0
    profile = holder(store, "email", "ada@example.com")
    assert profile.traits["Contact"] == {"lastName": "Byron"}
    assert "age" not in profile.traits.get("Prefs", {})
    assert "firstName" not in profile.trait_sources.get("Contact", {}) and "age" not in profile.trait_sources.get(
        "Prefs", {}
    )
    assert holder(store, "email", "new@example.com").traits["Contact"] == {"lastName": "New"}


def test_two_rows_for_one_person_make_one_profile_and_the_later_row_wins(store):
    finished = run(
        store,
        csv_text(
            "ada@example.com,(415) 555-2671,Ada,Lovelace",
            ",+1 415 555 2671,Augusta,",
            "ADA@example.com,,,King",
        ),
        CONTACT,
    )
    assert (finished.status, finished.rows_ingested, finished.profiles_created) == (ImportStatus.COMPLETED, 3, 1)
    profile = Profile.objects.get(store=store)
    assert profile.traits["Contact"] == {"firstName": "", "lastName": "King"}
    assert sorted(profile.identifiers.values_list("kind", "value")) == [
        ("email", "ada@example.com"),
        ("phone", "+14155552671"),
    ]


def test_later_rows_win_across_chunks(store, monkeypatch):
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 1)
    run(store, csv_text("ada@example.com,,Ada,L", "ada@example.com,,Augusta,", "ada@example.com,,,King"), CONTACT)
    assert Profile.objects.get(store=store).traits["Contact"] == {"firstName": "", "lastName": "King"}


# --- Completed or Failed -----------------------------------------------------------------------


@pytest.fixture
def populated(store):
    """Profiles that exist before the import; the file's good rows update and merge them."""
    identify(store, ("email", "e1@example.com"), ("phone", "+14155550101"), Contact={"firstName": "E1"})
    identify(store, ("email", "e2@example.com"), Contact={"firstName": "E2", "lastName": "Two"})
    identify(store, ("phone", "+14155550103"), Contact={"firstName": "E3"})
    identify(store, ("chat", "c-4"), Contact={"address": "4 Road"})
    return store


GOOD_BEFORE = [
    "e1@example.com,,Renamed,One",  # updates an existing profile
    "e2@example.com,+14155550103,E3,Merged",  # merges existing E2 into E3 (phone outranks email)
    "new1@example.com,,New,One",  # a new profile
]
GOOD_AFTER = [
    "new2@example.com,+14155550101,Renamed,One",  # new email on E1
    "new1@example.com,,New,Again",  # repeat of a file profile
]


def bad_rows(n):
    return [f"bad-{i},,Bad,Row" for i in range(n)]


def test_99_failed_rows_complete_the_import_with_the_good_rows_ingested(populated, monkeypatch):
    store = populated
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 2)
    finished = run(store, csv_text(*GOOD_BEFORE, *bad_rows(99), *GOOD_AFTER), CONTACT)
    assert finished.status == ImportStatus.COMPLETED and finished.failure_reason == ""
    assert (finished.rows_processed, finished.rows_failed, finished.rows_ingested) == (104, 99, 5)
    assert len(failures(finished)) == 99 and failures(finished)[0][:3] == (5, "Email", "bad-0")
    e1 = holder(store, "email", "e1@example.com")
    assert e1.traits["Contact"] == {"firstName": "Renamed", "lastName": "One"}
    assert holder(store, "email", "new2@example.com") == e1
    e3 = holder(store, "phone", "+14155550103")
    assert holder(store, "email", "e2@example.com") == e3
    assert e3.traits["Contact"] == {"firstName": "E3", "lastName": "Merged"}
    assert holder(store, "email", "new1@example.com").traits["Contact"] == {"firstName": "New", "lastName": "Again"}
    assert (finished.profiles_created, finished.profiles_updated, finished.profiles_merged) == (1, 2, 1)


def test_100_failed_rows_fail_the_import_and_nothing_from_the_file_is_applied(populated, monkeypatch):
    store = populated
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 2)  # good rows are written in chunks before the failures
    before = snapshot(store)
    finished = run(store, csv_text(*GOOD_BEFORE, *bad_rows(100), *GOOD_AFTER), CONTACT)
    assert finished.status == ImportStatus.FAILED
    assert finished.failure_reason.startswith("100 rows failed (100 or more fail the file), so nothing from the file")
    assert (finished.rows_processed, finished.rows_failed, finished.rows_ingested) == (105, 100, 0)
    assert (finished.profiles_created, finished.profiles_updated, finished.profiles_merged) == (0, 0, 0)
    assert snapshot(store) == before
    assert len(failures(finished)) == 100
    assert not ImportRowError.objects.filter(profile_import=finished, row_failed=False).exists()


def test_failed_rows_after_the_100th_are_still_counted_and_reported(populated):
    finished = run(populated, csv_text(*bad_rows(120), *GOOD_AFTER), CONTACT)
    assert (finished.status, finished.rows_failed, len(failures(finished))) == (ImportStatus.FAILED, 120, 120)


def test_a_failed_import_keeps_no_notes_about_identifiers_it_did_not_apply(populated, monkeypatch):
    store = populated
    from identity.models import IdentityRule
    from identity.services import identity_rule_update

    rule = IdentityRule.objects.get(store=store, kind="email")
    identity_rule_update(rule=rule, actor=None, name=rule.name, limit=1)
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 1)
    completed = run(store, csv_text(",+14155550101,,", "drop@example.com,+14155550101,,"), CONTACT)
    assert ImportRowError.objects.filter(profile_import=completed, row_failed=False).count() == 1
    assert completed.identifiers_dropped == 1
    failed = run(store, csv_text("drop@example.com,+14155550101,,", *bad_rows(100)), CONTACT)
    assert failed.status == ImportStatus.FAILED and failed.identifiers_dropped == 0
    assert not ImportRowError.objects.filter(profile_import=failed, row_failed=False).exists()


def test_an_internal_error_mid_import_fails_it_and_nothing_from_the_file_is_applied(populated, monkeypatch):
    store = populated
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 2)
    real_write = ChunkResolver.write
    calls = []

    def write_then_break(self, pending):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real_write(self, pending)

    monkeypatch.setattr(ChunkResolver, "write", write_then_break)
    before = snapshot(store)
    finished = run(store, csv_text(*GOOD_BEFORE, *GOOD_AFTER), CONTACT)
    assert len(calls) == 2  # the first chunk was written, the second broke
    assert finished.status == ImportStatus.FAILED
    assert finished.failure_reason == (
        "Internal error (RuntimeError: disk on fire); nothing from the file was applied."
    )
    assert (finished.rows_ingested, finished.profiles_created, finished.profiles_merged) == (0, 0, 0)
    assert snapshot(store) == before
    assert not Path(finished.file_path).exists()


def test_every_row_error_line_is_the_file_line_where_the_row_starts(store):
    text = (
        "Email,Phone,First,Last\r\n"  # 1
        "\r\n"  # 2 blank
        "bad-a,,A,L\r\n"  # 3
        'bad-x,,"x\r\ny",L\r\n'  # 4-5
        "\n"  # 6 blank, bare LF
        'bad-y,,"Multi\nline\nname",L\r\n'  # 7-9
        "bad-b,,B,L\n"  # 10
        "bad-c,,C,L"  # 11, no final newline
    )
    finished = run(store, text, CONTACT)
    assert [line for line, *_ in failures(finished)] == [3, 4, 7, 10, 11]


def test_an_identifier_longer_than_255_characters_fails_its_row(store):
    long_email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"  # 308 characters, valid syntax
    finished = run(store, csv_text(f"{long_email},+14155552671,Long,L", "ok@example.com,,Ok,L"), CONTACT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert failures(finished) == [(2, "Email", long_email, "is longer than 255 characters")]
    assert list(Identifier.objects.filter(store=store).values_list("value", flat=True)) == ["ok@example.com"]


def test_utf16_text_without_a_bom_is_rejected_naming_the_encoding(store):
    message = rejected(store, csv_text("ada@example.com,,Ada,Lovelace").encode("utf-16-le"))
    assert "UTF-16" in message and "only UTF-8" in message


def test_values_of_mapped_traits_are_identifiers_as_in_profile_identify(store, prefs):
    from identity.models import RuleSource
    from identity.services import identity_rule_create

    card = trait_create(group=prefs, actor=None, name="card", data_type="string")
    mapped = [card, *Trait.objects.filter(store=store, name__in=["age", "vip"])]
    identity_rule_create(
        store=store, actor=None, name="loyalty", kind="loyalty", limit=5, source=RuleSource.TRAITS, mapped_traits=mapped
    )
    header = "Email,Phone,First,Last,Age,VIP,Tags,Card"
    specs = CONTACT + PREFS + ["Card=Prefs.card"]
    finished = run(store, csv_text("a@example.com,,A,,42,yes,,L-1", "b@example.com,,B,,,,,L-1", header=header), specs)
    assert finished.rows_failed == 0
    expected = profile_identify(
        store=store,
        identifiers=[("email", "twin@example.com")],
        traits={"Prefs": {"age": "43", "vip": "yes", "card": "L-2"}},
        source="twin",
    ).profile
    # a number is an identifier, a boolean is not (profile_identify's rule)
    assert sorted(expected.identifiers.values_list("kind", "value")) == [
        ("email", "twin@example.com"),
        ("loyalty", "43"),
        ("loyalty", "L-2"),
    ]
    profile = holder(store, "loyalty", "L-1")
    assert sorted(profile.identifiers.values_list("kind", "value")) == [
        ("email", "a@example.com"),
        ("email", "b@example.com"),
        ("loyalty", "42"),
        ("loyalty", "L-1"),
    ]


def test_a_latin1_byte_after_a_character_cut_by_a_1mb_read_block_is_named_with_its_line(tmp_path):
    # The encoding check reads 1 MB blocks; here "é" straddles the first boundary and the bad byte
    # ends the file, where an offset counted from the block alone would point past its end.
    first = b"Email\n" + b"a" * ((1 << 20) - 7) + b"\xc3"
    assert len(first) == 1 << 20
    path = tmp_path / "cut.csv"
    path.write_bytes(first + b"\xa9\nx\n\xff")
    with pytest.raises(FileRuleError, match=r"^Line 4 is not valid UTF-8 text \(byte 0xff\)"):
        csv_file_check(path)


def test_backslashes_and_json_like_text_reach_the_store_unchanged(store):
    # COPY's text format and JSON both escape backslashes: nothing may be lost or doubled on the way
    values = ["C:\\new\\Name", "\\\\N", "end\\", "{a}[b]"]
    rows = [f"p{i}@example.com,c\\{i},{value},L" for i, value in enumerate(values)]
    specs = ["Email=identifier:email", "Chat=identifier:chat", *CONTACT[2:]]
    finished = run(store, csv_text(*rows, header="Email,Chat,First,Last"), specs)
    assert finished.rows_failed == 0
    for i, value in enumerate(values):
        assert holder(store, "chat", f"c\\{i}").traits["Contact"]["firstName"] == value
    # the same people again with new values: the update path writes them unchanged too
    rows = [f"p{i}@example.com,c\\{i},{value}\\2,L" for i, value in enumerate(values)]
    again = run(store, csv_text(*rows, header="Email,Chat,First,Last"), specs)
    assert again.rows_failed == 0 and again.profiles_updated == len(values)
    for i, value in enumerate(values):
        assert holder(store, "chat", f"c\\{i}").traits["Contact"]["firstName"] == value + "\\2"


def test_a_whole_number_beyond_64_bits_is_stored_exactly_when_created_and_when_updated(store, prefs):
    big = 123456789012345678901234567890
    finished = run_wide(store, f"big@example.com,,Big,Number,{big},true,a|b")
    assert finished.rows_failed == 0
    assert holder(store, "email", "big@example.com").traits["Prefs"] == {"age": big, "vip": True, "tags": ["a", "b"]}
    again = run_wide(store, f"big@example.com,,Bigger,Number,{big + 1},true,a|b")
    assert again.profiles_updated == 1
    assert holder(store, "email", "big@example.com").traits["Prefs"]["age"] == big + 1


@pytest.mark.parametrize("forked", [False, True], ids=["rows checked in-process", "rows checked in a child"])
def test_a_whole_number_beyond_64_bits_survives_an_update_of_other_traits(store, prefs, monkeypatch, forked):
    """The worker decodes an updated profile's stored traits (orjson, falling back to json for long
    numbers) and writes them all back: a value the file does not map must come back exactly."""
    from imports import pipeline

    if forked:
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    big, negative = 2**64 + 1, -(2**63) - 1
    run_wide(store, f"big@example.com,,Big,Number,{big},true,a|b", f"neg@example.com,,Neg,Number,{negative},,")
    again = run(store, csv_text("big@example.com,,Bigger,Number", "neg@example.com,,Negative,Number"), CONTACT)
    assert again.profiles_updated == 2
    assert holder(store, "email", "big@example.com").traits["Prefs"] == {"age": big, "vip": True, "tags": ["a", "b"]}
    assert holder(store, "email", "neg@example.com").traits["Prefs"]["age"] == negative
    assert holder(store, "email", "neg@example.com").traits["Contact"]["firstName"] == "Negative"
