"""The rules issue 14 added, on every path: limits keep the customer's best identifier
(Segment Unify: drop the event's lowest-priority identifiers and resolve again)."""

import pytest

from identity.models import Identifier
from identity.resolution import Code, Facts, RuleSet, plan
from identity.services import identity_rule_create, identity_rule_update, profile_identify, profiles_identify_batch
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


# --- blocked values --------------------------------------------------------------------------


def test_a_blocked_value_identifies_no_one_on_every_path(store, api):
    """New stores block placeholder emails and phones (identity.defaults.DEFAULT_BLOCKED_VALUES)."""
    one = profile_identify(
        store=store, identifiers=[("email", "noreply@shop.example"), ("phone", _phone(1))], source="t"
    )
    assert [(n.code, n.kind, n.value, n.pattern) for n in one.notes] == [
        (Code.BLOCKED_VALUE, "email", "noreply@shop.example", "noreply@*")
    ]
    assert _live(store) == {frozenset({("phone", _phone(1))}): None}
    # "n/a" is no phone number: blocked, not refused
    two = profile_identify(store=store, identifiers=[("phone", "n/a"), ("email", "b@example.com")], source="t")
    assert [n.code for n in two.ignored] == [Code.BLOCKED_VALUE] and two.created
    batch = profiles_identify_batch(
        store=store, items=[{"identifiers": [("email", "NoReply@Other.example"), ("phone", _phone(2))]}], source="t"
    )
    assert [n.code for n in batch[0].ignored] == [Code.BLOCKED_VALUE]
    response = api.call(
        "post",
        f"/stores/{store.pk}/profiles/identify",
        {"identifiers": {"email": "test@test.com", "phone": _phone(3)}},
    )
    assert response.status_code == 200, response.content
    assert response.json()["ignored_identifiers"][0]["code"] == "blocked_value"
    assert not Identifier.objects.filter(store=store, kind="email", value__in=["test@test.com"]).exists()
    assert not Identifier.objects.filter(store=store, value__icontains="noreply").exists()


def test_a_blocked_value_in_a_file_is_a_note_and_the_row_goes_in(store):
    finished = run(store, csv_text(f"n/a,{_phone(1)},Ann,A", "n/a,,Bob,B"), CONTACT)
    assert (finished.rows_ingested, finished.rows_failed) == (1, 1)
    note = ImportRowError.objects.get(profile_import=finished, row_failed=False)
    assert (note.line, note.column, note.value, note.code) == (2, "email", "n/a", Code.BLOCKED_VALUE)
    failed = ImportRowError.objects.get(profile_import=finished, row_failed=True)
    assert failed.line == 3  # its only identifier is blocked: no identifier left
    assert _live(store) == {frozenset({("phone", _phone(1))}): "Ann"}


# --- limit policy ----------------------------------------------------------------------------


def _fifo_email(store, limit=2):
    identity_rule_update(
        rule=store.identity_rules.get(kind="email"), actor=None, name="email", limit=limit, limit_policy="fifo"
    )


def test_fifo_replaces_the_oldest_value_and_frees_it(store):
    _fifo_email(store)
    profile = profile_identify(store=store, identifiers=[("phone", _phone(1)), ("email", "a@example.com")], source="t")
    profile_identify(store=store, identifiers=[("phone", _phone(1)), ("email", "b@example.com")], source="t")
    third = profile_identify(store=store, identifiers=[("phone", _phone(1)), ("email", "c@example.com")], source="t")
    assert third.profile.pk == profile.profile.pk and third.added == [("email", "c@example.com")]
    assert [(n.code, n.value) for n in third.notes] == [(Code.LIMIT_REPLACED, "a@example.com")]
    emails = set(Identifier.objects.filter(profile=profile.profile, kind="email").values_list("value", flat=True))
    assert emails == {"b@example.com", "c@example.com"}
    freed = profile_identify(store=store, identifiers=[("email", "a@example.com")], source="t")
    assert freed.created  # a@ identifies no one any more


