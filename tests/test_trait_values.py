"""Trait values go in exactly, or are refused clearly (issue 13, "Values people write").

One rule per kind on every path: `traits.coercion.coerce_trait_value` for CSV rows, the API's
identify and the console's inline edit and search. Text: any Unicode except control characters,
stored in NFC, at most 1 MB. Numbers: every digit kept, on PostgreSQL and SQLite, stored, shown
(console page, API) and searched. Each test runs on both databases.
"""

import html
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.services import api_key_create
from identity.models import Identifier
from identity.search import profile_search
from identity.services import profile_identify
from imports.models import ImportRowError, ImportStatus
from memory_console.jsonvalues import loads
from memory_console.text import MAX_VALUE_LENGTH, MAX_VALUE_MESSAGE
from profiles.models import Event, Profile
from profiles.stamps import trait_stamp
from tests.imports_helpers import run
from traits.coercion import TraitValueError, coerce_trait_value
from traits.services import trait_create, trait_group_create

BIG = "123456789012345678.5"  # a float rounds it to 123456789012345680
TINY = "1.0000000000000001"  # a float rounds it to 1.0


@pytest.fixture
def shop(store):
    """A Shop group with number, array and string traits besides Contact."""
    group = trait_group_create(store=store, actor=None, name="Shop")
    trait_create(group=group, actor=None, name="points", data_type="number")
    trait_create(group=group, actor=None, name="ratio", data_type="number")
    trait_create(group=group, actor=None, name="tags", data_type="array")
    trait_create(group=group, actor=None, name="note", data_type="string")
    return group


@pytest.fixture
def api(client, account):
    key = api_key_create(account=account, actor=None, name="CRM sync")[1]

    class Api:
        def post(self, path, text: str):
            """POST a JSON body given as text, so numbers are sent exactly as written."""
            return client.post(
                f"/api/v1{path}", data=text, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
            )

        def get(self, path):
            return client.get(f"/api/v1{path}", HTTP_AUTHORIZATION=f"Bearer {key}")

    return Api()


def holder(store, kind, value) -> Profile:
    return Profile.objects.get(pk=Identifier.objects.get(store=store, kind=kind, value=value).profile_id)


def failures(finished):
    rows = ImportRowError.objects.filter(profile_import=finished, row_failed=True).order_by("line", "id")
    return [(e.line, e.column, e.value, e.reason) for e in rows]


# -- text ------------------------------------------------------------------------------------------

WRITTEN = ["O'Brien", "Nuñez", "1 Main St, Apt 2", "Иван", "Seán 🎉", 'Say "hi"; ok', "two\nlines\tand tab", "日本語"]


@pytest.mark.parametrize("text", WRITTEN)
def test_any_unicode_text_is_a_string_value_as_given(text):
    assert coerce_trait_value("string", text) == text
    assert coerce_trait_value("array", [text, "x"]) == [text, "x"]


def test_text_is_stored_in_nfc_whatever_form_it_came_in():
    assert coerce_trait_value("string", "Jose\u0301") == "Jos\u00e9"
    assert coerce_trait_value("array", "Jose\u0301;Zoe\u0308") == ["Jos\u00e9", "Zo\u00eb"]


@pytest.mark.parametrize(
    "raw, named",
    [
        ("a\x00b", "U+0000 NULL"),
        ("bell\x07", "U+0007 BELL"),
        ("esc\x1b[0m", "U+001B ESCAPE"),
        ("c1\x85", "U+0085"),
        ("lone \ud800", "U+D800"),
    ],
)
def test_control_characters_and_surrogates_are_refused_by_code_point_never_printed(raw, named):
    for data_type, value in (("string", raw), ("array", [raw])):
        with pytest.raises(TraitValueError) as info:
            coerce_trait_value(data_type, value, label="Contact.firstName")
        message = str(info.value)
        assert message.startswith("Contact.firstName: ") and named in message
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", message), message


def test_a_value_of_exactly_1_mb_is_kept_and_one_character_more_is_refused_with_the_cell_limit_message():
    assert len(coerce_trait_value("string", "é" * MAX_VALUE_LENGTH)) == MAX_VALUE_LENGTH
    with pytest.raises(TraitValueError) as info:
        coerce_trait_value("string", "a" * (MAX_VALUE_LENGTH + 1), label="Shop.note")
    assert info.value.reason == MAX_VALUE_MESSAGE
    assert len(str(info.value)) < 200  # the value is shortened in the message, not printed whole


def test_the_issue_example_file_imports_every_value_as_written(store):
    text = 'email,firstName,lastName,address\r\na1@example.test,Seán,O\'Brien,"1 Main St, Apt 2"\r\n'
    specs = ["email=identifier:email", "firstName=Contact.firstName", "lastName=Contact.lastName"]
    finished = run(store, text, [*specs, "address=Contact.address"])
    assert (finished.status, finished.rows_failed, finished.rows_ingested) == (ImportStatus.COMPLETED, 0, 1)
    assert holder(store, "email", "a1@example.test").traits["Contact"] == {
        "firstName": "Seán",
        "lastName": "O'Brien",
        "address": "1 Main St, Apt 2",
    }


