import pytest

from traits.coercion import DELETE, TraitValueError, coerce_trait_value


@pytest.mark.parametrize(
    "data_type, raw, expected",
    [
        ("string", "Ada", "Ada"),
        ("string", "  spaced  ", "  spaced  "),
        ("string", 42, "42"),
        ("string", -(10**30), "-" + "1" + "0" * 30),
        ("number", "42", 42),
        ("number", " -7 ", -7),
        ("number", "+3", 3),
        ("number", "3.25", 3.25),
        ("number", ".5", 0.5),
        ("number", "1e3", 1000),
        ("number", "2.0", 2),
        ("number", 12, 12),
        ("number", 1.5, 1.5),
        ("boolean", "true", True),
        ("boolean", "TRUE", True),
        ("boolean", "Yes", True),
        ("boolean", "1", True),
        ("boolean", "false", False),
        ("boolean", "No", False),
        ("boolean", " 0 ", False),
        ("boolean", True, True),
        ("boolean", 0, False),
        ("array", "red;green; blue ", ["red", "green", "blue"]),
        ("array", "solo", ["solo"]),
        ("array", "a;;b;", ["a", "b"]),
        ("array", '["x", 2, true]', ["x", 2, True]),
        ("array", ["already", "a", "list"], ["already", "a", "list"]),
    ],
)
def test_raw_values_are_coerced_to_the_trait_type(data_type, raw, expected):
    value = coerce_trait_value(data_type, raw, label="G.t")
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("data_type", ["string", "number", "boolean", "array"])
def test_empty_string_sets_the_empty_string_whatever_the_type(data_type):
    assert coerce_trait_value(data_type, "") == ""


@pytest.mark.parametrize("data_type", ["string", "number", "boolean", "array"])
@pytest.mark.parametrize("marker", ["\\N", None])
def test_deletion_marker_means_remove_the_trait(data_type, marker):
    assert coerce_trait_value(data_type, marker) is DELETE


@pytest.mark.parametrize(
    "data_type, raw, reason",
    [
        ("number", "NaN", "is not a number"),
        ("number", "inf", "is not a number"),
        ("number", "-Infinity", "is not a number"),
        ("number", float("nan"), "is not a finite number"),
        ("number", float("inf"), "is not a finite number"),
        ("number", "1e999", "is too large"),
        ("number", "12abc", "is not a number"),
        ("number", "1,5", "is not a number"),
        ("number", True, "is not a number"),
        ("number", [1], "is not a number"),
        ("boolean", "maybe", "is not a boolean"),
        ("boolean", "2", "is not a boolean"),
        ("boolean", 2, "is not a boolean"),
        ("array", "[1, 2", "is not a valid JSON array"),
        ("array", '[{"a": 1}]', "holds objects"),
        ("array", "[[1]]", "holds objects"),
        ("array", 5, "is not an array"),
        ("string", True, "is not text"),
        ("string", {"a": 1}, "is not text"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_trait_and_value(data_type, raw, reason):
    with pytest.raises(TraitValueError) as info:
        coerce_trait_value(data_type, raw, label="Loyalty.points")
    message = str(info.value)
    assert message.startswith("Loyalty.points: ")
    assert reason in message
