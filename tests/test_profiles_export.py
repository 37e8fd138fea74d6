"""Profiles export as CSV (issue 19): the columns the import takes, so an export imports back to the
same profiles; formula cells escaped and read back unchanged; streamed; tenant walls; searches."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse

from identity.models import Identifier
from identity.services.rules import identity_rule_create
from imports.csvfile import csv_file_check
from imports.mapping import export_mapping, suggest_targets
from imports.models import ImportStatus, ProfileImport
from imports.services import import_run
from profiles.models import Profile
from tests.factories import StoreFactory
from traits.services import trait_create, trait_group_create

HOSTILE = ["=SUM(A1:A9)", "+1+1", "-2+3", "@cmd", "\tTab", "\rCR", "'=quoted", "''+twice", "'plain"]


def _schema(store):
    """The test schema: Shop.points (number), Shop.vip (boolean), Shop.tags (array), Shop.since (a date,
    as a string) and a custom identity rule user_id."""
    shop = trait_group_create(store=store, actor=None, name="Shop")
    for name, data_type in (("points", "number"), ("vip", "boolean"), ("tags", "array"), ("since", "string")):
        trait_create(group=shop, actor=None, name=name, data_type=data_type)
    identity_rule_create(store=store, actor=None, name="User id", kind="user_id", limit=3)


def _identify(api, store, identifiers, traits):
    response = api.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": identifiers, "traits": traits})
    assert response.status_code in (200, 201), response.content


PEOPLE = [
    (
        {"phone": ["+14155550100", "+14155550101"], "email": "ada@example.com", "user_id": ["u-1", "=u2"]},
        {
            "Contact": {"firstName": "Ada", "lastName": "Lovelace", "address": "1 Main St, Apt 2\nLondon"},
            "Shop": {"points": "123456789012345678.5", "vip": True, "tags": ["gold", "early"], "since": "2024-05-01"},
        },
    ),
    (
        {"email": "grace@example.com", "chat": '=HYPERLINK("http://x")'},
        {
            "Contact": {"firstName": "=cmd|' /C calc'!A0", "lastName": ""},
            "Shop": {"points": -5, "vip": False, "tags": [1, "a|b", " pad", True], "since": "-"},
        },
    ),
    (
        {"whatsappid": "whatsapp:+447400123456"},
        {"Contact": {"firstName": "Ｊosé", "lastName": "O'Brien"}, "Shop": {"tags": [], "points": "0.10"}},
    ),
    (
        {"phone": "+14155550199;ext=12"},
        {"Contact": {"firstName": "@home", "lastName": "'+x"}, "Shop": {"tags": ["[x"]}},
    ),
]


def _seed(api, store, people=PEOPLE):
    _schema(store)
    for identifiers, traits in people:
        _identify(api, store, identifiers, traits)


def _export(client, key, store, q=None):
    path = f"/api/v1/stores/{store.pk}/profiles/export.csv" + (f"?q={q}" if q is not None else "")
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


def _body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def _import(client, key, store, text):
    """Upload `text` through the API with the export's own mapping and run the import inline."""
    headers = next(csv.reader(io.StringIO(text)))
    response = client.post(
        f"/api/v1/stores/{store.pk}/imports",
        {
            "file": SimpleUploadedFile("export.csv", text.encode(), content_type="text/csv"),
            "mapping": json.dumps(export_mapping(headers)),
        },
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 202, response.content
    queued = ProfileImport.objects.get(pk=response.json()["id"])
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.COMPLETED, done.status
    return done


def _profiles(store) -> dict:
    """{sorted identifiers: traits} for every live profile of `store`."""
    out = {}
    for profile in Profile.objects.filter(store=store, merged_into__isnull=True):
        identifiers = tuple(
            sorted(Identifier.objects.filter(profile=profile).values_list("kind", "value").order_by("kind", "value"))
        )
        out[identifiers] = profile.traits
    return out


def _round_trip(client, key, account):
    from tests.conftest import ApiClient

    api = ApiClient(client, key)
    source = StoreFactory(account=account)
    _seed(api, source)
    response = _export(client, key, source)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = _body(response)
    target = StoreFactory(account=account)
    _schema(target)
    done = _import(client, key, target, text)
    assert done.rows_failed == 0 and done.rows_ingested == len(PEOPLE)
    before, after = _profiles(source), _profiles(target)
    assert len(before) == len(PEOPLE)
    for identifiers, traits in before.items():  # profile by profile
        assert after.get(identifiers) == traits, identifiers
    assert after.keys() == before.keys()
    return text


def test_export_then_import_into_a_new_store_gives_equal_profiles(client, key, account):
    text = _round_trip(client, key, account)
    header = next(csv.reader(io.StringIO(text)))
    assert header[:6] == [
        "identifier:phone",
        "identifier:phone 2",
        "identifier:email",
        "identifier:whatsappid",
        "identifier:chat",
        "identifier:user_id",
    ]
    assert "identifier:user_id 2" in header and "Contact.firstName" in header and "Shop.tags" in header
    # typed values in the renderings the import parses
    rows = {
        row[header.index("identifier:email")]: dict(zip(header, row, strict=True))
        for row in csv.reader(io.StringIO(text))
    }
    ada = rows["ada@example.com"]
    assert ada["identifier:phone"] == "'+14155550100" and ada["identifier:phone 2"] == "'+14155550101"
    assert (ada["Shop.points"], ada["Shop.vip"], ada["Shop.tags"], ada["Shop.since"]) == (
        "123456789012345678.5",
        "true",
        "gold|early",
        "2024-05-01",
    )
    grace = rows["grace@example.com"]
    assert grace["Shop.tags"] == '[1,"a|b"," pad",true]' and grace["Shop.vip"] == "false"
    assert grace["Shop.points"] == "'-5" and grace["Contact.lastName"] == ""
    assert grace["Contact.address"] == "\\N"  # no value: the import's "remove", so none is set


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_export_then_import_gives_equal_profiles_on_postgresql(client, key, account):
    _round_trip(client, key, account)


def test_formula_cells_are_escaped_and_read_back_unchanged(client, key, account, api, tmp_path):
    store = StoreFactory(account=account)
    _schema(store)
    people = [
        ({"email": f"p{i}@example.com"}, {"Contact": {"firstName": value, "lastName": "x"}})
        for i, value in enumerate(HOSTILE)
    ]
    for identifiers, traits in people:
        _identify(api, store, identifiers, traits)
    text = _body(_export(client, key, store))
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = {row["identifier:email"]: row["Contact.firstName"] for row in rows}
    for i, value in enumerate(HOSTILE):
        cell = cells[f"p{i}@example.com"]
        # no cell a spreadsheet would run: every one starting with = + - @ tab CR has a ' before it
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
        assert cell == ("'" + value if value[:1] in "=+-@\t\r" or value.startswith(("''", "'=")) else value)
    # the import recognises the export and says it removes the escapes
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    checked = csv_file_check(path)
    assert any("profiles export" in note for note in checked.notes)
    target = StoreFactory(account=account)
    _schema(target)
    _import(client, key, target, text)
    got = {
        Identifier.objects.get(profile=p, kind="email").value: p.traits["Contact"]["firstName"]
        for p in Profile.objects.filter(store=target)
    }
    assert got == {f"p{i}@example.com": value for i, value in enumerate(HOSTILE)}


def test_the_mapping_page_suggests_every_export_column(client, key, account, api):
    store = StoreFactory(account=account)
    _seed(api, store)
    headers = next(csv.reader(io.StringIO(_body(_export(client, key, store)))))
    from identity.config import store_config

    config = store_config(store=store)
    suggestions = suggest_targets(headers=headers, rules=config.rules, schema=config.schema)
    assert all(suggestions), dict(zip(headers, suggestions, strict=True))
    assert suggestions[headers.index("identifier:phone 2")] == "identifier:phone"


def test_the_response_is_streamed(client, key, account, api, monkeypatch):
    from imports import export

    monkeypatch.setattr(export, "CHUNK", 2)  # four profiles: two chunks after the header
    store = StoreFactory(account=account)
    _seed(api, store)
    response = _export(client, key, store)
    assert isinstance(response, StreamingHttpResponse)
    pieces = list(response.streaming_content)
    assert len(pieces) == 3
    assert len(list(csv.reader(io.StringIO(b"".join(pieces).decode())))) == 1 + len(PEOPLE)


def test_a_search_export_holds_only_the_matches(client, key, account, api):
    store = StoreFactory(account=account)
    _seed(api, store)
    for q, emails in (("Shop.vip = true", {"ada@example.com"}), ("grace@example.com", {"grace@example.com"})):
        rows = list(csv.DictReader(io.StringIO(_body(_export(client, key, store, q=q)))))
        assert {row["identifier:email"] for row in rows} == emails
    bad = _export(client, key, store, q="Shop.points = many")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "q"]


