"""Capture rules: which of a business's addresses a conversation configuration takes traffic from.

A rule is a channel and a pattern: an address written in its stored form (one rule per kind of
value: SMS, RCS and Voice numbers are phone numbers in E.164, `identity.normalization.normalize_phone`;
WhatsApp senders `whatsapp:+E164`, `normalize_whatsappid`; chat channels text, the chat identifier
rule), or a `*` wildcard: `*` alone takes every address of the channel, `+1415*` (digits then `*`)
every number starting so. The most specific rule wins an address: an exact address, then the
longest prefix, then `*` (`capturing`).
"""

import re

from identity.normalization import IdentifierError, normalize_identifier, normalize_phone, normalize_whatsappid

from .lifecycle import Channel

WILDCARD = "*"
_PHONE_PREFIX = re.compile(r"\+[0-9]{1,14}\*")
_PHONE_CHANNELS = {Channel.SMS, Channel.RCS, Channel.VOICE}


class CaptureError(ValueError):
    """A capture pattern that cannot be used; the message names the channel and the value."""


def capture_pattern(channel: str, raw, *, region: str = "US") -> str:
    """The stored form of a capture pattern for `channel` (a Channel value), or CaptureError."""
    if channel not in Channel.values:
        raise CaptureError(f"“{channel}” is not a channel (one of {', '.join(Channel.values)})")
    if not isinstance(raw, str):
        raise CaptureError(f"{Channel(channel).label}: an address must be text")
    text = raw.strip()
    if text == WILDCARD:
        return WILDCARD
    compact = re.sub(r"[\s().-]", "", text)
    if channel == Channel.WHATSAPP and compact.lower().startswith("whatsapp:"):
        compact = compact[len("whatsapp:") :]
    if WILDCARD in text:
        if channel == Channel.CHAT or not _PHONE_PREFIX.fullmatch(compact):
            raise CaptureError(
                f"{Channel(channel).label}: “{raw}” is not a pattern: use `*` alone, or a number's "
                "first digits with its country code then `*` (+1415*)"
            )
        return ("whatsapp:" if channel == Channel.WHATSAPP else "") + compact
    return address_normalize(channel, text, region=region)


def address_normalize(channel: str, raw, *, region: str = "US") -> str:
    """The stored form of an address on `channel`: E.164 for SMS, RCS and Voice, `whatsapp:+E164`
    for WhatsApp, the chat identifier rule for Chat; CaptureError naming the channel otherwise."""
    if channel not in Channel.values:
        raise CaptureError(f"“{channel}” is not a channel (one of {', '.join(Channel.values)})")
    if not isinstance(raw, str):
        raise CaptureError(f"{Channel(channel).label}: an address must be text")
    try:
        if channel in _PHONE_CHANNELS:
            return normalize_phone(raw, region)
        if channel == Channel.WHATSAPP:
            return normalize_whatsappid(raw, region)
        return normalize_identifier("chat", raw, region=region)
    except IdentifierError as exc:
        raise CaptureError(f"{Channel(channel).label}: “{raw}” {exc.reason}") from None


# The identifier kind a customer's address is on each channel (identity resolution takes it).
IDENTIFIER_KIND = {
    Channel.SMS: "phone",
    Channel.RCS: "phone",
    Channel.VOICE: "phone",
    Channel.WHATSAPP: "whatsappid",
    Channel.CHAT: "chat",
}


def specificity(pattern: str) -> tuple[int, int]:
    """How specific a pattern is (higher wins): exact addresses, then longer prefixes, then `*`."""
    if pattern == WILDCARD:
        return (0, 0)
    if pattern.endswith(WILDCARD):
        return (1, len(pattern))
    return (2, len(pattern))


def matches(pattern: str, address: str) -> bool:
    """Whether a stored pattern takes a stored address (both of one channel)."""
    if pattern == WILDCARD:
        return True
    if pattern.endswith(WILDCARD):
        return address.startswith(pattern[:-1])
    return address == pattern
