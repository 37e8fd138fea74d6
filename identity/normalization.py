"""Normalise identifier values so one customer's identifier is stored, matched and searched one way.

Every path calls `normalize_identifier` (CSV rows, the API's identify, identify-batch and
``?identifier=`` lookup, console edits of mapped traits, profile search), so a value is accepted,
refused and spelled the same way wherever it comes from. For every kind:

- the value must be text: ``true``, ``1.5``, ``42``, ``null``, lists and objects are refused
  ("must be text"; a mapped number trait's whole number reaches us as its digits);
- Unicode white space (NBSP U+00A0 included) and zero-width characters (U+200B, U+200C, U+200D,
  U+2060, U+FEFF) around it are trimmed (`memory_console.text.strip_invisible`); what is left
  empty is refused as "is empty";
- control characters, lone surrogates and invisible format characters (Unicode categories Cc,
  Cs, Cf: zero-width characters, bidi controls, soft hyphen) and line/paragraph separators
  *inside* it are refused, named by code point ("contains U+200B ZERO WIDTH SPACE"): messages
  never print them raw;
- the stored form is Unicode NFC and at most `MAX_LENGTH` (255) characters (the column's size),
  checked here after normalising, so no path can hand a longer value to the database.

Then, by kind:

- phone: E.164 via `phonenumbers` (the store's default region for numbers without a country
  code). An extension is part of the identity: ``+1 415 555 0150 ext. 12`` (or ``x12``, ``#12``,
  ``;ext=12``) is stored in the RFC 3966 style ``+14155550150;ext=12``, the extension's digits as
  phonenumbers reads them (in ASCII digits); the stored form is accepted as input too;
- email: lower-cased and checked by the `email-validator` library (RFC 5321/5322 syntax, RFC 6531
  internationalised addresses, IDNA 2008 / UTS #46 domains; no DNS lookup). The stored form is the
  library's ``normalized`` address lower-cased: an internationalised domain is stored in Unicode,
  so ``ana@bücher.example`` and ``ana@xn--bcher-kva.example`` are one address, stored as
  ``ana@bücher.example``. As in the library: at most 254 octets (RFC 5321 section 4.5.3.1.3),
  no quoted local parts, no IP-address domains, and the special-use domains ``.arpa``,
  ``.invalid``, ``.local``, ``.localhost``, ``.onion`` are refused; ``.test`` and ``.example`` are
  accepted (demo data and tests use them);
- whatsappid: ``whatsapp:+E164``, accepted with or without the ``whatsapp:`` prefix; a number with
  an extension is refused (a WhatsApp id has none);
- chat and custom kinds: the text itself (trimmed, NFC).

Plain ASCII phones (``+1`` and ten digits) and emails (dot-atom local part, host name domain) take
fast paths (compiled patterns, no library call): they answer exactly what the full path would, only
sooner (tests/test_identifier_normalization.py compares them on many thousands of values).
"""

import functools
import re
import unicodedata

import email_validator
import phonenumbers
from email_validator.rfc_constants import EMAIL_MAX_LENGTH

from memory_console.text import (
    ZERO_WIDTH,
    describe_char,
    strip_invisible,
    text_nfc,
    text_problem,
    text_visible,
)

MAX_LENGTH = 255
WHATSAPP_PREFIX = "whatsapp:"
EXTENSION_MARK = ";ext="

# NFC composes at most four code points into one (e.g. U+1F82 from omega and three marks), so a
# trimmed value longer than this can never fit MAX_LENGTH: refuse it before any further work.
_MAX_BEFORE_NFC = 4 * MAX_LENGTH
_SHOWN = 60


def _shown(value) -> str:
    """`value` for a message: at most 60 characters, invisible ones written as <U+200B>."""
    text = value if isinstance(value, str) else repr(value)
    return text_visible(text[:_SHOWN]) + ("..." if len(text) > _SHOWN else "")


class IdentifierError(ValueError):
    """An identifier value that cannot be stored. `reason` reads after the value ("is empty")."""

    def __init__(self, kind: str, value, reason: str):
        self.kind, self.value, self.reason = kind, value, reason
        super().__init__(f"{kind}: “{_shown(value)}” {reason}")


def hidden_problem(text: str) -> str | None:
    """Why `text` holds a character no identifier may hold inside, named by code point, or None.

    Control characters and lone surrogates (`text_problem`), and invisible format characters and
    line/paragraph separators (Unicode categories Cf, Zl, Zp: zero-width characters, bidi
    controls, soft hyphen, U+2028).
    """
    problem = text_problem(text)
    if problem or text.isascii():
        return problem
    found = [char for char in text if char in ZERO_WIDTH or unicodedata.category(char) in ("Cf", "Zl", "Zp")]
    if not found:
        return None
    return "contains " + ", ".join(describe_char(char) for char in dict.fromkeys(found))


