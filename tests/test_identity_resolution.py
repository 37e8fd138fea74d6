"""Every branch of the identity-resolution algorithm (docs/ARCHITECTURE.md)."""

import pytest
from django.core.exceptions import ValidationError

from identity.models import Identifier, IdentityRule, MergeRecord, RuleSource
from identity.resolution import Code
from identity.services import (
    identity_rule_create,
    identity_rule_delete,
    identity_rules_reorder,
    profile_identify,
)
from profiles.models import Event, Profile
from profiles.selectors import profile_resolve
from profiles.stamps import trait_stamp
from traits.models import Trait


def identify(store, *pairs, traits=None, events=None, source="test:1"):
    return profile_identify(store=store, identifiers=list(pairs), traits=traits, events=events, source=source)


def _set_limit(store, kind, limit):
    from identity.services import identity_rule_update

    rule = IdentityRule.objects.get(store=store, kind=kind)
    identity_rule_update(rule=rule, actor=None, name=rule.name, limit=limit)


def idents(profile):
    return sorted(Identifier.objects.filter(profile=profile).values_list("kind", "value"))


def test_defaults_rules_in_priority_order_with_their_limits(store):
    rules = list(IdentityRule.objects.filter(store=store).values_list("kind", "limit", "priority"))
    assert rules == [("phone", 5, 1), ("email", 5, 2), ("whatsappid", 5, 3), ("chat", 10, 4)]


def test_new_identifiers_create_one_profile_holding_all_of_them(store):
    result = identify(store, ("email", "Ada@Example.com"), ("phone", "(415) 555-2671"), ("chat", " abc "))
    assert result.created and result.merged_profile_ids == [] and result.dropped == []
    assert idents(result.profile) == [("chat", "abc"), ("email", "ada@example.com"), ("phone", "+14155552671")]


def test_known_identifier_matches_the_existing_profile_and_adds_the_new_one(store):
    first = identify(store, ("email", "ada@example.com")).profile
    result = identify(store, ("email", "ADA@example.com"), ("phone", "+1 415 555 2671"))
    assert not result.created and result.profile.pk == first.pk
    assert result.added == [("phone", "+14155552671")]
    assert Profile.objects.filter(store=store).count() == 1


def test_multi_match_merges_into_the_profile_of_the_highest_priority_identifier(store):
    by_email = identify(store, ("email", "ada@example.com"), traits={"Contact": {"firstName": "Ada"}}).profile
    by_phone = identify(
        store, ("phone", "+14155552671"), traits={"Contact": {"firstName": "Augusta", "lastName": "King"}}
    ).profile
    Event.objects.create(store=store, profile=by_email, name="signup", timestamp=by_email.created_at)
    result = identify(store, ("email", "ada@example.com"), ("phone", "+14155552671"), source="api:k1")
    # phone outranks email, so the phone profile is primary even though it is newer.
    assert result.profile.pk == by_phone.pk
    assert result.merged_profile_ids == [by_email.pk]
    primary = Profile.objects.get(pk=by_phone.pk)
    assert idents(primary) == [("email", "ada@example.com"), ("phone", "+14155552671")]
    assert primary.traits["Contact"] == {"firstName": "Augusta", "lastName": "King"}  # primary's values win
    assert Event.objects.get(name="signup").profile_id == by_phone.pk  # events move
    tombstone = Profile.objects.get(pk=by_email.pk)
    assert tombstone.merged_into_id == by_phone.pk
    record = MergeRecord.objects.get()
    assert (record.from_profile_id, record.into_profile_id, record.source) == (by_email.pk, by_phone.pk, "api:k1")
    assert record.matching_identifiers == ["email:ada@example.com"]


def test_merge_fills_trait_gaps_from_the_merged_profile(store):
    a = identify(store, ("phone", "+14155552671"), traits={"Contact": {"firstName": "Ada"}}).profile
    identify(store, ("email", "ada@example.com"), traits={"Contact": {"lastName": "Lovelace", "firstName": "X"}})
    identify(store, ("phone", "+14155552671"), ("email", "ada@example.com"))
    a.refresh_from_db()
    assert a.traits["Contact"] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert trait_stamp(a.trait_sources, "Contact", "lastName")[1] == "test:1"


