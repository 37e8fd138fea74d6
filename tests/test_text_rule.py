"""The one text rule (memory_console/text.py) that every path calls for values and names."""

import pytest

from memory_console.text import (
    MAX_VALUE_LENGTH,
    TextError,
    describe_char,
    strip_invisible,
    text_clean,
    text_problem,
)


def test_nfd_text_is_stored_as_nfc():
    assert text_clean("Jose\u0301") == "Jos\u00e9"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a\x00b", "contains U+0000 NULL"),
        ("a\ud800", "contains U+D800 (a lone surrogate, not a character)"),
        ("a\tb", "contains U+0009 CHARACTER TABULATION"),
        ("a\x1bb\x7f", "contains U+001B ESCAPE, U+007F DELETE"),
    ],
)
def test_control_characters_and_surrogates_are_named_by_code_point(text, reason):
    with pytest.raises(TextError) as caught:
        text_clean(text)
    assert caught.value.reason == reason


def test_multiline_text_keeps_tabs_and_line_breaks_but_not_nul():
    assert text_clean("1 Main St\r\nApt\t2", multiline=True) == "1 Main St\r\nApt\t2"
    assert text_problem("a\x00\n", multiline=True) == "contains U+0000 NULL"


def test_any_script_punctuation_and_emoji_are_text():
    for value in ["O'Brien", "Nuñez", "1 Main St, Apt 2", "Иван", "李小龍", "👩‍👩‍👧", 'say "hi"; ok']:
        assert text_clean(value) == value


def test_length_limit_is_one_megabyte_of_characters():
    assert text_clean("x" * MAX_VALUE_LENGTH) == "x" * MAX_VALUE_LENGTH
    with pytest.raises(TextError, match="longer than 1 MB"):
        text_clean("x" * (MAX_VALUE_LENGTH + 1))


def test_strip_invisible_trims_unicode_spaces_and_zero_width_characters():
    assert strip_invisible("\u00a0\u200b a b\ufeff\u2003") == "a b"
    assert strip_invisible(" plain ") == "plain"


def test_invisible_characters_are_described_not_printed():
    assert describe_char("\u200b") == "U+200B ZERO WIDTH SPACE"
    assert describe_char("\u00a0") == "U+00A0 NO-BREAK SPACE"


def test_text_visible_writes_every_hidden_character_by_code_point_and_keeps_the_rest():
    from memory_console.text import text_visible

    assert text_visible("plain text, O'Brien") == "plain text, O'Brien"
    assert text_visible("A\x01B\tC\u0085D\u200bE Nuñez 李") == "A<U+0001>B<U+0009>C<U+0085>D<U+200B>E Nuñez 李"