def test_csv_value_cells_keep_any_text_store_nfc_and_fail_only_on_control_characters(store, shop):
    text = (
        "Email,First,Last,Note\r\n"
        "b@example.test,Иван,Nuñez,🎉 party\r\n"
        'c@example.test,Jose\u0301,Zoe\u0308,"line one\r\nline two"\r\n'
        "d@example.test,Bad\x1b,D,x\r\n"
    )
    specs = ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName", "Note=Shop.note"]
    finished = run(store, text, specs)
    assert finished.status == ImportStatus.COMPLETED
    assert failures(finished) == [(5, "First", "Bad\x1b", "contains U+001B ESCAPE (string)")]
    assert holder(store, "email", "b@example.test").traits == {
        "Contact": {"firstName": "Иван", "lastName": "Nuñez"},
        "Shop": {"note": "🎉 party"},
    }
    stored = holder(store, "email", "c@example.test").traits
    assert stored["Contact"] == {"firstName": "Jos\u00e9", "lastName": "Zo\u00eb"}  # NFC
    assert stored["Shop"]["note"] == "line one\r\nline two"


def test_api_trait_values_take_any_text_in_nfc_and_refuse_control_characters_naming_the_field(store, shop, api):
    body = {
        "identifiers": {"email": "e@example.test"},
        "traits": {
            "Contact": {"firstName": "Jose\u0301", "lastName": "O'Brien"},
            "Shop": {"note": "Иван 🎉\n2nd line", "tags": ["Nuñez", "x, y"]},
        },
    }
    answer = api.post(f"/stores/{store.pk}/profiles/identify", json.dumps(body))
    assert answer.status_code == 200, answer.content
    profile = Profile.objects.get(pk=answer.json()["profile_id"])
    assert profile.traits == {
        "Contact": {"firstName": "José", "lastName": "O'Brien"},
        "Shop": {"note": "Иван 🎉\n2nd line", "tags": ["Nuñez", "x, y"]},
    }
    bad = {"identifiers": {"email": "f@example.test"}, "traits": {"Shop": {"note": "beep\u0007"}}}
    answer = api.post(f"/stores/{store.pk}/profiles/identify", json.dumps(bad))
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "traits", "Shop", "note"] and "U+0007 BELL" in error["msg"]
    assert not Identifier.objects.filter(store=store, value="f@example.test").exists()


@pytest.mark.parametrize(
    "escaped, named", [("a\\u0000b", "U+0000 NULL"), ("\\ud800", "U+D800"), ("x\\udc00y", "U+DC00")]
)
def test_api_trait_values_with_nul_or_a_lone_surrogate_answer_422_naming_the_field(store, shop, api, escaped, named):
    for trait, value in (("note", f'"{escaped}"'), ("tags", f'["ok", "{escaped}"]')):
        body = f'{{"identifiers": {{"email": "h@example.test"}}, "traits": {{"Shop": {{"{trait}": {value}}}}}}}'
        answer = api.post(f"/stores/{store.pk}/profiles/identify", body)
        assert answer.status_code == 422, answer.content
        (error,) = answer.json()["detail"]
        assert error["loc"][-2:] == ["Shop", trait] or error["loc"][-3:-1] == ["Shop", trait], error
        assert named in error["msg"]
    assert not Identifier.objects.filter(store=store, value="h@example.test").exists()
    assert not Profile.objects.filter(store=store).exists()


def test_api_trait_values_over_1_mb_are_refused_with_the_csv_cell_message(store, shop, api):
    body = {"identifiers": {"email": "g@example.test"}, "traits": {"Shop": {"note": "a" * (MAX_VALUE_LENGTH + 1)}}}
    answer = api.post(f"/stores/{store.pk}/profiles/identify", json.dumps(body))
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "traits", "Shop", "note"] and MAX_VALUE_MESSAGE in error["msg"]
    body["traits"]["Shop"]["note"] = "a" * MAX_VALUE_LENGTH
    assert api.post(f"/stores/{store.pk}/profiles/identify", json.dumps(body)).status_code == 200
    assert len(holder(store, "email", "g@example.test").traits["Shop"]["note"]) == MAX_VALUE_LENGTH


NFD_CSV = "Email,First,Last\r\nnfd@example.test,Jose\u0301,Nun\u0303ez\r\n"
NFD_SPECS = ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"]


def test_search_normalises_the_query_so_a_keyboard_jose_finds_an_imported_nfd_name(store):
    run(store, NFD_CSV, NFD_SPECS)
    profile_identify(
        store=store,
        identifiers=[("email", "other@example.test")],
        traits={"Contact": {"firstName": "Jose"}},
        source="t",
    )
    page = profile_search(store=store, q="Contact.firstName = Jos\u00e9")
    assert page.search.mode == "trait"
    assert [p.pk for p in page.profiles] == [holder(store, "email", "nfd@example.test").pk]
    page = profile_search(store=store, q="Contact.firstName = Jose\u0301")  # typed decomposed: the same
    assert [p.pk for p in page.profiles] == [holder(store, "email", "nfd@example.test").pk]