def test_ties_on_the_same_priority_go_to_the_oldest_profile(store):
    older = identify(store, ("email", "a@example.com")).profile
    newer = identify(store, ("email", "b@example.com")).profile
    result = identify(store, ("email", "b@example.com"), ("email", "a@example.com"))
    assert result.profile.pk == older.pk and result.merged_profile_ids == [newer.pk]


def test_a_merge_that_would_exceed_a_limit_is_blocked_and_reported(store):
    _set_limit(store, "email", 2)
    primary = identify(store, ("phone", "+14155552671"), ("email", "p1@example.com"), ("email", "p2@example.com"))
    other = identify(store, ("email", "o1@example.com")).profile
    result = identify(store, ("phone", "+14155552671"), ("email", "o1@example.com"))
    assert result.profile.pk == primary.profile.pk
    assert result.merged_profile_ids == []
    assert [(n.code, n.profile, n.matching, n.over) for n in result.blocked_merges] == [
        (Code.MERGE_BLOCKED, other.pk, (("email", "o1@example.com"),), (("email", 2),))
    ]
    assert idents(other) == [("email", "o1@example.com")]  # not moved to the primary
    assert Profile.objects.get(pk=other.pk).merged_into_id is None


def test_an_unmatched_identifier_over_the_limit_is_dropped_and_reported(store):
    _set_limit(store, "email", 1)
    result = identify(store, ("email", "a@example.com"), ("email", "b@example.com"))
    assert result.created and result.added == [("email", "a@example.com")]
    assert [(n.code, n.kind, n.value, n.limit) for n in result.dropped] == [
        (Code.LIMIT_REACHED, "email", "b@example.com", 1)
    ]
    again = identify(store, ("email", "a@example.com"), ("email", "c@example.com"))
    assert [n.value for n in again.dropped] == ["c@example.com"]
    assert idents(result.profile) == [("email", "a@example.com")]


def test_kinds_without_a_rule_are_ignored_and_reported(store):
    result = identify(store, ("email", "a@example.com"), ("loyalty_id", "L-1"))
    assert [(n.kind, n.value) for n in result.ignored] == [("loyalty_id", "L-1")]
    assert result.ignored[0].code is Code.NO_RULE
    assert idents(result.profile) == [("email", "a@example.com")]


def test_only_ignored_identifiers_is_an_error_not_an_empty_profile(store):
    with pytest.raises(ValidationError, match="At least one identifier"):
        identify(store, ("loyalty_id", "L-1"))
    assert not Profile.objects.filter(store=store).exists()


def test_invalid_values_are_errors_naming_identifier_and_value_and_nothing_is_written(store):
    with pytest.raises(ValidationError) as info:
        identify(store, ("email", "not-an-email"), ("phone", "12"), ("chat", "ok"), traits={"Contact": {"zip": "1"}})
    messages = info.value.messages
    assert "email: “not-an-email” is not a valid email address (An email address must have an @-sign.)" in messages
    assert any(m.startswith("phone: “12”") for m in messages)
    assert "Unknown trait “Contact.zip”." in messages
    assert not Profile.objects.exists() and not Identifier.objects.exists()


def test_deleting_a_rule_stops_matching_but_does_not_undo_past_merges(store):
    a = identify(store, ("chat", "c-1")).profile
    b = identify(store, ("email", "b@example.com")).profile
    merged = identify(store, ("email", "b@example.com"), ("chat", "c-1"))
    assert merged.merged_profile_ids == [a.pk]  # email outranks chat: b is primary
    identity_rule_delete(rule=IdentityRule.objects.get(store=store, kind="chat"), actor=None)
    # The past merge stands.
    assert Profile.objects.get(pk=a.pk).merged_into_id == b.pk
    assert ("chat", "c-1") in idents(b)
    # The chat identifier no longer matches: it is ignored, and alone it cannot identify anyone.
    result = identify(store, ("chat", "c-1"), ("email", "new@example.com"))
    assert result.created and [n.kind for n in result.ignored] == ["chat"]
    assert list(IdentityRule.objects.filter(store=store).values_list("kind", "priority")) == [
        ("phone", 1),
        ("email", 2),
        ("whatsappid", 3),
    ]


