"""Email normalisation accepts exactly the addresses email-validator accepts, with its normalised
spelling, and phone normalisation exactly the numbers phonenumbers calls valid: the import's fast
paths (precompiled patterns, one pattern check instead of two) may only answer sooner, never
differently."""

import random
import string

import email_validator
import phonenumbers
import pytest

from identity.normalization import (
    MAX_LENGTH,
    IdentifierError,
    _email_by_library,
    _fits,
    _prepare,
    normalize_email,
    normalize_identifier,
    normalize_phone,
)
from memory_console.text import text_nfc

TRICKY = [
    "Ada@Example.COM",
    "  ada@example.com ",
    "a@localhost",
    "a@[127.0.0.1]",
    "a@[::1]",
    '"a b"@example.org',
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a@-example.org",
    "a@example-.org",
    "a@example.o",
    "a@example.123",
    "a@example.c0m",
    "a@xn--bcher-kva.ch",
    "a@xn--bcher.ch",
    "a@ab--cd.com",
    "a@a--b.com",
    "ü@example.org",
    "Ü@Example.org",
    "a@bücher.ch",
    "a@BÜCHER.ch",
    "a@straße.de",
    "a@xn--strae-oqa.de",
    "ana@bu\u0308cher.example",  # NFD
    "u\u0308@example.org",  # NFD local part
    "a@münchen.xn--bcher-kva.example",
    "a@@example.org",
    "a@b@example.org",
    "@example.org",
    "a@",
    "a@x.local",
    "a@x.onion",
    "a@x.test",
    "a@x.example",
    "a@x.arpa",
    "a" * 64 + "@" + "b" * 250 + ".org",
    "a" * 65 + "@example.org",
    "a" * 242 + "@example.org",  # 254 characters: RFC 5321's longest
    "a" * 243 + "@example.org",
    "o'brien+tag@example.co.uk",
]


def _library_answer(text: str) -> str | None:
    """What email-validator itself makes of `text`, lower-cased, as normalize_email documents."""
    try:
        checked = email_validator.validate_email(text.strip(), check_deliverability=False, test_environment=True)
    except email_validator.EmailNotValidError:
        return None
    return checked.normalized.lower()


def _ours(text: str) -> str | None:
    try:
        return normalize_email(text)
    except IdentifierError:
        return None


def _ours_without_fast_path(text: str) -> str | None:
    try:
        return _email_by_library(text)
    except IdentifierError:
        return None


@pytest.mark.parametrize("address", TRICKY)
def test_email_normalisation_answers_as_email_validator(address):
    stored = _ours(address)
    assert stored == _ours_without_fast_path(address) == _library_answer(address)
    if stored is not None:
        assert normalize_email(stored) == stored  # the stored form reads as itself


def test_email_fast_path_answers_as_email_validator_on_random_addresses():
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + ".-_+!#'`~[]:\"ü"
    accepted = 0
    for _ in range(20_000):
        local = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        domain = "".join(rng.choice(string.ascii_letters + string.digits + ".-[]:") for _ in range(rng.randint(1, 14)))
        address = f"{local}@{domain}"
        answer = _ours(address)
        assert answer == _library_answer(address), address
        accepted += answer is not None
    assert 0 < accepted < 20_000  # both outcomes were compared


def _chat_answer(text: str, *, fast: bool) -> str:
    try:
        if fast:
            return normalize_identifier("chat", text)
        return _fits("chat", text, text_nfc(_prepare("chat", text)))
    except IdentifierError as exc:
        return "refused: " + exc.reason


def test_chat_fast_path_answers_as_the_full_rule_on_random_ascii_text():
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " \t\r\n\x00\x1c\x7f-_."
    answers = set()
    for _ in range(20_000):
        length = rng.choice([0, 1, 3, 12, MAX_LENGTH - 1, MAX_LENGTH, MAX_LENGTH + 1, MAX_LENGTH + 2])
        letters = alphabet if rng.random() < 0.5 else "ab "
        text = "".join(rng.choice(letters) for _ in range(length))
        answer = _chat_answer(text, fast=True)
        assert answer == _chat_answer(text, fast=False), repr(text)
        answers.add(answer if answer.startswith("refused") else "accepted")
    assert "accepted" in answers and "refused: is empty" in answers
    assert "refused: is longer than 255 characters" in answers