def test_the_console_search_box_finds_the_nfd_name_too(admin_client, store):
    run(store, NFD_CSV, NFD_SPECS)
    page = admin_client.get(reverse("profiles:list", args=[store.pk]), {"q": "Contact.firstName = José"})
    assert page.status_code == 200
    assert "nfd@example.test" in page.content.decode()


# -- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (BIG, Decimal(BIG)),
        (TINY, Decimal(TINY)),
        (Decimal(BIG), Decimal(BIG)),
        (Decimal(TINY), Decimal(TINY)),
        ("0.1", 0.1),
        ("123456789012345678.0", 123456789012345678),  # an integer value is an int, every digit kept
        ("9" * 64, 10**64 - 1),
        ("-" + "9" * 63, -(10**63 - 1)),
        ("0." + "1" * 62, Decimal("0." + "1" * 62)),  # 64 characters
        ("1e-64", 1e-64),  # the smallest magnitude kept, like 10^64 - 1 the largest
        (Decimal("1E-64"), 1e-64),
        ("0.0", 0),
        (Decimal("1e63"), 10**63),
        ("1e23", 10**23),  # the float 1e23 is 99999999999999991611392: not used for an integer
        (1e23, 10**23),  # a JSON 1e23 (a float, whose shortest text is the number written)
        ("2.50", 2.5),
        ("+3.25", 3.25),
        ("36", 36),
    ],
)
def test_numbers_are_kept_exactly(raw, expected):
    value = coerce_trait_value("number", raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("1" + "0" * 64, "is too long for a number (over 64 characters)"),  # 10^64: 65 characters
        ("0." + "1" * 63, "is too long for a number (over 64 characters)"),  # 65 characters
        (10**64, "is too large"),
        (-(10**64), "is too large"),
        ("1e64", "is too large"),
        ("1e400", "is too large"),
        (Decimal("1e64"), "is too large"),
        (Decimal("1E+400"), "is too large"),
        (1e64, "is too large"),
        ("1e-65", "is too small (more than 64 digits after the decimal point)"),
        (1e-65, "is too small"),
        (Decimal("1E-20000"), "is too small"),
        ("[1e-20000]", "out of range"),
        ([10**64], "out of range"),
    ],
)
def test_numbers_at_or_above_ten_to_the_64_or_over_64_characters_are_refused(raw, reason):
    data_type = "array" if isinstance(raw, list) or str(raw).startswith("[") else "number"
    with pytest.raises(TraitValueError) as info:
        coerce_trait_value(data_type, raw, label="Shop.points")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "raw, used",
    [
        ("1,234.5", "“,”"),
        ("1.234,5", "“,”"),
        ("1,5", "“,”"),
        ("1.234.567", "“.”"),
        ("1 234", "a space"),
        ("1'234", "“'”"),
    ],
)
def test_numbers_with_group_separators_fail_saying_why(raw, used):
    with pytest.raises(TraitValueError) as info:
        coerce_trait_value("number", raw, label="Shop.points")
    message = str(info.value)
    assert f"uses {used}" in message
    assert "without thousands separators and with “.” for decimals, e.g. 1234.5" in message


def _digits(text: str) -> list[str]:
    return re.findall(r"[0-9][0-9.eE+-]*", text)


def test_csv_numbers_are_stored_and_shown_with_every_digit(store, shop, admin_client, client):
    text = f'Email,Points,Ratio,Tags\r\nn@example.test,{BIG},{TINY},{TINY}|x\r\nm@example.test,"1,234.5",1,a\r\n'
    specs = ["Email=identifier:email", "Points=Shop.points", "Ratio=Shop.ratio", "Tags=Shop.tags"]
    finished = run(store, text, specs)
    assert finished.status == ImportStatus.COMPLETED
    ((line, column, value, reason),) = failures(finished)
    assert (line, column, value) == (3, "Points", "1,234.5")
    assert "uses “,”" in reason and "e.g. 1234.5" in reason
    profile = holder(store, "email", "n@example.test")
    assert profile.traits["Shop"] == {"points": Decimal(BIG), "ratio": Decimal(TINY), "tags": [TINY, "x"]}
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, profile.pk])).content.decode()
    assert BIG in page and TINY in page