def test_fifo_never_replaces_a_value_the_event_names(store):
    _fifo_email(store, limit=1)
    first = profile_identify(store=store, identifiers=[("email", "a@example.com")], source="t")
    again = profile_identify(
        store=store, identifiers=[("email", "a@example.com"), ("email", "b@example.com")], source="t"
    )
    assert again.profile.pk == first.profile.pk
    assert [(n.code, n.value) for n in again.notes] == [(Code.LIMIT_REACHED, "b@example.com")]


FIFO_ROWS = [f"{email},{_phone(1)},N{i},X" for i, email in enumerate(["a@x.example", "b@x.example", "c@x.example"])]


@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_fifo_in_a_file_gives_what_identifying_each_row_gives(store, account, monkeypatch, chunk_rows):

    from .factories import StoreFactory

    _fifo_email(store)
    other = StoreFactory(account=account, name="One by one")
    _fifo_email(other)
    # a stored profile holds one email before the file: replacing it deletes a stored identifier
    for target in (store, other):
        profile_identify(store=target, identifiers=[("phone", _phone(1)), ("email", "old@x.example")], source="t")
    for row in FIFO_ROWS:
        email, phone, first, _ = row.split(",")
        profile_identify(
            store=other,
            identifiers=[("email", email), ("phone", phone)],
            traits={"Contact": {"firstName": first}},
            source="t",
        )
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", chunk_rows)
    finished = run(store, csv_text(*FIFO_ROWS, f"old@x.example,{_phone(2)},New,Y"), CONTACT)
    profile_identify(
        store=other,
        identifiers=[("email", "old@x.example"), ("phone", _phone(2))],
        traits={"Contact": {"firstName": "New"}},
        source="t",
    )
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert _live(store) == _live(other)
    assert _live(store)[frozenset({("phone", _phone(1)), ("email", "b@x.example"), ("email", "c@x.example")})] == "N2"
    codes = list(
        ImportRowError.objects.filter(profile_import=finished).order_by("line").values_list("line", "value", "code")
    )
    assert codes == [
        (3, "old@x.example", Code.LIMIT_REPLACED),
        (4, "a@x.example", Code.LIMIT_REPLACED),
    ]


def test_fifo_in_a_batch_gives_what_identifying_each_item_gives(store):
    _fifo_email(store)
    held = profile_identify(
        store=store,
        identifiers=[("phone", _phone(1)), ("email", "a@example.com"), ("email", "b@example.com")],
        source="t",
    ).profile
    results = profiles_identify_batch(
        store=store,
        items=[
            {"identifiers": [("phone", _phone(1)), ("email", "c@example.com")]},  # replaces a@ on the stored profile
            {"identifiers": [("email", "a@example.com")]},  # a@ is free again: a new profile
        ],
        source="t",
    )
    assert results[0].profile.pk == held.pk and [(n.code, n.value) for n in results[0].notes] == [
        (Code.LIMIT_REPLACED, "a@example.com")
    ]
    assert results[1].created


def test_a_profile_reached_through_an_identifier_as_good_as_the_dropped_one_still_merges(store):
    """The best-identifier rule applies only when the full profile was reached through identifiers
    of lower priority than the one dropped: here the stored phone led to it, so the chat's profile
    still merges in and only the new phone is dropped (review of issue 14)."""
    identity_rule_update(rule=store.identity_rules.get(kind="phone"), actor=None, name="phone", limit=1)
    held = profile_identify(store=store, identifiers=[("phone", _phone(1))], source="t").profile
    other = profile_identify(store=store, identifiers=[("chat", "c-1")], source="t").profile
    result = profile_identify(
        store=store, identifiers=[("phone", _phone(2)), ("phone", _phone(1)), ("chat", "c-1")], source="t"
    )
    assert result.profile.pk == held.pk and result.merged_profile_ids == [other.pk]
    assert [(n.code, n.value) for n in result.notes] == [(Code.LIMIT_REACHED, _phone(2))]


