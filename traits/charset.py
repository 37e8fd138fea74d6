"""The characters the product allows in trait and group names, CSV headers and CSV cells.

From the seed (CSV rules): English letters in both cases, the numerals 0-9, the special
characters ``!@#$%^&*()_+-=[]{}:\\|.`~<>/?`` and a list of non-English letters. We read the
stray ``1`` and ``2`` inside that list as footnote marks (digits are allowed anyway) and allow
``Â``, the capital of the listed ``â`` that the ``2`` displaced. Single spaces between words are
allowed; leading, trailing or consecutive spaces are not. Text is NFC-normalised first, so a
letter typed as base letter + combining accent counts as the listed letter.
"""

import string
import unicodedata

from memory_console.text import describe_char, shows_raw

SPECIAL = "!@#$%^&*()_+-=[]{}:\\|.`~<>/?"
NON_ENGLISH = (
    "àáâäǎæãåāçćčċďðḍèéêëěẽēėęğġgg͟hħḥh̤ìíîïǐĩīıįķk͟hłļľl̥ṁm̐òóôöǒœøõōřṛr̥ɽßşșśšṣs̤s̱sțťþṭt̤ʈùúûüǔũūűůŵýŷÿźžżẓz̤"
    "ÀÁÂÄǍÆÃÅĀÇĆČĊĎÐḌÈÉÊËĚẼĒĖĘĞĠGG͟HĦḤH̤ÌÍÎÏǏĨĪIĮĶK͟HŁĻĽL̥ṀM̐ÒÓÔÖǑŒØÕŌŘṚR̥ɌSẞŚŠŞȘṢS̤S̱ȚŤÞṬT̤ƮÙÚÛÜǓŨŪŰŮŴÝŶŸŹŽŻẒZ"
)
ALLOWED = frozenset(string.ascii_letters + string.digits + SPECIAL + " " + NON_ENGLISH)


def disallowed_characters(text: str) -> list[str]:
    """The distinct characters of `text` outside the allowed set, in order of appearance."""
    seen: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        if char not in ALLOWED and char not in seen:
            seen.append(char)
    return seen


def describe(char: str) -> str:
    """“é” for a character that shows, else its code point and name (`memory_console.text.describe_char`)."""
    if char == " ":
        return "space"
    if shows_raw(char):
        return f"“{char}”"
    return describe_char(char)


def spacing_problem(text: str) -> str | None:
    if text != text.strip():
        return "must not start or end with a space"
    if "  " in text:
        return "must not contain consecutive spaces"
    other = [c for c in dict.fromkeys(text) if c.isspace() and c != " "]
    if other:
        return "must not contain " + ", ".join(describe_char(c) for c in other) + " (only single spaces)"
    return None


def name_problem(text: str) -> str | None:
    """Why `text` is not an acceptable name, or None. Used for trait/group names and CSV headers."""
    if not text:
        return "is required"
    problem = spacing_problem(text)
    if problem:
        return problem
    bad = disallowed_characters(text)
    if bad:
        return "contains characters that are not allowed: " + ", ".join(describe(c) for c in bad)
    return None
