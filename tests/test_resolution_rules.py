"""The rules issue 14 added, on every path: limits keep the customer's best identifier
(Segment Unify: drop the event's lowest-priority identifiers and resolve again)."""

import pytest

from identity.models import Identifier
from identity.resolution import Code, Facts, RuleSet, plan
from identity.services import identity_rule_update, profile_identify, profiles_identify_batch
from imports.models import ImportRowError, ImportStatus
from profiles.models import Profile

from .imports_helpers import CONTACT, csv_text, run

pytestmark = pytest.mark.django_db

PLACEHOLDER = "none@example.com"
PEOPLE = [("Ann", 1), ("Bob", 2), ("Cy", 3), ("Di", 4), ("Ed", 5), ("Flo", 6), ("Gus", 7)]


def _phone(n: int) -> str:
    return f"+1415555{n:04d}"


def _live(store):
    """{frozenset of identifiers: first name} of the store's live profiles."""
    found = {}
    for profile in Profile.objects.filter(store=store, merged_into__isnull=True):
        pairs = frozenset(Identifier.objects.filter(profile=profile).values_list("kind", "value"))
        found[pairs] = profile.traits.get("Contact", {}).get("firstName")
    return found


def _expected_three():
    first_five = frozenset({("email", PLACEHOLDER)} | {("phone", _phone(n)) for _, n in PEOPLE[:5]})
    return {
        first_five: "Ed",
        frozenset({("phone", _phone(6))}): "Flo",
        frozenset({("phone", _phone(7))}): "Gus",
    }


def test_seven_people_sharing_a_placeholder_email_end_as_three_profiles_one_by_one(store):
    """Phone (priority 1, limit 5) outranks email: once the email's profile holds five phones, the
    sixth and seventh people keep their phone on a profile of their own, with their own name."""
    results = [
        profile_identify(
            store=store,
            identifiers=[("phone", _phone(n)), ("email", PLACEHOLDER)],
            traits={"Contact": {"firstName": name}},
            source="test",
        )
        for name, n in PEOPLE
    ]
    assert _live(store) == _expected_three()
    assert [n.code for n in results[5].notes] == [Code.LOWER_PRIORITY_DROPPED]
    note = results[5].notes[0]
    assert (note.kind, note.value, note.instead, note.limit) == ("email", PLACEHOLDER, ("phone", _phone(6)), 5)
    assert results[5].created and results[6].created


def test_seven_people_sharing_a_placeholder_email_end_as_three_profiles_in_a_batch(store):
    results = profiles_identify_batch(
        store=store,
        items=[
            {"identifiers": [("phone", _phone(n)), ("email", PLACEHOLDER)], "traits": {"Contact": {"firstName": name}}}
            for name, n in PEOPLE
        ],
        source="test",
    )
    assert _live(store) == _expected_three()
    assert [n.code for n in results[6].notes] == [Code.LOWER_PRIORITY_DROPPED]


def test_seven_people_sharing_a_placeholder_email_end_as_three_profiles_from_a_file(store):
    finished = run(
        store,
        csv_text(*(f"{PLACEHOLDER},{_phone(n)},{name},X" for name, n in PEOPLE)),
        CONTACT,
    )
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert _live(store) == _expected_three()
    notes = ImportRowError.objects.filter(profile_import=finished, row_failed=False).order_by("line")
    assert [(n.line, n.column, n.value, n.code) for n in notes] == [
        (7, "email", PLACEHOLDER, Code.LOWER_PRIORITY_DROPPED),
        (8, "email", PLACEHOLDER, Code.LOWER_PRIORITY_DROPPED),
    ]
    assert f"so phone {_phone(6)} starts or finds a profile of its own" in notes[0].reason


def test_an_identifier_of_higher_priority_than_the_full_kind_is_never_dropped_for_it(store):
    """The event matched through the phone (higher priority than email): a sixth email is simply
    not added, as before; the phone is not given up."""
    identity_rule_update(rule=store.identity_rules.get(kind="email"), actor=None, name="email", limit=1)
    first = profile_identify(store=store, identifiers=[("phone", _phone(1)), ("email", "a@example.com")], source="t")
    again = profile_identify(store=store, identifiers=[("phone", _phone(1)), ("email", "b@example.com")], source="t")
    assert again.profile.pk == first.profile.pk
    assert [(n.code, n.value) for n in again.notes] == [(Code.LIMIT_REACHED, "b@example.com")]


def test_the_planner_alone():
    """Database-free: the rule on plain data."""

    class Rule:
        def __init__(self, kind, limit):
            self.kind, self.limit, self.source = kind, limit, "api"
            self.blocked_values, self.limit_policy = [], "lifo"

    rules = RuleSet.of([Rule("phone", 1), Rule("email", 5)], region="US")
    holders = {("email", "x@example.com"): 10}
    profiles = {10: Facts((1, 10), {"phone": 1, "email": 1})}
    result = plan(rules, [("phone", "+1"), ("email", "x@example.com")], holders, profiles)
    assert result.primary is None and result.attach == [("phone", "+1")] and result.merges == []
    assert [n.code for n in result.notes] == [Code.LOWER_PRIORITY_DROPPED]
    unrelated = plan(rules, [("phone", "+1")], {}, {})
    assert unrelated.primary is None and unrelated.notes == []