@pytest.mark.parametrize("forked", [False, True], ids=["rows checked in-process", "rows checked in a child"])
def test_a_later_import_that_loads_a_profile_keeps_its_exact_numbers(store, shop, monkeypatch, forked):
    """The engine reads matched profiles back (orjson on PostgreSQL) and writes them again."""
    from imports import pipeline

    if forked:
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    specs = ["Email=identifier:email", "Points=Shop.points", "Ratio=Shop.ratio"]
    big_int = "-" + "9" * 63
    run(store, f"Email,Points,Ratio\r\nn@example.test,{BIG},{TINY}\r\no@example.test,{big_int},0.1\r\n", specs)
    names = ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"]
    run(store, "Email,First,Last\r\nn@example.test,Ann,N\r\no@example.test,Olga,O\r\n", names)
    ratio = ["Email=identifier:email", "Ratio=Shop.ratio", "Last=Contact.lastName"]
    run(store, "Email,Ratio,Last\r\nn@example.test,2.5,N\r\n", ratio)
    assert holder(store, "email", "n@example.test").traits == {
        "Shop": {"points": Decimal(BIG), "ratio": 2.5},
        "Contact": {"firstName": "Ann", "lastName": "N"},
    }
    assert holder(store, "email", "o@example.test").traits == {
        "Shop": {"points": int(big_int), "ratio": 0.1},
        "Contact": {"firstName": "Olga", "lastName": "O"},
    }


def test_api_numbers_are_stored_and_answered_with_every_digit(store, shop, api, admin_client):
    client = admin_client
    body = (
        '{"identifiers": {"email": "p@example.test"}, '
        f'"traits": {{"Shop": {{"points": {BIG}, "ratio": "{TINY}", "tags": [{TINY}, 1e2, "a"]}}}}, '
        f'"events": [{{"name": "paid", "timestamp": "2026-11-24T10:00:00Z", "properties": {{"total": {BIG}}}}}]}}'
    )
    answer = api.post(f"/stores/{store.pk}/profiles/identify", body)
    assert answer.status_code == 200, answer.content
    profile_id = answer.json()["profile_id"]
    profile = Profile.objects.get(pk=profile_id)
    assert profile.traits["Shop"] == {
        "points": Decimal(BIG),
        "ratio": Decimal(TINY),
        "tags": [Decimal(TINY), 100.0, "a"],
    }
    assert Event.objects.get(profile=profile).properties == {"total": Decimal(BIG)}
    for path in (
        f"/stores/{store.pk}/profiles/{profile_id}",
        f"/stores/{store.pk}/profiles?identifier=email:p@example.test",
    ):
        got = api.get(path)
        assert got.status_code == 200
        text = got.content.decode()
        assert f'"points":{BIG}' in text and f'"ratio":{TINY}' in text and f'"total":{BIG}' in text
        data = got.json()  # still JSON every client reads; datetimes as before (ISO 8601, Z)
        assert data["events"][0]["timestamp"] == "2026-11-24T10:00:00Z"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", data["created_at"])
    page = client.get(reverse("profiles:detail", args=[store.pk, profile_id])).content.decode()
    assert BIG in page and TINY in page and f"&quot;total&quot;:{BIG}" in page and "Decimal" not in page


def test_identify_batch_keeps_every_digit_and_names_a_bad_item(store, shop, api):
    items = (
        f'{{"identifiers": {{"email": "b1@example.test"}}, "traits": {{"Shop": {{"points": {BIG}}}}}}}, '
        '{"identifiers": {"email": "b2@example.test"}, "traits": {"Shop": {"points": "1,234.5"}}}'
    )
    answer = api.post(f"/stores/{store.pk}/profiles/identify-batch", f'{{"items": [{items}]}}')
    assert answer.status_code == 200, answer.content
    first, second = answer.json()["results"]
    assert first["ok"] and Profile.objects.get(pk=first["result"]["profile_id"]).traits["Shop"]["points"] == Decimal(
        BIG
    )
    assert not second["ok"] and second["errors"][0]["loc"] == ["body", "items", 1, "traits", "Shop", "points"]
    assert "e.g. 1234.5" in second["errors"][0]["msg"]


@pytest.mark.parametrize("number", ["1e64", "1e400", "-1" + "0" * 64])
def test_api_numbers_too_large_are_refused_naming_the_field(store, shop, api, number):
    body = f'{{"identifiers": {{"email": "q@example.test"}}, "traits": {{"Shop": {{"points": {number}}}}}}}'
    answer = api.post(f"/stores/{store.pk}/profiles/identify", body)
    assert answer.status_code == 422, answer.content
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "traits", "Shop", "points"]
    assert not Identifier.objects.filter(store=store, value="q@example.test").exists()


@pytest.mark.parametrize("written", ["1e-64", "1.0e-64", "10e-65", "-1e-64", "9.99e63"])
def test_a_number_at_the_limits_gets_the_same_answer_as_a_json_number_and_as_text(store, shop, api, written):
    """The float JSON reads 1e-64 as is slightly below 10^-64: judged by the number it stands for."""
    answers = []
    for email, value in (("n@example.test", written), ("t@example.test", f'"{written}"')):
        body = f'{{"identifiers": {{"email": "{email}"}}, "traits": {{"Shop": {{"points": {value}}}}}}}'
        answer = api.post(f"/stores/{store.pk}/profiles/identify", body)
        assert answer.status_code == 200, answer.content
        answers.append(holder(store, "email", email).traits["Shop"]["points"])
    exact = [Decimal(repr(a)) if isinstance(a, float) else Decimal(a) for a in answers]  # the number stored
    assert exact[0] == exact[1] == Decimal(written)


