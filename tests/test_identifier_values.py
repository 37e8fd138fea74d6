"""Identifiers of issue 13, through every path that takes them: the API's identify, identify-batch
and ``?identifier=`` lookup, the console's search and mapped-trait edit, and CSV import.

One normaliser (identity/normalization.py) decides for all of them: Unicode NFC, invisible
characters trimmed around a value and named by code point inside it, phone extensions kept as
``;ext=``, internationalised email domains stored once, 255 characters at most, text only.
"""

import unicodedata
from urllib.parse import quote

import pytest

from identity.models import Identifier, RuleSource
from identity.normalization import IdentifierError, normalize_identifier
from identity.search import profile_search
from identity.services import identity_rule_create, profile_traits_identify
from imports.models import ImportRowError, ImportStatus
from profiles.models import Profile
from profiles.services import Source
from tests.conftest import ApiClient
from tests.imports_helpers import CONTACT, csv_text, run
from traits.models import Trait

NFC = "Jos\u00e9"  # é as one code point
NFD = "Jose\u0301"  # e + COMBINING ACUTE ACCENT
assert NFC != NFD and unicodedata.normalize("NFC", NFD) == NFC

CHAT = ["Email=identifier:email", "Chat=identifier:chat", "First=Contact.firstName", "Last=Contact.lastName"]


@pytest.fixture
def api(client, key):
    class Api(ApiClient):
        def identify(self, store, identifiers):
            return self.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": identifiers})

        def lookup(self, store, identifier):
            return self.call("get", f"/stores/{store.pk}/profiles?identifier={quote(identifier, safe='')}")

    return Api(client, key)


def _ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def _refused(response, *path) -> str:
    """The message of the 422 error whose location names `path` (e.g. "identifiers", "chat")."""
    assert response.status_code == 422, response.content
    for item in response.json()["detail"]:
        loc = [part for part in item["loc"] if part not in ("body", "payload", "query")]
        if loc[: len(path)] == list(path):
            return item["msg"]
    raise AssertionError(f"no error names {path}: {response.content!r}")


def _values(store, kind):
    return sorted(Identifier.objects.filter(store=store, kind=kind).values_list("value", flat=True))


def _failures(finished):
    rows = ImportRowError.objects.filter(profile_import=finished, row_failed=True).order_by("line", "id")
    return [(e.line, e.column, e.reason) for e in rows]


# --- NFC -------------------------------------------------------------------------------------------


def test_a_chat_id_sent_in_nfc_and_in_nfd_is_one_identifier_and_one_profile(api, store):
    first = _ok(api.identify(store, {"chat": NFD}))
    again = _ok(api.identify(store, {"chat": NFC}))
    assert first["created"] and not again["created"]
    assert again["profile_id"] == first["profile_id"]
    assert _values(store, "chat") == [NFC]
    for spelling in (NFC, NFD):
        assert _ok(api.lookup(store, f"chat:{spelling}"))["id"] == first["profile_id"]


def test_the_console_search_finds_an_identifier_whichever_way_it_is_typed(api, store):
    profile_id = _ok(api.identify(store, {"chat": NFC}))["profile_id"]
    for query in (NFD, f"chat:{NFD}", NFC):
        page = profile_search(store=store, q=query)
        assert [profile.pk for profile in page.profiles] == [profile_id], query


def test_a_custom_kind_is_stored_in_nfc(api, store):
    identity_rule_create(store=store, actor=None, name="User id", kind="user_id")
    first = _ok(api.identify(store, {"user_id": "Rene\u0301e"}))
    assert _ok(api.identify(store, {"user_id": "Ren\u00e9e"}))["profile_id"] == first["profile_id"]
    assert _values(store, "user_id") == ["Ren\u00e9e"]