def _prepare(kind: str, value: str) -> str:
    """`value` trimmed of invisible edges; IdentifierError if empty, too long or holding hidden characters."""
    text = strip_invisible(value)
    if not text:
        raise IdentifierError(kind, value, "is empty")
    if len(text) > _MAX_BEFORE_NFC:
        raise IdentifierError(kind, value, f"is longer than {MAX_LENGTH} characters")
    problem = hidden_problem(text)
    if problem:
        raise IdentifierError(kind, value, problem)
    return text


def _fits(kind: str, value, stored: str) -> str:
    if len(stored) > MAX_LENGTH:
        raise IdentifierError(kind, value, f"is longer than {MAX_LENGTH} characters")
    return stored


_UNICODE_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")


def _parse_phone(value: str, region: str, kind: str) -> phonenumbers.PhoneNumber:
    """The valid phone number `value` denotes (extension included), or IdentifierError."""
    text = strip_invisible(value)
    if _NANP_E164.fullmatch(text):
        # What phonenumbers.parse makes of it, whatever the default region, without its scanning of
        # the text (two thirds of the cost of a number): "+", calling code 1, and ten digits that
        # cannot start with North America's national prefix (1) or a leading zero.
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(text[2:]))
    else:
        text = _prepare(kind, value)
        if not text.isascii():
            # Spaces as locales write them between digit groups (U+202F NARROW NO-BREAK SPACE in
            # French, U+00A0, U+2009 ...), which phonenumbers does not take for separators.
            text = _UNICODE_SPACES.sub(" ", text)
        try:
            number = phonenumbers.parse(text, (region or "US").upper())
        except phonenumbers.NumberParseException:
            raise IdentifierError(kind, value, "is not a phone number") from None
    if not _is_valid_number(number):
        if text.lstrip().startswith("+"):  # its own country code: the default region played no part
            raise IdentifierError(kind, value, f"is not a valid phone number of country code +{number.country_code}")
        raise IdentifierError(kind, value, f"is not a valid phone number (default region {region})")
    return number


def normalize_phone(value: str, region: str = "US", *, kind: str = "phone") -> str:
    """E.164 (``+14155550150``), with ``;ext=12`` appended when the number has an extension.

    `region` is the ISO 3166 region read for numbers without a country code. Raises
    IdentifierError naming `kind` for text that is not a valid number (phonenumbers'
    `is_valid_number`). The last few thousand answers are remembered (a pure function of its
    arguments; errors are not remembered): a webhook reads the same number three or four times.
    """
    if isinstance(value, str) and isinstance(region, str):
        return _normalize_phone_remembered(value, region, kind)
    return _normalize_phone(value, region, kind)


@functools.lru_cache(maxsize=4096)
def _normalize_phone_remembered(value: str, region: str, kind: str) -> str:
    return _normalize_phone(value, region, kind)


def _normalize_phone(value, region: str, kind: str) -> str:
    number = _parse_phone(value, region, kind)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension:
        # RFC 3966 section 5.1.5's "ext" parameter; digits in ASCII whatever script they came in.
        e164 += EXTENSION_MARK + phonenumbers.normalize_digits_only(number.extension)
    return _fits(kind, value, e164)


def normalize_whatsappid(value: str, region: str = "US") -> str:
    """``whatsapp:+E164``; `value` with or without the ``whatsapp:`` prefix. IdentifierError otherwise."""
    text = strip_invisible(value)
    if text[: len(WHATSAPP_PREFIX)].lower() == WHATSAPP_PREFIX:
        text = text[len(WHATSAPP_PREFIX) :]
    if not strip_invisible(text):
        raise IdentifierError("whatsappid", value, "is empty")
    number = _parse_phone(text, region, "whatsappid")
    if number.extension:
        raise IdentifierError(
            "whatsappid", value, f"has a phone extension (ext. {number.extension}); a WhatsApp id has none"
        )
    return WHATSAPP_PREFIX + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A North American number written in E.164, the usual form of phone columns in CRM exports.
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}")


