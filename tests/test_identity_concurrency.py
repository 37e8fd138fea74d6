"""Concurrent identify calls on PostgreSQL, each thread on its own real connection."""

import threading

import pytest
from django.db import connection

from identity.models import Identifier
from identity.services import profile_identify
from profiles.models import Profile
from tests.factories import AccountFactory
from workspace.services import store_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_concurrently(calls):
    barrier = threading.Barrier(len(calls))
    errors, results = [], []

    def worker(call):
        try:
            barrier.wait(timeout=10)
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_identical_new_identifiers_arriving_at_once_create_one_profile():
    store = store_create(account=AccountFactory(), actor=None, name="Race")
    for round_ in range(5):
        email = f"race{round_}@example.com"
        results = _run_concurrently(
            [
                lambda email=email, round_=round_: profile_identify(
                    store=store, identifiers=[("email", email), ("chat", f"c-{round_}")], source="test:race"
                )
                for _ in range(8)
            ]
        )
        assert len({r.profile.pk for r in results}) == 1
        assert sum(r.created for r in results) == 1
    assert Profile.objects.filter(store=store).count() == 5
    assert Identifier.objects.filter(store=store).count() == 10


def test_concurrent_overlapping_identifies_merge_without_deadlock_into_one_profile():
    store = store_create(account=AccountFactory(), actor=None, name="Merge race")
    people = [profile_identify(store=store, identifiers=[("chat", f"c{i}")], source="seed").profile for i in range(6)]
    # Each call links two chat ids, in opposite orders, so the locks are taken from both ends.
    calls = []
    for i in range(5):
        pair = [("chat", f"c{i}"), ("chat", f"c{i + 1}")]
        calls.append(lambda pair=pair: profile_identify(store=store, identifiers=pair, source="race"))
        calls.append(lambda pair=pair: profile_identify(store=store, identifiers=pair[::-1], source="race"))
    _run_concurrently(calls)
    live = Profile.objects.filter(store=store, merged_into__isnull=True)
    assert live.count() == 1
    survivor = live.get()
    assert Identifier.objects.filter(store=store).exclude(profile=survivor).count() == 0
    assert all(Profile.objects.get(pk=p.pk).merged_into_id in (None, survivor.pk) for p in people)


def test_an_identify_chosen_as_deadlock_victim_is_retried_and_succeeds():
    """A long transaction (like a CSV import) holds profile B and then asks for A, while an identify
    merging A and B holds A and waits for B: PostgreSQL aborts the identify, which must retry."""
    import time

    from django.db import transaction

    store = store_create(account=AccountFactory(), actor=None, name="Deadlock")
    a = profile_identify(store=store, identifiers=[("chat", "a")], source="seed").profile
    b = profile_identify(store=store, identifiers=[("chat", "b")], source="seed").profile

    def long_transaction():
        with transaction.atomic():
            Profile.objects.select_for_update().get(pk=b.pk)
            time.sleep(0.3)  # the identify locks A and starts waiting for B first
            Profile.objects.select_for_update().get(pk=a.pk)
            time.sleep(0.5)
        return "committed"

    def merge_call():
        time.sleep(0.1)
        return profile_identify(store=store, identifiers=[("chat", "a"), ("chat", "b")], source="test:merge")

    results = _run_concurrently([long_transaction, merge_call])
    merged = next(r for r in results if r != "committed")
    assert merged.merged_profile_ids  # it went through on retry and merged the two profiles
    assert Profile.objects.filter(store=store, merged_into=None).count() == 1