def test_csv_rows_with_a_chat_id_in_nfc_and_nfd_end_as_one_profile(store):
    text = csv_text(f"a@example.test,{NFD},Ana,L", f"b@example.test,{NFC},Ana,L", header="Email,Chat,First,Last")
    finished = run(store, text, CHAT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert _failures(finished) == []
    assert Profile.objects.filter(store=store, merged_into=None).count() == 1
    assert _values(store, "chat") == [NFC]


def test_a_mapped_trait_edited_in_the_console_is_stored_in_nfc(store):
    contact_last = Trait.objects.get(store=store, group__name="Contact", name="lastName")
    identity_rule_create(
        store=store, actor=None, name="Surname", kind="surname", source=RuleSource.TRAITS, mapped_traits=[contact_last]
    )
    profile = Profile.objects.create(store=store)
    profile_traits_identify(profile=profile, values={"Contact": {"lastName": NFD}}, source=Source.api_key("t"))
    assert _values(store, "surname") == [NFC]


# --- invisible characters ----------------------------------------------------------------------------


def test_invisible_characters_around_identifiers_are_trimmed_on_every_api_path(api, store):
    first = _ok(api.identify(store, {"email": "\u00a0\u200bAda@Example.com\ufeff ", "chat": "\u2060ada\u00a0"}))
    assert _values(store, "email") == ["ada@example.com"] and _values(store, "chat") == ["ada"]
    again = _ok(api.identify(store, {"email": "ada@example.com"}))
    assert again["profile_id"] == first["profile_id"] and not again["created"]
    phone = _ok(api.identify(store, {"phone": "\u00a0+1 415 555 2671\u200b", "chat": "ada"}))
    assert phone["profile_id"] == first["profile_id"] and _values(store, "phone") == ["+14155552671"]
    assert _ok(api.lookup(store, "email:\u00a0ada@example.com\u200b"))["id"] == first["profile_id"]
    assert [p.pk for p in profile_search(store=store, q="\u200b+1 (415) 555-2671\u00a0").profiles] == [
        first["profile_id"]
    ]


@pytest.mark.parametrize(
    ("kind", "value", "named"),
    [
        ("chat", "a\u200bb", "U+200B ZERO WIDTH SPACE"),
        ("chat", "a\ufeffb", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("chat", "user\u202e1", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("chat", "a\x00b", "U+0000 NULL"),
        ("chat", "a\tb", "U+0009 CHARACTER TABULATION"),
        ("chat", "\ud800", "U+D800 (a lone surrogate, not a character)"),
        ("email", "ada\u200b@example.com", "U+200B ZERO WIDTH SPACE"),
        ("email", "ada@exam\u00adple.com", "U+00AD SOFT HYPHEN"),
        ("phone", "+1 415\u200b555 2671", "U+200B ZERO WIDTH SPACE"),
        ("whatsappid", "+1 415 555\x002671", "U+0000 NULL"),
    ],
)
def test_a_hidden_character_inside_an_identifier_is_refused_and_named_by_code_point(api, store, kind, value, named):
    message = _refused(api.identify(store, {kind: value}), "identifiers", kind)
    assert f"contains {named}" in message
    hidden = [char for char in value if not char.isprintable()]
    assert hidden and not any(char in message for char in hidden)  # never printed raw
    assert not Identifier.objects.filter(store=store).exists()
    if "\ud800" not in value:  # a URL cannot carry a lone surrogate
        lookup = api.lookup(store, f"{kind}:{value}")
        assert lookup.status_code == 422, lookup.content
        assert any(f"contains {named}" in item["msg"] for item in lookup.json()["detail"])


@pytest.mark.parametrize("value", ["   ", "\u00a0", "\u200b\u00a0\ufeff", "\u3000"])
def test_a_whitespace_only_identifier_is_empty_on_the_api(api, store, value):
    assert _refused(api.identify(store, {"chat": value}), "identifiers", "chat").endswith(" is empty")
    assert _refused(api.identify(store, {"email": value}), "identifiers", "email").endswith(" is empty")
    assert not Identifier.objects.filter(store=store).exists()


def test_csv_identifiers_are_trimmed_of_invisible_characters(store):
    text = csv_text("\u00a0ada@example.test\u200b,\ufeff+14155552671\u00a0,Ada,L")
    finished = run(store, text, CONTACT)
    assert _failures(finished) == []
    assert _values(store, "email") == ["ada@example.test"] and _values(store, "phone") == ["+14155552671"]


def test_csv_names_a_hidden_character_inside_an_identifier_by_code_point(store):
    text = csv_text("a@example.test,a\u200bb,Ana,L", "b@example.test,ok,Bo,L", header="Email,Chat,First,Last")
    finished = run(store, text, CHAT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    [(line, column, reason)] = _failures(finished)
    assert (line, column) == (2, "Chat") and "U+200B ZERO WIDTH SPACE" in reason and "\u200b" not in reason
    assert _values(store, "chat") == ["ok"]


# --- non-text identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, 1.5, 42, None, {"a": "b"}, ["a", None]])
def test_a_non_text_identifier_is_refused_by_identify_naming_the_field(api, store, value):
    response = api.identify(store, {"chat": value})
    assert _refused(response, "identifiers", "chat")
    assert not Profile.objects.filter(store=store).exists()


def test_identify_batch_refuses_bad_identifiers_per_item_and_non_text_for_the_whole_batch(api, store):
    path = f"/stores/{store.pk}/profiles/identify-batch"
    items = [{"identifiers": {"chat": "   "}}, {"identifiers": {"chat": "a\u200bb"}}, {"identifiers": {"chat": "ok"}}]
    blank, hidden, fine = _ok(api.call("post", path, {"items": items}))["results"]
    assert not blank["ok"] and blank["errors"][0]["loc"] == ["body", "items", 0, "identifiers", "chat"]
    assert blank["errors"][0]["msg"].endswith(" is empty")
    assert not hidden["ok"] and "contains U+200B ZERO WIDTH SPACE" in hidden["errors"][0]["msg"]
    assert hidden["errors"][0]["loc"] == ["body", "items", 1, "identifiers", "chat"]
    assert fine["ok"] and _values(store, "chat") == ["ok"]
    # A value that is not text at all breaks the documented schema: the whole batch is refused.
    for value in (True, 1.5, None, {"a": "b"}):
        body = {"items": [{"identifiers": {"chat": "new"}}, {"identifiers": {"chat": value}}]}
        response = api.call("post", path, body)
        assert _refused(response, "items", 1, "identifiers", "chat")
    assert _values(store, "chat") == ["ok"]


@pytest.mark.parametrize("value", [True, 1.5, 42, None, {"a": "b"}, ["x"], b"x"])
def test_the_normaliser_itself_refuses_anything_but_text(value):
    for kind in ("phone", "email", "whatsappid", "chat", "user_id"):
        with pytest.raises(IdentifierError) as caught:
            normalize_identifier(kind, value)
        assert caught.value.reason == "must be text"


# --- phone extensions ----------------------------------------------------------------------------------


def test_phone_extensions_are_part_of_the_identity_on_the_api(api, store):
    ext12 = _ok(api.identify(store, {"phone": "+1 415 555 0150 ext. 12"}))
    ext34 = _ok(api.identify(store, {"phone": "+1 415 555 0150 x34"}))
    bare = _ok(api.identify(store, {"phone": "+1 415 555 0150"}))
    assert ext12["created"] and ext34["created"] and bare["created"]
    assert len({ext12["profile_id"], ext34["profile_id"], bare["profile_id"]}) == 3
    assert _values(store, "phone") == ["+14155550150", "+14155550150;ext=12", "+14155550150;ext=34"]
    # The stored form is accepted as input and matches only its own extension.
    again = _ok(api.identify(store, {"phone": "+14155550150;ext=12"}))
    assert again["profile_id"] == ext12["profile_id"] and not again["created"]
    assert _ok(api.identify(store, {"phone": "(415) 555-0150 #34"}))["profile_id"] == ext34["profile_id"]
    assert _ok(api.lookup(store, "phone:+14155550150;ext=12"))["id"] == ext12["profile_id"]
    assert _ok(api.lookup(store, "phone:+1 415 555 0150"))["id"] == bare["profile_id"]
    assert [p.pk for p in profile_search(store=store, q="+1 (415) 555-0150 ext 34").profiles] == [ext34["profile_id"]]
    assert [p.pk for p in profile_search(store=store, q="4155550150").profiles] == [bare["profile_id"]]


def test_a_whatsapp_id_with_an_extension_is_refused_with_the_reason(api, store):
    message = _refused(api.identify(store, {"whatsappid": "+1 415 555 0150 ext. 12"}), "identifiers", "whatsappid")
    assert "has a phone extension (ext. 12)" in message
    assert not Identifier.objects.filter(store=store).exists()


def test_csv_phone_extensions_stay_two_people_and_the_bare_number_a_third(api, store):
    rows = [",+1 415 555 0150 ext. 12,Ann,A", ",+1 415 555 0150 x34,Bob,B", ",+1 415 555 0150,Cy,C"]
    finished = run(store, csv_text(*rows), CONTACT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert _failures(finished) == []
    assert Profile.objects.filter(store=store, merged_into=None).count() == 3
    holders = dict(Identifier.objects.filter(store=store, kind="phone").values_list("value", "profile_id"))
    assert sorted(holders) == ["+14155550150", "+14155550150;ext=12", "+14155550150;ext=34"]
    assert Profile.objects.get(pk=holders["+14155550150;ext=12"]).traits["Contact"]["firstName"] == "Ann"
    # The API reads the same number the same way.
    assert _ok(api.identify(store, {"phone": "+1 415-555-0150 ext 12"}))["profile_id"] == holders["+14155550150;ext=12"]


# --- internationalised email domains -------------------------------------------------------------------


def test_an_internationalised_domain_and_its_punycode_are_one_address_on_the_api(api, store):
    first = _ok(api.identify(store, {"email": "ana@bücher.example"}))
    nfd = "ana@bu\u0308cher.example"
    spellings = ("ana@xn--bcher-kva.example", "ANA@BÜCHER.EXAMPLE", "Ana@XN--BCHER-KVA.example", nfd)
    for spelling in spellings:
        again = _ok(api.identify(store, {"email": spelling}))
        assert again["profile_id"] == first["profile_id"] and not again["created"], spelling
        assert _ok(api.lookup(store, f"email:{spelling}"))["id"] == first["profile_id"]
    assert _values(store, "email") == ["ana@bücher.example"]
    assert [p.pk for p in profile_search(store=store, q="ana@xn--bcher-kva.example").profiles] == [first["profile_id"]]


def test_csv_rows_with_both_spellings_of_an_internationalised_domain_are_one_profile(store):
    finished = run(store, csv_text("ana@bücher.example,,Ana,L", "ana@xn--bcher-kva.example,,Ana,M"), CONTACT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert _failures(finished) == []
    assert Profile.objects.filter(store=store, merged_into=None).count() == 1
    assert _values(store, "email") == ["ana@bücher.example"]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("ana@xn--bcher.example", "is not a valid email address (The part after the @-sign is not valid IDNA"),
        ("ana@printer.local", "is not a valid email address (The part after the @-sign is a special-use"),
    ],
)
def test_an_email_domain_email_validator_refuses_is_refused_with_its_reason(api, store, address, reason):
    assert reason in _refused(api.identify(store, {"email": address}), "identifiers", "email")


# --- 255 characters ------------------------------------------------------------------------------------


def _email(length: int) -> str:
    """A syntactically valid address of exactly `length` characters (197 + the last label)."""
    address = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * (length - 197) + ".com"
    assert len(address) == length
    return address


def test_chat_and_custom_identifiers_of_255_characters_are_accepted_and_256_refused(api, store):
    identity_rule_create(store=store, actor=None, name="User id", kind="user_id")
    for kind in ("chat", "user_id"):
        assert _ok(api.identify(store, {kind: "x" * 255}))["created"]
        message = _refused(api.identify(store, {kind: "y" * 256}), "identifiers", kind)
        assert message.endswith("is longer than 255 characters")
        assert _values(store, kind) == ["x" * 255]
    # The limit applies to the stored (NFC) form: 300 code points that compose to 150 characters fit.
    assert _ok(api.identify(store, {"chat": "e\u0301" * 150}))["created"]
    assert "\u00e9" * 150 in _values(store, "chat")


def test_an_email_is_at_most_254_characters_and_never_reaches_the_column_longer(api, store):
    assert _ok(api.identify(store, {"email": _email(254)}))["created"]
    too_long = _refused(api.identify(store, {"email": _email(255)}), "identifiers", "email")
    assert "The email address is too long (1 character too many)" in too_long  # RFC 5321 4.5.3.1.3
    assert _refused(api.identify(store, {"email": _email(256)}), "identifiers", "email").endswith(
        "is longer than 255 characters"
    )
    assert _values(store, "email") == [_email(254)]


def test_csv_identifiers_at_the_255_character_boundary(store):
    rows = [f"{_email(254)},x{'1' * 254},A,L", f"{_email(255)},b,B,L", f"c@example.test,{'z' * 256},C,L"]
    finished = run(store, csv_text(*rows, header="Email,Chat,First,Last"), CHAT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert [(line, column) for line, column, _ in _failures(finished)] == [(3, "Email"), (4, "Chat")]
    assert _values(store, "chat") == ["x" + "1" * 254] and _values(store, "email") == [_email(254)]


# --- hostile lengths -------------------------------------------------------------------------------------


def test_every_unicode_space_and_zero_width_character_is_trimmed_around_an_identifier():
    import sys

    from memory_console.text import ZERO_WIDTH

    edges = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()] + list(ZERO_WIDTH)
    for char in edges:
        assert normalize_identifier("chat", f"{char}{NFD}{char}{char}") == NFC, f"U+{ord(char):04X}"


def test_a_long_run_of_spaces_inside_an_identifier_is_refused_at_once(api, store):
    import time

    value = "\u00e9" + "\u00a0" * 60_000 + "b"  # trimming by pattern took half a minute (quadratic)
    started = time.perf_counter()
    message = _refused(api.identify(store, {"chat": value}), "identifiers", "chat")
    assert message.endswith("is longer than 255 characters")
    assert time.perf_counter() - started < 5
    assert not Identifier.objects.filter(store=store).exists()
