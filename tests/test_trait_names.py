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
        ("tab\there", "must not contain tabs or line breaks"),
        ("comma,name", "“,”"),
        ('quote"name', '“"”'),
        ("semi;colon", "“;”"),
        ("emoji😀", "“😀”"),
        ("cyrillicЖ", "“Ж”"),
    ],
)
def test_names_breaking_the_rules_are_refused_with_the_reason(name, problem):
    assert problem in name_problem(name)