def test_console_inline_edit_keeps_every_digit(store, shop, admin_client):
    profile = profile_identify(
        store=store, identifiers=[("email", "r@example.test")], traits={"Shop": {"points": 1}}, source="t"
    ).profile
    trait = shop.traits.get(name="points")
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, trait.pk])
    assert admin_client.post(url, {"value": BIG}).status_code == 302
    profile.refresh_from_db()
    assert profile.traits["Shop"]["points"] == Decimal(BIG)
    assert f'value="{BIG}"' in admin_client.get(url).content.decode()  # the edit box shows it whole


def test_console_inline_edit_keeps_line_breaks_and_saving_unchanged_text_changes_nothing(store, shop, admin_client):
    note = "\nfirst line\nsecond line"  # a leading line break too
    traits = {"Shop": {"note": note}}
    pairs = [("email", "w@example.test")]
    profile = profile_identify(store=store, identifiers=pairs, traits=traits, source="api:crm").profile
    trait = shop.traits.get(name="note")
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, trait.pk])
    page = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<textarea" in page and ">\n" + note + "</textarea>" in page  # one-line boxes drop line breaks
    assert "<textarea" in admin_client.get(url).content.decode()  # the page without JavaScript too
    # A browser sends a text area's line breaks as CR LF: saving it untouched is no change.
    assert admin_client.post(url, {"value": note.replace("\n", "\r\n")}).status_code == 302
    profile.refresh_from_db()
    assert profile.traits["Shop"]["note"] == note
    assert trait_stamp(profile.trait_sources, "Shop", "note")[1] == "api:crm"
    assert admin_client.post(url, {"value": "new\r\ntext"}).status_code == 302
    profile.refresh_from_db()
    assert profile.traits["Shop"]["note"] == "new\r\ntext"


def test_search_by_number_matches_the_exact_number(store, shop):
    ids = {}
    for n, points in enumerate([BIG, "123456789012345678.6", "123456789012345678", "123456789012345678.50", TINY, "1"]):
        email = f"s{n}@example.test"
        traits = {"Shop": {"points": points, "tags": f"[{points}, 7]"}}
        ids[points] = profile_identify(
            store=store, identifiers=[("email", email)], traits=traits, source="t"
        ).profile.pk

    def found(query):
        return sorted(p.pk for p in profile_search(store=store, q=query).profiles)

    # 123456789012345678.50 is the same number as .5: both match, .6 does not.
    same = sorted([ids[BIG], ids["123456789012345678.50"]])
    assert found(f"Shop.points = {BIG}") == same
    assert found(f"Shop.tags = [{BIG}]") == same  # an array holding it
    assert found(f"Shop.points = {TINY}") == [ids[TINY]]
    assert found("Shop.points = 123456789012345678") == [ids["123456789012345678"]]
    # One search, one result on both databases: a float rounds 1.0000000000000001 to 1, but SQLite
    # compares the stored number's text too (PostgreSQL's JSONB compares numbers exactly).
    assert found("Shop.points = 1") == found("Shop.points = 1.0") == found("Shop.points = 1e0") == [ids["1"]]
    assert found(f"Shop.points = {TINY}") == [ids[TINY]]
    assert found("Shop.tags = [1]") == found("Shop.tags = [1.0]") == [ids["1"]]
    assert found(f"Shop.tags = [{TINY}]") == [ids[TINY]]
    assert found("Shop.tags = [7]") == sorted(ids.values())


def test_a_number_in_an_array_has_the_type_and_text_a_number_trait_gives_it():
    """So that one number is one stored text, which SQLite's search compares."""
    items = coerce_trait_value("array", "[1.0, 1e20, 123456789012345678901234.0, 2.50, 1.0E-7, " + TINY + "0]")
    assert items == [1, 10**20, 123456789012345678901234, 2.5, 1e-7, Decimal(TINY)]
    assert [type(item) for item in items] == [int, int, int, float, float, Decimal]
    assert str(items[-1]) == TINY  # trailing zero dropped: one text per number
    with pytest.raises(TraitValueError, match="holds a number over 64 characters"):
        coerce_trait_value("array", "[0." + "1" * 70 + "]")  # a Decimal of 70 digits is not rounded silently


