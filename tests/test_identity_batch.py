"""A batch identify ends exactly where the same events identified one by one, in order, end."""

import pytest
from django.core.exceptions import ValidationError

from identity.models import Identifier, MergeRecord
from identity.services import profile_identify, profiles_identify_batch
from profiles.models import Event, Profile
from workspace.services import store_create


def _snapshot(store):
    """Everything identity resolution decides, without ids (the two runs use different stores)."""
    profiles = []
    for profile in Profile.objects.filter(store=store).order_by("id"):
        profiles.append(
            (
                tuple(sorted(Identifier.objects.filter(profile=profile).values_list("kind", "value"))),
                profile.traits,
                profile.merged_into_id is not None,
                tuple(sorted(Event.objects.filter(profile=profile).values_list("name", flat=True))),
            )
        )
    return sorted(profiles, key=repr), MergeRecord.objects.filter(store=store).count()


SEED = [
    {"identifiers": [("email", "p@example.com")], "traits": {"Contact": {"firstName": "P"}}},
    {"identifiers": [("phone", "+14155552671")], "traits": {"Contact": {"firstName": "Q", "lastName": "Q"}}},
    {"identifiers": [("chat", "r-1")], "traits": {"Contact": {"address": "R street"}}},
]
BATCH = [
    {"identifiers": [("email", "new1@example.com")], "traits": {"Contact": {"firstName": "N1"}}},
    {"identifiers": [("email", "P@example.com"), ("chat", "p-chat")], "traits": {"Contact": {"lastName": "Pe"}}},
    {"identifiers": [("email", "twice@example.com")], "traits": {"Contact": {"firstName": "First"}}},
    {"identifiers": [("email", "twice@example.com")], "traits": {"Contact": {"firstName": "Second"}}},
    # merges the chat profile into the phone profile (phone outranks chat)
    {"identifiers": [("phone", "(415) 555-2671"), ("chat", "r-1")], "traits": {"Contact": {"lastName": "Merged"}}},
    {"identifiers": [("chat", "r-1")], "traits": {"Contact": {"address": "After merge"}}},
    {"identifiers": [("email", "bad")], "traits": {}},
    {"identifiers": [("email", "e@example.com")], "events": [{"name": "signup"}]},
    {"identifiers": [("nope", "x")]},
]


@pytest.fixture
def two_stores(account):
    a = store_create(account=account, actor=None, name="One by one")
    b = store_create(account=account, actor=None, name="Batch")
    for store in (a, b):
        for item in SEED:
            profile_identify(store=store, source="seed", **item)
    return a, b


def test_a_batch_matches_identifying_each_event_in_order(two_stores):
    one_by_one, batch = two_stores
    expected = []
    for item in BATCH:
        try:
            expected.append(profile_identify(store=one_by_one, source="s", **item))
        except ValidationError as exc:
            expected.append(exc)
    results = profiles_identify_batch(store=batch, items=BATCH, source="s")
    assert [type(r).__name__ for r in results] == [type(r).__name__ for r in expected]
    for got, want in zip(results, expected, strict=True):
        if isinstance(want, ValidationError):
            assert got.messages == want.messages
        else:
            assert (got.created, got.added, [n.value for n in got.dropped], [n.kind for n in got.ignored]) == (
                want.created,
                want.added,
                [n.value for n in want.dropped],
                [n.kind for n in want.ignored],
            )
            assert len(got.merged_profile_ids) == len(want.merged_profile_ids)
    assert _snapshot(batch) == _snapshot(one_by_one)


def test_a_batch_respects_limits_for_new_and_matched_profiles(store):
    from identity.models import IdentityRule
    from identity.services import identity_rule_update

    rule = IdentityRule.objects.get(store=store, kind="email")
    identity_rule_update(rule=rule, actor=None, name=rule.name, limit=1)
    profile_identify(store=store, identifiers=[("phone", "+14155552671"), ("email", "a@example.com")], source="s")
    results = profiles_identify_batch(
        store=store,
        items=[
            {"identifiers": [("phone", "+14155552671"), ("email", "b@example.com")]},
            {"identifiers": [("email", "c@example.com"), ("email", "d@example.com")]},
        ],
        source="s",
    )
    assert [n.value for n in results[0].dropped] == ["b@example.com"]
    assert results[1].added == [("email", "c@example.com")] and [n.value for n in results[1].dropped] == [
        "d@example.com"
    ]


def test_a_batch_creates_profiles_in_item_order_so_the_oldest_wins_a_later_tie_as_one_by_one(account):
    """A new item after one that shares an identifier used to be bulk-created first, so its profile
    was the older one and won a later merge ("Second" instead of "First")."""
    one_by_one = store_create(account=account, actor=None, name="One by one")
    batch = store_create(account=account, actor=None, name="Batch")
    items = [
        {"identifiers": [("email", "tie.first@example.com")], "traits": {"Contact": {"firstName": "First"}}},
        {"identifiers": [("email", "tie.second@example.com")], "traits": {"Contact": {"firstName": "Second"}}},
        {"identifiers": [("email", "tie.first@example.com")], "traits": {"Contact": {"lastName": "Again"}}},
    ]
    for item in items:
        profile_identify(store=one_by_one, source="s", **item)
    profiles_identify_batch(store=batch, items=items, source="s")

    def created(store):
        profiles = Profile.objects.filter(store=store).order_by("created_at", "pk")
        return [profile.traits["Contact"]["firstName"] for profile in profiles]

    assert created(batch) == created(one_by_one) == ["First", "Second"]
    both = [("email", "tie.first@example.com"), ("email", "tie.second@example.com")]
    single = profile_identify(store=one_by_one, identifiers=both, source="s").profile
    batched = profile_identify(store=batch, identifiers=both, source="s").profile
    assert batched.traits == single.traits == {"Contact": {"firstName": "First", "lastName": "Again"}}
