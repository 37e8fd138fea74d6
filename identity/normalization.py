"""Normalise identifier values so one customer's identifier is stored, matched and searched one way.

- phone: E.164 via `phonenumbers`, using the store's default region for numbers without a country code;
- email: trimmed, lower-cased, syntax-checked;
- whatsappid: ``whatsapp:+E164``, accepted with or without the ``whatsapp:`` prefix;
- chat and custom kinds: trimmed, non-empty, at most 255 characters.
"""

import functools
import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_email

MAX_LENGTH = 255
WHATSAPP_PREFIX = "whatsapp:"


class IdentifierError(ValueError):
    def __init__(self, kind: str, value, reason: str):
        self.kind, self.value, self.reason = kind, value, reason
        super().__init__(f"{kind}: “{value}” {reason}")


def normalize_phone(value: str, region: str = "US", *, kind: str = "phone") -> str:
    text = value.strip()
    if _NANP_E164.fullmatch(text):
        # What phonenumbers.parse makes of it, whatever the default region, without its scanning of
        # the text (two thirds of the cost of a number): "+", calling code 1, and ten digits that
        # cannot start with North America's national prefix (1) or a leading zero.
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(text[2:]))
    else:
        try:
            number = phonenumbers.parse(text, (region or "US").upper())
        except phonenumbers.NumberParseException:
            raise IdentifierError(kind, value, "is not a phone number") from None
    if not _is_valid_number(number):
        raise IdentifierError(kind, value, f"is not a valid phone number (default region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


# The two checks Django's EmailValidator passes a usual address with (dot-atom local part, host
# name domain), compiled once: its lazily compiled patterns cost more than the match, and imports
# check a million addresses. Whatever these do not accept goes through the validator itself.
_DOT_ATOM = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*\Z", re.IGNORECASE)
_DOMAIN = re.compile(
    "^" + EmailValidator.hostname_re + EmailValidator.domain_re + EmailValidator.tld_no_fqdn_re + r"\Z",
    re.IGNORECASE,
)


def normalize_email(value: str) -> str:
    text = value.strip().lower()
    user, at, domain = text.rpartition("@")
    if at and len(text) <= 320 and _DOT_ATOM.match(user) and _DOMAIN.match(domain):
        return text
    try:
        validate_email(text)
    except ValidationError:
        raise IdentifierError("email", value, "is not a valid email address") from None
    return text


def normalize_identifier(kind: str, value, *, region: str = "US") -> str:
    """The stored form of `value` for `kind`, or IdentifierError naming both."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise IdentifierError(kind, value, "must be text")
    value = str(value)
    if not value.strip():
        raise IdentifierError(kind, value, "is empty")
    if kind == "phone":
        return normalize_phone(value, region)
    if kind == "email":
        return normalize_email(value)
    if kind == "whatsappid":
        text = value.strip()
        if text.lower().startswith(WHATSAPP_PREFIX):
            text = text[len(WHATSAPP_PREFIX) :]
        return WHATSAPP_PREFIX + normalize_phone(text, region, kind="whatsappid")
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise IdentifierError(kind, value[:40] + "...", f"is longer than {MAX_LENGTH} characters")
    return text