@pytest.mark.parametrize(
    "stored, same, other",
    [
        ("0.1", ["0.10", "1e-1", "1.0E-1"], "0.1000000000000000001"),  # a float rounds the other to 0.1
        ("100000000000000000000", ["1e20", "100000000000000000000.0", "1E+20"], "100000000000000000001"),
        ("0.0000001", ["1e-7", "1.0E-7", "0.00000010"], "0.00000010000000000000001"),
        ("-2.5", ["-2.50", "-25e-1"], "-2.5000000000000000001"),
        ("9007199254740993", ["9007199254740993.0", "9.007199254740993e15"], "9007199254740992"),  # 2^53 + 1, 2^53
    ],
)
def test_a_number_search_finds_the_number_however_written_and_nothing_else(
    store, shop, api, admin_client, stored, same, other
):
    """Numbers stored by the CSV import, the API (as a JSON number and as text) and the console's
    inline edit match a search for the same number however it is written, on both databases, and
    never a number that rounds to the same float."""
    specs = ["email=identifier:email", "points=Shop.points", "note=Shop.note"]
    text = f"email,points,note\r\nn1@example.test,{stored},x\r\nn2@example.test,{other},x\r\n"
    assert run(store, text, specs).rows_ingested == 2
    for n, value in enumerate(same):
        traits = f'{{"Shop": {{"points": {value}, "tags": ["x", {value}]}}}}'  # JSON numbers
        body = f'{{"identifiers": {{"email": "j{n}@example.test"}}, "traits": {traits}}}'
        assert api.post(f"/stores/{store.pk}/profiles/identify", body).status_code == 200
        traits = {"Shop": {"points": value, "tags": f'["x", {value}]'}}  # text
        body = json.dumps({"identifiers": {"email": f"t{n}@example.test"}, "traits": traits})
        assert api.post(f"/stores/{store.pk}/profiles/identify", body).status_code == 200
        edited = profile_identify(store=store, identifiers=[("email", f"e{n}@example.test")], traits={}, source="t")
        for trait, typed in (("points", value), ("tags", f'["x", {value}]')):
            url = reverse("profiles:trait_edit", args=[store.pk, edited.profile.pk, shop.traits.get(name=trait).pk])
            assert admin_client.post(url, {"value": typed}).status_code == 302
    wanted = sorted(
        holder(store, "email", f"{prefix}{n}@example.test").pk for prefix in "jte" for n in range(len(same))
    )

    def found(query):
        return sorted(p.pk for p in profile_search(store=store, q=query).profiles)

    for value in [stored, *same]:
        assert found(f"Shop.points = {value}") == sorted([holder(store, "email", "n1@example.test").pk, *wanted])
        assert found(f"Shop.tags = [{value}]") == wanted
    assert found(f"Shop.points = {other}") == [holder(store, "email", "n2@example.test").pk]
    assert found(f"Shop.tags = [{other}]") == []


# -- stamps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("forked", [False, True], ids=["rows checked in-process", "rows checked in a child"])
@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_a_value_changed_by_a_later_row_of_an_import_carries_that_imports_stamp(
    store, shop, monkeypatch, chunk_rows, forked
):
    """The profile existed before with an older stamp: row 1 changes most values (the import's stamp
    becomes the shared one), row 2 changes the value row 1 left with its older stamp, and another
    that row 1 set. In one chunk or in two (the second reads what the first carried over)."""
    from imports import pipeline

    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", chunk_rows)
    if forked:
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    older = profile_identify(
        store=store,
        identifiers=[("email", "t@example.test")],
        traits={"Contact": {"firstName": "A", "lastName": "B", "address": "C"}, "Shop": {"note": "D"}},
        source="api:old",
    ).profile
    older_stamp = trait_stamp(older.trait_sources, "Contact", "firstName")
    specs = [
        "Email=identifier:email",
        "First=Contact.firstName",
        "Last=Contact.lastName",
        "Address=Contact.address",
        "Note=Shop.note",
    ]
    finished = run(
        store, "Email,First,Last,Address,Note\r\nt@example.test,A2,B2,C2,D\r\nt@example.test,A2,B3,C2,D2\r\n", specs
    )
    profile = Profile.objects.get(pk=older.pk)
    assert profile.traits == {"Contact": {"firstName": "A2", "lastName": "B3", "address": "C2"}, "Shop": {"note": "D2"}}
    stamps = {
        name: trait_stamp(profile.trait_sources, group, name)
        for group, values in profile.traits.items()
        for name in values
    }
    assert {name: stamp[1] for name, stamp in stamps.items()} == {name: f"import:{finished.pk}" for name in stamps}
    assert stamps["note"] != older_stamp

    # Unchanged by the next import: every value keeps this import's stamp, also the one a row sets to itself.
    again = run(
        store,
        "Email,First,Note\r\nt@example.test,A2,D2\r\nt@example.test,A3,D2\r\n",
        ["Email=identifier:email", "First=Contact.firstName", "Note=Shop.note"],
    )
    profile.refresh_from_db()
    sources = {
        name: trait_stamp(profile.trait_sources, group, name)[1]
        for group, values in profile.traits.items()
        for name in values
    }
    assert sources == {
        "firstName": f"import:{again.pk}",
        "lastName": f"import:{finished.pk}",
        "address": f"import:{finished.pk}",
        "note": f"import:{finished.pk}",
    }


