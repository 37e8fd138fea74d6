"""The one rule for text that reaches us (CSV cells, API JSON, console forms, query strings).

Every path that stores or matches text calls this module, so a value is accepted or refused the
same way wherever it comes from:

- **Canonical form**: stored text is Unicode NFC (``e`` + U+0301 is stored as ``é``), and searches
  normalise their query the same way.
- **Never text**: lone surrogates (U+D800 to U+DFFF; JSON's ``"\\ud800"`` escape makes them), which
  no database can store, and control characters (Unicode category Cc: U+0000 to U+001F and U+007F
  to U+009F), of which only tab, line feed and carriage return are allowed, and only in multi-line
  text such as string trait values and descriptions.
- **Invisible characters** are named by code point in every message (``contains U+200B ZERO WIDTH
  SPACE``), never printed raw. `strip_invisible` trims Unicode white space (NBSP included) and the
  zero-width characters around identifiers.
- **Length**: one value holds at most `MAX_VALUE_LENGTH` characters (1 MB), the CSV cell limit.

Rules for *names* (CSV headers, trait and group names: the seed's character list and spacing
rules) are in `traits/charset.py`; they are stricter and apply on top of this one.
"""

import re
import unicodedata

MAX_VALUE_LENGTH = 1024 * 1024
MAX_VALUE_MESSAGE = "is longer than 1 MB (1,048,576 characters)"

# Names of the C0 controls and DELETE, which unicodedata.name() does not know (Unicode gives
# control characters no name, only these aliases).
_C0_NAMES = (
    "NULL",
    "START OF HEADING",
    "START OF TEXT",
    "END OF TEXT",
    "END OF TRANSMISSION",
    "ENQUIRY",
    "ACKNOWLEDGE",
    "BELL",
    "BACKSPACE",
    "CHARACTER TABULATION",
    "LINE FEED",
    "LINE TABULATION",
    "FORM FEED",
    "CARRIAGE RETURN",
    "SHIFT OUT",
    "SHIFT IN",
    "DATA LINK ESCAPE",
    "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO",
    "DEVICE CONTROL THREE",
    "DEVICE CONTROL FOUR",
    "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE",
    "END OF TRANSMISSION BLOCK",
    "CANCEL",
    "END OF MEDIUM",
    "SUBSTITUTE",
    "ESCAPE",
    "INFORMATION SEPARATOR FOUR",
    "INFORMATION SEPARATOR THREE",
    "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
)

# Characters that never show: trimmed around identifiers, named by code point in messages.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# Unicode white space (str.isspace, what the regex class \s matches: none lies above U+3000) and the
# zero-width characters, as one set for str.strip, which is linear where a "[...]+$" pattern costs
# quadratic time on a long run of spaces inside the text.
_INVISIBLE_EDGE_CHARS = "".join(chr(code) for code in range(0x3001) if chr(code).isspace()) + ZERO_WIDTH

_CONTROL_SINGLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTI = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class TextError(ValueError):
    """Text that cannot be stored; `reason` reads after the value, e.g. "contains U+0000 NULL"."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def describe_char(char: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character named by code point, safe to print anywhere."""
    code = ord(char)
    if code < 0x20:
        name = _C0_NAMES[code]
    elif code == 0x7F:
        name = "DELETE"
    elif code == 0x85:
        name = "NEXT LINE"
    elif 0xD800 <= code <= 0xDFFF:
        name = "(a lone surrogate, not a character)"
    else:
        name = unicodedata.name(char, "")
        if not name:
            name = "CONTROL CHARACTER" if unicodedata.category(char) == "Cc" else "(unnamed character)"
    return f"U+{code:04X} {name}"


def shows_raw(char: str) -> bool:
    """Whether `char` can be printed as itself in a message (it is visible and stands alone)."""
    if char == " ":
        return True
    category = unicodedata.category(char)
    return char.isprintable() and category[0] not in "MCZ" and char not in ZERO_WIDTH


def text_visible(text: str) -> str:
    """`text` with every character that would not show (tab and line breaks included) written as
    ``<U+200B>``: for messages and pages that quote a value, so a hidden character is never
    printed raw."""
    if text.isascii() and not _CONTROL_SINGLE.search(text):
        return text
    return "".join(c if shows_raw(c) else f"<U+{ord(c):04X}>" for c in text)


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """Why `text` cannot be stored as text (``"contains U+0000 NULL"``), or None.

    `multiline` allows tab, line feed and carriage return. Surrogates and every other control
    character are refused. Length is not checked here (`text_clean` does).
    """
    found = (_CONTROL_MULTI if multiline else _CONTROL_SINGLE).findall(text)
    if not found:
        return None
    return "contains " + ", ".join(describe_char(char) for char in dict.fromkeys(found))


def text_clean(text: str, *, multiline: bool = False, max_length: int | None = MAX_VALUE_LENGTH) -> str:
    """`text` in NFC, or TextError with the reason (control character, surrogate, over the length).

    The ASCII case costs one regex scan: ASCII text is already NFC.
    """
    problem = text_problem(text, multiline=multiline)
    if problem:
        raise TextError(problem)
    if max_length is not None and len(text) > max_length:
        long = MAX_VALUE_MESSAGE if max_length == MAX_VALUE_LENGTH else f"is longer than {max_length:,} characters"
        raise TextError(long)
    return text_nfc(text)


def display_name_clean(name: str | None, *, max_length: int) -> str:
    """A name people give a thing (a memory store, a conversation configuration): NFC, runs of
    spaces made one, trimmed; TextError ("is required", "contains U+202E RIGHT-TO-LEFT OVERRIDE (an
    invisible character)", "can have at most 32 characters", or `text_clean`'s reasons) otherwise.
    Invisible format characters (Unicode category Cf) would show as a name that reads differently
    from what it is."""
    name = text_clean(name or "", max_length=None)
    hidden = [char for char in dict.fromkeys(name) if unicodedata.category(char) == "Cf"]
    if hidden:
        raise TextError(f"contains {', '.join(describe_char(char) for char in hidden)} (an invisible character)")
    name = " ".join(name.split())
    if not name:
        raise TextError("is required")
    if len(name) > max_length:
        raise TextError(f"can have at most {max_length} characters")
    return name


def description_clean(text: str | None, *, max_length: int) -> str:
    """A description (stores, trait groups, traits): multi-line text in NFC, trimmed, at most
    `max_length` characters; TextError otherwise ("contains U+0000 NULL", "can have at most 500
    characters")."""
    text = text_clean(text or "", multiline=True, max_length=None).strip()
    if len(text) > max_length:
        raise TextError(f"can have at most {max_length:,} characters")
    return text


def text_nfc(text: str) -> str:
    """`text` in Unicode NFC (cheap when it already is: ASCII, or most real text)."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def strip_invisible(text: str) -> str:
    """`text` without leading or trailing Unicode white space (NBSP too) and zero-width characters."""
    if text.isascii():
        return text.strip()
    return text.strip(_INVISIBLE_EDGE_CHARS)


def never_storable(text: str) -> list[str]:
    """The distinct characters of `text` that no database stores (NUL, lone surrogates), in order."""
    return list(dict.fromkeys(_NEVER_STORABLE.findall(text)))


_NEVER_STORABLE = re.compile(r"[\x00\ud800-\udfff]")
