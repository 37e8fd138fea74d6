"""Each trait value keeps the time and source of its last change, however the stamps are stored
(profiles.stamps: the most common stamp once, the others per value)."""

from datetime import UTC, datetime, timedelta

from profiles.services import trait_values_apply, trait_values_fill
from profiles.stamps import SHARED, trait_stamp
from traits.coercion import DELETE

T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2 = T1 + timedelta(days=1)


def _stamps(traits, sources):
    return {(g, n): trait_stamp(sources, g, n) for g, values in traits.items() for n in values}


def _fresh():
    traits, sources = {}, {}
    typed = {"Contact": {"firstName": "Ada", "lastName": "Byron", "city": "London"}, "Shop": {"tier": "gold"}}
    trait_values_apply(traits=traits, sources=sources, typed=typed, source="import:1", at=T1)
    return traits, sources


def test_values_written_together_store_their_stamp_once():
    traits, sources = _fresh()
    assert sources == {SHARED: [T1.isoformat(), "import:1"]}
    stamps = _stamps(traits, sources)
    assert len(stamps) == 4 and all(s == [T1.isoformat(), "import:1"] for s in stamps.values())


def test_changing_one_value_stamps_only_that_value():
    traits, sources = _fresh()
    trait_values_apply(traits=traits, sources=sources, typed={"Contact": {"city": "Paris"}}, source="api:x", at=T2)
    stamps = _stamps(traits, sources)
    assert stamps[("Contact", "city")] == [T2.isoformat(), "api:x"]
    assert stamps[("Contact", "firstName")] == stamps[("Shop", "tier")] == [T1.isoformat(), "import:1"]


def test_changing_most_values_keeps_the_old_stamp_of_the_unchanged_ones():
    traits, sources = _fresh()
    typed = {"Contact": {"firstName": "Augusta", "lastName": "King", "city": "London"}, "Shop": {"tier": "silver"}}
    changed = trait_values_apply(traits=traits, sources=sources, typed=typed, source="import:2", at=T2)
    assert sorted(changed) == ["Contact.firstName", "Contact.lastName", "Shop.tier"]
    stamps = _stamps(traits, sources)
    assert stamps[("Contact", "city")] == [T1.isoformat(), "import:1"]  # unchanged value, old stamp
    for path in [("Contact", "firstName"), ("Contact", "lastName"), ("Shop", "tier")]:
        assert stamps[path] == [T2.isoformat(), "import:2"]
    assert sources[SHARED] == [T2.isoformat(), "import:2"]  # the common one is stored once


def test_deleted_value_leaves_the_others_stamps_alone():
    traits, sources = _fresh()
    trait_values_apply(traits=traits, sources=sources, typed={"Shop": {"tier": DELETE}}, source="api:x", at=T2)
    assert "tier" not in traits["Shop"]
    assert all(s == [T1.isoformat(), "import:1"] for s in _stamps(traits, sources).values())


def test_merge_fills_gaps_with_the_other_profiles_stamps():
    traits, sources = _fresh()
    other_traits, other_sources = {}, {}
    trait_values_apply(
        traits=other_traits,
        sources=other_sources,
        typed={"Contact": {"firstName": "Other", "phone2": "x"}},
        source="api:crm",
        at=T2,
    )
    trait_values_fill(traits=traits, sources=sources, other_traits=other_traits, other_sources=other_sources)
    stamps = _stamps(traits, sources)
    assert traits["Contact"]["firstName"] == "Ada" and stamps[("Contact", "firstName")][1] == "import:1"
    assert traits["Contact"]["phone2"] == "x" and stamps[("Contact", "phone2")] == [T2.isoformat(), "api:crm"]


def test_per_value_stamps_written_before_sharing_are_still_read():
    sources = {"Contact": {"firstName": ["2026-01-01T00:00:00+00:00", "import:0"]}}
    assert trait_stamp(sources, "Contact", "firstName") == ["2026-01-01T00:00:00+00:00", "import:0"]
    assert trait_stamp(sources, "Contact", "lastName") is None