# -- readable afterwards ---------------------------------------------------------------------------


def test_every_stored_profile_stays_readable_after_these_values(store, shop, api, admin_client):
    text = (
        "Email,First,Last,Note,Points,Ratio,Tags\r\n"
        f'u1@example.test,Jose\u0301,O\'Brien,"a\r\nb",{BIG},{TINY},{TINY}|Иван\r\n'
        f'u2@example.test,Иван,🎉,"1 Main St, Apt 2",{"9" * 64},0.1,x\r\n'
        f"u3@example.test,{'é' * 1000},x,y,-{'9' * 63},{'0.' + '1' * 62},\\N\r\n"
    )
    specs = [
        "Email=identifier:email",
        "First=Contact.firstName",
        "Last=Contact.lastName",
        "Note=Shop.note",
        "Points=Shop.points",
        "Ratio=Shop.ratio",
        "Tags=Shop.tags",
    ]
    assert run(store, text, specs).rows_ingested == 3
    traits = f'{{"Shop": {{"points": {BIG}, "note": "\\u00e9\\t"}}}}'
    body = f'{{"identifiers": {{"email": "u4@example.test"}}, "traits": {traits}}}'
    assert api.post(f"/stores/{store.pk}/profiles/identify", body).status_code == 200
    profiles = list(Profile.objects.filter(store=store))
    assert len(profiles) == 4
    for profile in profiles:
        got = api.get(f"/stores/{store.pk}/profiles/{profile.pk}")
        assert got.status_code == 200, got.content
        assert loads(got.content)["traits"] == profile.traits  # every value, every digit
        page = admin_client.get(reverse("profiles:detail", args=[store.pk, profile.pk]))
        assert page.status_code == 200
    listing = admin_client.get(reverse("profiles:list", args=[store.pk]))
    assert listing.status_code == 200


# -- hostile nesting (review of issue 13) ----------------------------------------------------------

# A 100 KB array string nested 50,000 levels deep: Python's JSON decoder recurses once per level.
DEEP = "[" * 50_000 + "]" * 50_000


def _identify_body(email: str, tags: str) -> str:
    return json.dumps({"identifiers": {"email": email}, "traits": {"Shop": {"tags": tags}}})


@pytest.mark.parametrize("tags", [DEEP, "[" * 65 + "]" * 65], ids=["50000 levels", "65 levels"])
def test_a_deeply_nested_array_string_is_refused_naming_the_field_through_the_api(store, shop, api, tags):
    answer = api.post(f"/stores/{store.pk}/profiles/identify", _identify_body("d1@example.test", tags))
    assert answer.status_code == 422, answer.content[:300]
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "traits", "Shop", "tags"]
    assert "more than 64 levels deep" in error["msg"]
    assert not Identifier.objects.filter(store=store, value="d1@example.test").exists()

    items = f"{_identify_body('d2@example.test', tags)}, {_identify_body('d3@example.test', '[1, 2]')}"
    answer = api.post(f"/stores/{store.pk}/profiles/identify-batch", f'{{"items": [{items}]}}')
    assert answer.status_code == 200, answer.content[:300]
    first, second = answer.json()["results"]
    assert not first["ok"] and first["errors"][0]["loc"] == ["body", "items", 0, "traits", "Shop", "tags"]
    assert "more than 64 levels deep" in first["errors"][0]["msg"]
    assert second["ok"] and holder(store, "email", "d3@example.test").traits["Shop"]["tags"] == [1, 2]
    assert not Identifier.objects.filter(store=store, value="d2@example.test").exists()


def test_an_api_body_nested_deeper_than_64_levels_is_refused_however_deep(store, api):
    for depth in (65, 50_000):
        body = '{"a": ' + "[" * depth + "]" * depth + "}"
        answer = api.post(f"/stores/{store.pk}/profiles/identify", body)
        assert answer.status_code == 422, answer.content[:300]
        assert answer.json()["detail"] == [
            {"loc": ["body"], "msg": "The request body nests objects and arrays more than 64 levels deep."}
        ]


