"""Exact JSON numbers (memory_console/jsonvalues.py) and the check every request body passes."""

from decimal import Decimal

import pytest

from memory_console.jsonvalues import JSONTooDeep, dumps, json_problem, loads


def test_numbers_a_float_would_round_come_back_exact():
    data = loads('{"a": 123456789012345678.5, "b": 1.0000000000000001, "c": 0.1, "d": 12345678901234567890123}')
    assert data == {
        "a": Decimal("123456789012345678.5"),
        "b": Decimal("1.0000000000000001"),
        "c": 0.1,
        "d": 12345678901234567890123,
    }
    assert isinstance(data["c"], float)
    assert dumps(data) == '{"a":123456789012345678.5,"b":1.0000000000000001,"c":0.1,"d":12345678901234567890123}'


def test_json_walk_names_the_path_of_a_nul_surrogate_or_non_finite_number():
    assert json_problem({"traits": {"Contact": {"firstName": "a\x00"}}}) == (
        ("traits", "Contact", "firstName"),
        "contains U+0000 NULL",
    )
    assert json_problem(loads('{"items": [{"ok": "x"}, {"id": "\\udc00"}]}'))[0] == ("items", 1, "id")
    assert json_problem(loads('{"e": [{"p": {"v": 1e400}}]}')) == (
        ("e", 0, "p", "v"),
        "is not a finite number (or is too large)",
    )
    assert json_problem(loads('{"v": NaN}'))[0] == ("v",)
    assert json_problem(loads('{"k\\u0000": 1}')) == (("k\x00",), "is a key that contains U+0000 NULL")
    assert json_problem({"fine": ["a\nb", 1.5, None, Decimal("1.0000000000000001")]}) is None


def test_json_walk_refuses_exact_numbers_beyond_what_postgresql_numeric_holds():
    assert json_problem(loads('{"p": {"v": 1e-20000}}')) == (
        ("p", "v"),
        "is a number with more digits than can be stored",
    )
    assert json_problem(loads('{"v": 1e-16383, "w": 123456789012345678.5}')) is None  # 16383 digits after the point fit


def test_dumps_refuses_a_non_finite_decimal_rather_than_writing_invalid_json():
    with pytest.raises(TypeError):
        dumps({"v": Decimal("NaN")})


@pytest.mark.parametrize("depth", [65, 1_000, 50_000])
def test_json_nested_more_than_64_levels_is_refused_as_a_value_error_however_deep(depth):
    with pytest.raises(JSONTooDeep, match="more than 64 levels deep") as refused:
        loads("[" * depth + "]" * depth)
    assert isinstance(refused.value, ValueError)  # callers that catch ValueError refuse it too
    with pytest.raises(JSONTooDeep):
        loads('{"a": ' * depth + "1" + "}" * depth)
    deepest = loads("[" * 63 + '{"a": 1}' + "]" * 63)  # 64 levels: allowed
    for _ in range(63):
        deepest = deepest[0]
    assert deepest == {"a": 1}