def test_tenant_walls(client, key, other_account, admin_client, account):
    other = StoreFactory(account=other_account)
    assert _export(client, key, other).status_code == 404
    assert admin_client.get(f"/stores/{other.pk}/profiles/export.csv").status_code == 404


def test_console_export_for_administrators_and_support(admin_client, support_client, store, api, client):
    _seed(api, store)
    page = admin_client.get(f"/stores/{store.pk}/profiles/?q=ada@example.com")
    assert b"Export CSV (this search)" in page.content
    assert f"/stores/{store.pk}/profiles/export.csv?q=ada%40example.com".encode() in page.content
    for who in (admin_client, support_client):
        response = who.get(f"/stores/{store.pk}/profiles/export.csv", {"q": "ada@example.com"})
        assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(_body(response))))
        assert [row["identifier:email"] for row in rows] == ["ada@example.com"]
    everything = support_client.get(f"/stores/{store.pk}/profiles/export.csv")
    assert len(list(csv.DictReader(io.StringIO(_body(everything))))) == len(PEOPLE)
    refused = admin_client.get(f"/stores/{store.pk}/profiles/export.csv", {"q": "Shop.points = many"})
    assert refused.status_code == 302 and "/profiles/?q=" in refused["Location"]


def test_openapi_documents_the_export_as_csv(client):
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/stores/{store_id}/profiles/export.csv"]["get"]
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert {"404", "422"} <= set(operation["responses"])


def test_a_read_only_key_may_export(client, account, api):
    from accounts.services import api_key_create

    store = StoreFactory(account=account)
    _seed(api, store)
    read_only = api_key_create(account=account, actor=None, name="BI export", scope="read_only")[1]
    response = _export(client, read_only, store)
    assert response.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(_body(response))))) == len(PEOPLE)


def test_only_an_export_loses_its_escapes(account, tmp_path):
    """A file without the export's headers keeps a leading ' as part of the value, as before."""
    from tests.imports_helpers import run

    store = StoreFactory(account=account)
    text = "Email,First,Last\r\nada@example.com,'=x,'-5\r\n"
    done = run(store, text, ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"])
    assert done.rows_ingested == 1
    assert Profile.objects.get(store=store).traits["Contact"] == {"firstName": "'=x", "lastName": "'-5"}
    path = tmp_path / "plain.csv"
    path.write_text(text, encoding="utf-8")
    assert not any("profiles export" in note for note in csv_file_check(path).notes)