def test_a_deeply_nested_array_is_refused_by_the_console_search_and_the_inline_edit(store, shop, admin_client):
    listing = admin_client.get(reverse("profiles:list", args=[store.pk]), {"q": f"Shop.tags = {DEEP}"})
    assert listing.status_code == 200
    assert "Shop.tags: “" in listing.content.decode() and "more than 64 levels deep" in listing.content.decode()
    page = profile_search(store=store, q="Shop.tags = " + "[" * 65 + "]" * 65)
    assert page.search.mode == "invalid" and "more than 64 levels deep" in page.search.error

    profile = profile_identify(
        store=store, identifiers=[("email", "d4@example.test")], traits={"Shop": {"tags": ["x"]}}, source="t"
    ).profile
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, shop.traits.get(name="tags").pk])
    answer = admin_client.post(url, {"value": DEEP}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert "more than 64 levels deep" in answer.content.decode()
    profile.refresh_from_db()
    assert profile.traits["Shop"]["tags"] == ["x"]


# -- inline edit of arrays (review of issue 13) ----------------------------------------------------


def test_saving_an_array_unchanged_in_the_inline_edit_changes_nothing(store, shop, api, admin_client):
    """The edit box holds the array as JSON: ``a;b`` stays one item and every number keeps its type
    and digits, so Save without a change changes neither the value nor its stamp."""
    text = "email,tags,note\r\nv1@example.test,a;b|c,x\r\n"  # a CSV array cell: items split on |
    assert run(store, text, ["email=identifier:email", "tags=Shop.tags", "note=Shop.note"]).rows_ingested == 1
    body = f'{{"identifiers": {{"email": "v2@example.test"}}, "traits": {{"Shop": {{"tags": [{TINY}, 2, "Nuñez"]}}}}}}'
    assert api.post(f"/stores/{store.pk}/profiles/identify", body).status_code == 200
    trait = shop.traits.get(name="tags")
    cases = [
        ("v1@example.test", ["a;b", "c"], '["a;b","c"]'),
        ("v2@example.test", [Decimal(TINY), 2, "Nuñez"], f'[{TINY},2,"Nuñez"]'),
    ]
    for email, expected, as_json in cases:
        profile = holder(store, "email", email)
        assert profile.traits["Shop"]["tags"] == expected
        stamp = trait_stamp(profile.trait_sources, "Shop", "tags")
        url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, trait.pk])
        for htmx in ({"HTTP_HX_REQUEST": "true"}, {}):  # the inline editor and the page without JavaScript
            form = admin_client.get(url, **htmx).content.decode()
            shown = html.unescape(re.search(r'name="value" value="([^"]*)"', form).group(1))
            assert shown == as_json
            saved = admin_client.post(url, {"value": shown}, **htmx)
            assert saved.status_code in (200, 302) and "invalid-feedback" not in saved.content.decode()
            profile.refresh_from_db()
            assert profile.traits["Shop"]["tags"] == expected
            assert [type(item) for item in profile.traits["Shop"]["tags"]] == [type(item) for item in expected]
            assert trait_stamp(profile.trait_sources, "Shop", "tags") == stamp  # no change, so no new stamp
    # The read-only row stays plain text, an item holding “;” quoted so it reads as one item.
    imported = holder(store, "email", "v1@example.test")
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, imported.pk])).content.decode()
    assert '<td data-testid="trait-value">&quot;a;b&quot;; c</td>' in page


# -- JSON numbers for string traits (review of issue 13) -------------------------------------------


@pytest.mark.parametrize("number", ["0.10", "1E5", "1e23", "2.5", "123456789012345678.5", "-0.0"])
def test_a_json_number_with_a_fraction_or_exponent_for_a_string_trait_is_refused_not_rewritten(
    store, shop, api, number
):
    """Its digits as written are gone once the JSON is read (0.10 is 0.1, 1E5 is 100000.0): refused,
    asking for text, rather than stored as other text than the client wrote."""
    body = f'{{"identifiers": {{"email": "s1@example.test"}}, "traits": {{"Shop": {{"note": {number}}}}}}}'
    answer = api.post(f"/stores/{store.pk}/profiles/identify", body)
    assert answer.status_code == 422, answer.content
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "traits", "Shop", "note"]
    assert 'send text for a string trait, e.g. "0.10"' in error["msg"]
    assert not Identifier.objects.filter(store=store, value="s1@example.test").exists()
    item = f'{{"identifiers": {{"email": "s2@example.test"}}, "traits": {{"Contact": {{"phone": {number}}}}}}}'
    answer = api.post(f"/stores/{store.pk}/profiles/identify-batch", f'{{"items": [{item}]}}')
    (result,) = answer.json()["results"]
    assert not result["ok"] and result["errors"][0]["loc"] == ["body", "items", 0, "traits", "Contact", "phone"]
    assert 'send text for a string trait, e.g. "0.10"' in result["errors"][0]["msg"]
    # As text it is kept exactly as written.
    body = json.dumps({"identifiers": {"email": "s1@example.test"}, "traits": {"Shop": {"note": number}}})
    assert api.post(f"/stores/{store.pk}/profiles/identify", body).status_code == 200
    assert holder(store, "email", "s1@example.test").traits["Shop"]["note"] == number


def test_a_json_integer_for_a_string_trait_is_its_digits(store, shop, api):
    big = "12345678901234567890123"  # beyond 64 bits: still every digit
    traits = f'{{"Shop": {{"note": {big}}}, "Contact": {{"lastName": 42}}}}'
    body = f'{{"identifiers": {{"email": "s3@example.test"}}, "traits": {traits}}}'
    assert api.post(f"/stores/{store.pk}/profiles/identify", body).status_code == 200
    traits = holder(store, "email", "s3@example.test").traits
    assert traits["Shop"]["note"] == big and traits["Contact"]["lastName"] == "42"