def test_tombstone_ids_resolve_to_the_primary_even_after_chained_merges(store):
    a = identify(store, ("chat", "a")).profile
    b = identify(store, ("whatsappid", "+14155552671")).profile
    identify(store, ("whatsappid", "+14155552671"), ("chat", "a"))  # a -> b
    c = identify(store, ("email", "c@example.com")).profile
    identify(store, ("email", "c@example.com"), ("whatsappid", "whatsapp:+14155552671"))  # b -> c
    assert profile_resolve(store=store, profile_id=a.pk).pk == c.pk
    assert profile_resolve(store=store, profile_id=b.pk).pk == c.pk
    assert Profile.objects.get(pk=a.pk).merged_into_id == c.pk  # chains are kept one hop long


def test_traits_and_events_are_applied_to_the_resolved_profile(store):
    from datetime import UTC, datetime

    result = identify(
        store,
        ("email", "a@example.com"),
        traits={"Contact": {"firstName": "Ada"}},
        events=[{"name": "order_placed", "timestamp": datetime(2026, 1, 1, tzinfo=UTC), "properties": {"n": 1}}],
        source="api:key",
    )
    assert result.changed_traits == ["Contact.firstName"]
    profile = Profile.objects.get(pk=result.profile.pk)
    assert profile.traits["Contact"]["firstName"] == "Ada"
    assert profile.events.get().source == "api:key"


def test_a_mapped_trait_value_is_also_an_identifier_of_the_rule_kind(store):
    from traits.services import trait_create, trait_group_create

    group = trait_group_create(store=store, actor=None, name="Account")
    user_id = trait_create(group=group, actor=None, name="userId", data_type="string")
    identity_rule_create(
        store=store, actor=None, name="User ID", kind="user_id", source=RuleSource.TRAITS, mapped_traits=[user_id]
    )
    first = identify(store, ("email", "a@example.com"), traits={"Account": {"userId": "U-1"}}).profile
    assert ("user_id", "U-1") in idents(first)
    # A later event that knows only the trait value finds the same profile.
    again = identify(store, ("email", "other@example.com"), traits={"Account": {"userId": "U-1"}})
    assert again.profile.pk == first.pk


def test_custom_rules_go_in_at_the_lowest_priority_and_can_be_reordered(store):
    rule = identity_rule_create(store=store, actor=None, name="User ID", kind="user_id")
    assert (rule.priority, rule.limit) == (5, 1)
    ids = list(IdentityRule.objects.filter(store=store).order_by("priority").values_list("pk", flat=True))
    identity_rules_reorder(store=store, actor=None, rule_ids=[ids[-1], *ids[:-1]])
    assert IdentityRule.objects.filter(store=store).order_by("priority").first().kind == "user_id"
    with pytest.raises(ValidationError, match="exactly once"):
        identity_rules_reorder(store=store, actor=None, rule_ids=ids[:-1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "User ID"}, "identifier kind must start"),
        ({"kind": "email"}, "already has a rule"),
        ({"limit": 0}, "from 1 to 100"),
        ({"limit": 101}, "from 1 to 100"),
        ({"name": "email"}, "already exists"),
        ({"name": " spaced"}, "must not start or end with a space"),
        ({"source": "traits"}, "Pick at least one trait"),
    ],
)
def test_rule_validation_messages(store, kwargs, message):
    args = {"store": store, "actor": None, "name": "User ID", "kind": "user_id", **kwargs}
    with pytest.raises(ValidationError, match=message):
        identity_rule_create(**args)


def test_mapped_traits_must_belong_to_the_store(store, account):
    from tests.factories import StoreFactory

    other = StoreFactory(account=account, name="Other")
    foreign = Trait.objects.filter(store=other).first()
    with pytest.raises(ValidationError, match="must belong to this memory store"):
        identity_rule_create(
            store=store, actor=None, name="X", kind="x_id", source=RuleSource.TRAITS, mapped_traits=[foreign]
        )


def test_identifiers_are_scoped_to_their_store(store, account):
    from tests.factories import StoreFactory

    other = StoreFactory(account=account, name="Other")
    mine = identify(store, ("email", "a@example.com")).profile
    theirs = identify(other, ("email", "a@example.com"))
    assert theirs.created and theirs.profile.pk != mine.pk


def _user_id_rule(store, limit=1):
    from traits.services import trait_create, trait_group_create

    group = trait_group_create(store=store, actor=None, name="Account")
    user_id = trait_create(group=group, actor=None, name="userId", data_type="string")
    identity_rule_create(
        store=store,
        actor=None,
        name="User ID",
        kind="user_id",
        source=RuleSource.TRAITS,
        mapped_traits=[user_id],
        limit=limit,
    )
    return user_id


