"""Concurrent identify calls on PostgreSQL, each thread on its own real connection."""

import threading

import pytest
from django.db import connection

from identity.models import Identifier
from identity.services import profile_identify
from profiles.models import Profile
from stores.services import store_create
from tests.factories import AccountFactory

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
