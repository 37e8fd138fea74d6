import pytest

from traits.charset import name_problem


@pytest.mark.parametrize(
    "name",
    ["firstName", "Loyalty Tier", "a-b_c.d", "Préférences", "Straße", "x!@#$%^&*()_+-=[]{}:\\|.`~<>/?", "Ångström"],
)
def test_names_the_seed_allows_are_accepted(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name, problem",
    [
        ("", "is required"),
        (" leading", "must not start or end with a space"),
        ("trailing ", "must not start or end with a space"),
        ("two  spaces", "must not contain consecutive spaces"),
        ("tab\there", "must not contain U+0009 CHARACTER TABULATION (only single spaces)"),
        ("comma,name", "“,”"),
        ('quote"name', '“"”'),
        ("semi;colon", "“;”"),
        ("emoji😀", "“😀”"),
        ("cyrillicЖ", "“Ж”"),
    ],
)
def test_names_breaking_the_rules_are_refused_with_the_reason(name, problem):
    assert problem in name_problem(name)


@pytest.mark.parametrize(
    ("name", "hidden", "shown"),
    [
        ("Tier\x00", "\x00", "U+0000 NULL"),
        ("Tier\u200b2", "\u200b", "U+200B ZERO WIDTH SPACE"),
        ("Tier\u00a02", "\u00a0", "U+00A0 NO-BREAK SPACE"),
    ],
)
def test_invisible_characters_in_names_are_named_by_code_point_as_in_values(name, hidden, shown):
    problem = name_problem(name)
    assert shown in problem
    assert hidden not in problem  # never printed raw