def test_editing_a_mapped_trait_in_the_console_adds_the_identifier_to_that_profile(admin_client, store):
    from django.urls import reverse

    user_id = _user_id_rule(store, limit=2)
    profile = identify(store, ("email", "a@example.com")).profile
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, user_id.pk])
    response = admin_client.post(url, {"value": "U-7"}, follow=True)
    assert ("user_id", "U-7") in idents(profile)
    assert "user_id U-7 now identifies this profile (mapped trait)." in response.content.decode()
    # The next event carrying only that value finds this profile.
    assert identify(store, ("user_id", "U-7")).profile.pk == profile.pk


def test_a_mapped_value_already_identifying_another_profile_is_reported_not_stolen(admin_client, store):
    from django.urls import reverse

    user_id = _user_id_rule(store)
    other = identify(store, ("email", "b@example.com"), traits={"Account": {"userId": "U-1"}}).profile
    profile = identify(store, ("email", "a@example.com")).profile
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, user_id.pk])
    response = admin_client.post(url, {"value": "U-1"}, follow=True)
    html = response.content.decode()
    assert f"user_id U-1 was not added: it already identifies profile {other.pk}." in html
    assert ("user_id", "U-1") not in idents(profile)
    assert ("user_id", "U-1") in idents(other)
    profile.refresh_from_db()
    assert profile.traits["Account"]["userId"] == "U-1"  # the trait value itself is kept
    assert not MergeRecord.objects.filter(store=store).exists()


def test_a_mapped_value_over_the_rule_limit_is_reported_on_console_edit(admin_client, store):
    from django.urls import reverse

    user_id = _user_id_rule(store, limit=1)
    profile = identify(store, ("email", "a@example.com"), traits={"Account": {"userId": "U-1"}}).profile
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, user_id.pk])
    response = admin_client.post(url, {"value": "U-2"}, follow=True)
    assert "user_id U-2 was not added: the profile already holds the limit of 1 user_id identifiers." in (
        response.content.decode()
    )
    assert idents(profile).count(("user_id", "U-1")) == 1
    assert ("user_id", "U-2") not in idents(profile)


def test_an_invalid_mapped_value_rejects_the_console_edit_and_keeps_the_old_value(admin_client, store):
    from django.urls import reverse

    user_id = _user_id_rule(store)
    profile = identify(store, ("email", "a@example.com"), traits={"Account": {"userId": "U-1"}}).profile
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, user_id.pk])
    response = admin_client.post(url, {"value": "x" * 300})
    assert response.status_code == 200
    assert "is longer than 255 characters" in response.content.decode()
    profile.refresh_from_db()
    assert profile.traits["Account"]["userId"] == "U-1"
    assert idents(profile) == [("email", "a@example.com"), ("user_id", "U-1")]


def test_profile_page_shows_merge_history_and_a_tombstone_redirects_to_the_primary(admin_client, store):
    from django.urls import reverse

    a = identify(store, ("email", "a@example.com")).profile
    b = identify(store, ("phone", "+14155552671")).profile
    identify(store, ("phone", "+14155552671"), ("email", "a@example.com"), source="import:4")
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, b.pk]))
    html = page.content.decode()
    assert f'Merged profile <a href="/stores/{store.pk}/profiles/{a.pk}/">#{a.pk}</a>' in html
    assert "matched on email:a@example.com · CSV import #4" in html
    response = admin_client.get(reverse("profiles:detail", args=[store.pk, a.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("profiles:detail", args=[store.pk, b.pk])
    assert f"Profile #{a.pk} was merged into profile #{b.pk}".encode() in response.content
    listing = admin_client.get(reverse("profiles:list", args=[store.pk]))
    assert [p.pk for p in listing.context["page"].profiles] == [b.pk]  # tombstones are not listed


def test_a_rule_change_takes_effect_on_the_next_identify(store):
    """Rules are cached per store version: every rule service must invalidate the cache."""
    identify(store, ("email", "a@example.com"))
    _set_limit(store, "email", 1)
    assert [n.value for n in identify(store, ("email", "a@example.com"), ("email", "b@example.com")).dropped] == [
        "b@example.com"
    ]
    identity_rule_create(store=store, actor=None, name="User ID", kind="user_id")
    assert identify(store, ("user_id", "u1"), ("email", "a@example.com")).added == [("user_id", "u1")]