def _is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, with one pattern check instead of two for a number of the
    first region of a shared calling code (a US number among the +1 regions: most of an import's).

    is_valid_number first finds the number's region among those sharing its calling code: the first
    one (when it is not told apart by leading digits) whose patterns the number matches. Then it
    checks the number against that region's patterns a second time. A number the first region's
    patterns accept is therefore valid; any other goes the usual way.
    """
    first = _first_region(number.country_code)
    if first is not None and phonenumbers.is_valid_number_for_region(number, first):
        return True
    return phonenumbers.is_valid_number(number)


@functools.cache
def _first_region(country_code: int) -> str | None:
    """The region is_valid_number finds by pattern first, where a calling code has several."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) < 2:
        return None  # one region: is_valid_number checks the patterns once already
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(regions[0], None)
    if metadata is None or metadata.leading_digits is not None:
        return None  # found by its leading digits, not by its patterns
    return regions[0]


# The fast path for a usual ASCII address, compiled once (imports check a million addresses): a
# dot-atom local part (RFC 5322 3.2.3, email-validator's DOT_ATOM_TEXT) and a host name of letters,
# digits and inner hyphens ending in a top-level domain of letters. Everything else (non-ASCII text,
# "--" anywhere in the domain, which covers Punycode "xn--" labels and RFC 5890's reserved
# "ab--" labels, special-use domains, over 254 characters) goes through email-validator, whose
# answer for these addresses is the same: tests compare the two.
_DOT_ATOM = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*\Z")
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
_EMAIL_MAX = EMAIL_MAX_LENGTH  # 254, RFC 5321 4.5.3.1.3
# email-validator refuses these domains and their subdomains; "test" is allowed below.
_SPECIAL_USE = tuple(name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name != "test")
_SPECIAL_USE_SUFFIXES = tuple("." + name for name in _SPECIAL_USE)


def normalize_email(value: str) -> str:
    """The stored form of an email address: email-validator's ``normalized`` form, lower-cased, NFC.

    Raises IdentifierError ("is not a valid email address (<the library's reason>)") for anything
    email-validator refuses with ``check_deliverability=False`` (no DNS) and ``test_environment=True``
    (which only allows the ``.test`` domain), and for an address longer than 255 characters.
    """
    if value.isascii():
        lowered = value.strip().lower()  # strip_invisible, for ASCII text
        user, at, domain = lowered.rpartition("@")
        if (
            at
            and len(lowered) <= _EMAIL_MAX
            and _DOT_ATOM.match(user)
            and _HOST.match(domain)
            and "--" not in domain
            and not domain.endswith(_SPECIAL_USE_SUFFIXES)
        ):
            return lowered
    return _fits("email", value, _email_by_library(value))


def _email_by_library(value: str) -> str:
    """normalize_email without its fast path."""
    text = _prepare("email", value)
    if len(text) > MAX_LENGTH:
        raise IdentifierError("email", value, f"is longer than {MAX_LENGTH} characters")
    try:
        checked = email_validator.validate_email(text, check_deliverability=False, test_environment=True)
    except email_validator.EmailNotValidError as exc:
        raise IdentifierError("email", value, f"is not a valid email address ({exc})") from None
    # The library lower-cases the domain (UTS #46) but keeps the local part's case; we match any case.
    return text_nfc(checked.normalized.lower())


def normalize_identifier(kind: str, value, *, region: str = "US") -> str:
    """The stored form of `value` for `kind` (a str of at most 255 characters), or IdentifierError.

    `value` must be a str (callers that take a whole number from a mapped number trait pass its
    digits); `region` is the store's default phone region. The error's
    `reason` says why ("is empty", "must be text", "contains U+0000 NULL", "is longer than 255
    characters", "is not a valid email address (...)") and its message names kind and value.
    """
    if not isinstance(value, str):
        raise IdentifierError(kind, value, "must be text")
    if kind == "phone":
        return normalize_phone(value, region)
    if kind == "email":
        return normalize_email(value)
    if kind == "whatsappid":
        return normalize_whatsappid(value, region)
    if value.isascii():
        text = value.strip()  # strip_invisible, for ASCII text
        if text and len(text) <= MAX_LENGTH and not _ASCII_CONTROL.search(text):
            return text  # ASCII text is NFC
    return _fits(kind, value, text_nfc(_prepare(kind, value)))


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


KIND_MAX_LENGTH = 64  # an identifier kind's name (IdentityRule.kind, Identifier.kind)


def identifier_reference(text: str, *, region: str = "US") -> tuple[str, str]:
    """(kind, stored value) of an identifier written `kind:value`, as the API takes one in a path
    or a query (`phone:+14155550100`, `email:ada@example.com`): the value normalised by
    `normalize_identifier`, the kind at most 64 characters of storable text. Raises ValueError
    with a message for the user (IdentifierError for the value)."""
    kind, sep, value = text.partition(":")
    if not sep or not kind or not value:
        raise ValueError("Write the identifier as kind:value, e.g. phone:+14155550100.")
    problem = text_problem(kind)
    if problem or len(kind) > KIND_MAX_LENGTH:
        raise ValueError(f"The identifier kind {problem or f'is longer than {KIND_MAX_LENGTH} characters'}.")
    return kind, normalize_identifier(kind, value, region=region)