def test_a_fifo_kind_never_drops_a_lower_priority_identifier(store):
    """FIFO makes room instead; when it cannot (every held value is named by the event), the new
    value is simply not added, as the limit policy says."""
    identity_rule_update(
        rule=store.identity_rules.get(kind="phone"), actor=None, name="phone", limit=1, limit_policy="fifo"
    )
    held = profile_identify(store=store, identifiers=[("phone", _phone(1)), ("email", "e@example.com")], source="t")
    again = profile_identify(
        store=store, identifiers=[("phone", _phone(2)), ("phone", _phone(1)), ("email", "e@example.com")], source="t"
    )
    assert again.profile.pk == held.profile.pk
    assert [(n.code, n.value) for n in again.notes] == [(Code.LIMIT_REACHED, _phone(2))]


def test_mapped_traits_identify_in_the_order_given_on_every_path(store, account):
    """The request's trait order and the file's column order decide which mapped value a limit
    keeps, the same way on both paths (review of issue 14: they used to differ)."""
    from traits.services import trait_create, trait_group_create

    from .factories import StoreFactory

    def mapped_user_id(target):
        group = trait_group_create(store=target, actor=None, name="Account")
        zeta = trait_create(group=group, actor=None, name="zeta", data_type="string")
        alpha = trait_create(group=group, actor=None, name="alpha", data_type="string")
        identity_rule_create(
            store=target, actor=None, name="User", kind="user_id", limit=1, source="traits", mapped_traits=[zeta, alpha]
        )

    other = StoreFactory(account=account, name="By API")
    mapped_user_id(store)
    mapped_user_id(other)
    api = profile_identify(
        store=other,
        identifiers=[("email", "a@x.example")],
        traits={"Account": {"alpha": "A1", "zeta": "Z1"}},
        source="t",
    )
    finished = run(
        store,
        "Email,Alpha,Zeta\r\na@x.example,A1,Z1\r\n",
        ["Email=identifier:email", "Alpha=Account.alpha", "Zeta=Account.zeta"],
    )
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    by_file = ImportRowError.objects.get(profile_import=finished, row_failed=False)
    assert api.added == [("email", "a@x.example"), ("user_id", "A1")]
    assert [(n.code, n.value) for n in api.notes] == [(Code.LIMIT_REACHED, "Z1")]
    assert (by_file.code, by_file.value) == (Code.LIMIT_REACHED, "Z1")
    assert set(Identifier.objects.filter(store=store, kind="user_id").values_list("value", flat=True)) == {"A1"}


def test_an_identify_with_only_blocked_values_says_which_and_why(store, api):
    response = api.call(
        "post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"email": "NoReply@Shop.example"}}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [error["loc"] for error in detail] == [["body", "identifiers", "email"]]
    assert "blocked values include “noreply@*”" in detail[0]["msg"]
    assert not Profile.objects.filter(store=store).exists()


def test_the_console_says_when_a_mapped_value_is_blocked(admin_client, store):
    from django.urls import reverse

    from traits.services import trait_create, trait_group_create

    group = trait_group_create(store=store, actor=None, name="Account")
    user_id = trait_create(group=group, actor=None, name="userId", data_type="string")
    identity_rule_create(
        store=store,
        actor=None,
        name="User ID",
        kind="user_id",
        source="traits",
        mapped_traits=[user_id],
        blocked_values=["guest"],
    )
    profile = profile_identify(store=store, identifiers=[("email", "a@example.com")], source="t").profile
    url = reverse("profiles:trait_edit", args=[store.pk, profile.pk, user_id.pk])
    html = admin_client.post(url, {"value": "Guest"}, follow=True).content.decode()
    assert "user_id Guest was ignored: the user_id rule&#x27;s blocked values include “guest”." in html
    assert not Identifier.objects.filter(store=store, kind="user_id").exists()