def _phonenumbers_answer(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _our_answer(text: str, region: str) -> str | None:
    try:
        return normalize_phone(text, region)
    except IdentifierError:
        return None


def test_phone_normalisation_agrees_with_phonenumbers_for_every_region_and_its_neighbours():
    # Every region's example numbers of every type, and numbers of the same length with digits
    # changed: the regions that share a calling code (+1, +44, +7, ...) must be told apart as
    # phonenumbers does, and invalid numbers refused as it does.
    rng = random.Random(11)
    kinds = [getattr(phonenumbers.PhoneNumberType, name) for name in ("FIXED_LINE", "MOBILE", "TOLL_FREE", "VOIP")]
    checked = valid = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            texts = [e164, national]
            for _ in range(6):
                digits = list(e164[1:])
                for _ in range(rng.randint(1, 3)):
                    digits[rng.randrange(len(digits))] = rng.choice("0123456789")
                texts.append("+" + "".join(digits))
            for text in texts:
                answer = _phonenumbers_answer(text, region)
                assert _our_answer(text, region) == answer, (region, text)
                checked += 1
                valid += answer is not None
    assert checked > 2000 and 0 < valid < checked  # both answers were compared, many times


def test_phone_normalisation_agrees_with_phonenumbers_on_random_north_american_numbers():
    rng = random.Random(3)
    for _ in range(20_000):
        text = "+1" + "".join(rng.choice("0123456789") for _ in range(10))
        assert _our_answer(text, "US") == _phonenumbers_answer(text, "US"), text


def test_e164_north_american_numbers_agree_with_phonenumbers_whatever_the_default_region():
    # "+1" and ten digits skip phonenumbers' parsing: the answer must not change with the store's
    # region, the spaces around the number, or a length or first digit just outside the shortcut.
    rng = random.Random(5)
    regions = ["US", "CA", "JM", "PR", "GB", "DE", "IT", "BR", "IN", "JP", "AU", "ZA", "RU", "KZ"]
    shapes = [(10, "23456789"), (10, "01"), (9, "0123456789"), (11, "0123456789")]
    checked = valid = 0
    for _ in range(12_000):
        length, first = rng.choice(shapes)
        digits = rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(length - 1))
        text = rng.choice(["", " ", "\t"]) + "+1" + digits + rng.choice(["", " ", "\u00a0"])
        region = rng.choice(regions)
        answer = _phonenumbers_answer(text, region)
        assert _our_answer(text, region) == answer, (region, text)
        checked += 1
        valid += answer is not None
    assert 0 < valid < checked


@pytest.mark.parametrize(
    ("text", "region", "stored"),
    [
        ("+1 415 555 0150 ext. 12", "US", "+14155550150;ext=12"),
        ("+14155550150 x12", "US", "+14155550150;ext=12"),  # "+1" and ten digits, then an extension
        ("+14155550150;ext=12", "US", "+14155550150;ext=12"),  # the stored form reads as itself
        ("tel:+1-415-555-0150;ext=12", "US", "+14155550150;ext=12"),  # RFC 3966 URI
        ("(415) 555-0150 #34", "US", "+14155550150;ext=34"),
        ("+1 415 555 0150 ext. \u0661\u0662", "US", "+14155550150;ext=12"),  # Arabic-Indic digits
        ("020 7946 0958 extension 7", "GB", "+442079460958;ext=7"),
        ("+14155550150", "US", "+14155550150"),
    ],
)
def test_a_phone_extension_is_kept_in_rfc_3966_style(text, region, stored):
    assert normalize_phone(text, region) == stored
    assert normalize_phone(stored, "DE") == stored  # and the stored form is stable, whatever the region


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("whatsapp:", "is empty"),
        ("WhatsApp:\u00a0", "is empty"),
        ("whatsapp:+1 415 555 0150 x12", "has a phone extension (ext. 12); a WhatsApp id has none"),
        ("whatsapp:+1 415\u200b555 0150", "contains U+200B ZERO WIDTH SPACE"),
    ],
)
def test_a_whatsapp_id_without_a_number_or_with_an_extension_or_a_hidden_character_is_refused(text, reason):
    with pytest.raises(IdentifierError) as caught:
        normalize_identifier("whatsappid", text)
    assert caught.value.reason == reason


def test_nfc_never_composes_more_than_four_code_points_into_one():
    # normalization refuses a trimmed value over 4 x 255 code points before normalising it: no NFC
    # form of it could fit 255 characters, as no character decomposes into more than four.
    import sys
    import unicodedata

    codes = (code for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)
    longest = max(len(unicodedata.normalize("NFD", chr(code))) for code in codes)
    assert longest == 4


@pytest.mark.parametrize(
    "written",
    [
        "+33\u202f6\u202f12\u202f34\u202f56\u202f78",
        "+33\u00a06\u00a012\u00a034\u00a056\u00a078",
        "+33\u20096 12 34 56 78",
    ],
    ids=["narrow no-break spaces (French)", "no-break spaces", "thin space"],
)
def test_phones_with_the_spaces_locales_write_between_digit_groups_are_read(written):
    assert normalize_identifier("phone", written) == "+33612345678"


def test_an_invalid_number_with_its_own_country_code_does_not_blame_the_default_region():
    from identity.normalization import IdentifierError, normalize_phone, normalize_whatsappid

    for normalize, value in ((normalize_phone, "+447700900123"), (normalize_whatsappid, "whatsapp:+447700900123")):
        with pytest.raises(IdentifierError, match=r"is not a valid phone number of country code \+44$"):
            normalize(value, "US")
    with pytest.raises(IdentifierError, match=r"default region US"):
        normalize_phone("555-0100", "US")
