"""The references between stores, profiles and identifiers hold on PostgreSQL without row-by-row
foreign keys: statement-level triggers (identity migration 0006) refuse what a foreign key would,
and an identifier's profile must also be in the identifier's store."""

import pytest
from django.db import IntegrityError, connection, transaction

from identity.models import Identifier
from profiles.models import Profile
from tests.factories import AccountFactory
from workspace.services import store_create, store_delete

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def two_stores():
    account = AccountFactory()
    return store_create(account=account, actor=None, name="One"), store_create(account=account, actor=None, name="Two")


def _refused(sql, params, message):
    with pytest.raises(IntegrityError, match=message), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_identifier_for_a_missing_profile_is_refused(two_stores):
    one, _ = two_stores
    _refused(
        "INSERT INTO identity_identifier (store_id, profile_id, kind, value, created_at) "
        "VALUES (%s, %s, 'email', 'a@x.org', now())",
        [one.pk, 987654321],
        "not a profile of store",
    )


def test_identifier_pointing_at_another_stores_profile_is_refused(two_stores):
    one, two = two_stores
    theirs = Profile.objects.create(store=two)
    with pytest.raises(IntegrityError, match="not a profile of store"), transaction.atomic():
        Identifier.objects.create(store=one, profile=theirs, kind="email", value="a@x.org")
    mine = Profile.objects.create(store=one)
    identifier = Identifier.objects.create(store=one, profile=mine, kind="email", value="a@x.org")
    with pytest.raises(IntegrityError, match="not a profile of store"), transaction.atomic():
        Identifier.objects.filter(pk=identifier.pk).update(profile=theirs)  # moved across the wall
    assert Identifier.objects.get(pk=identifier.pk).profile_id == mine.pk


def test_profile_in_a_missing_store_is_refused(two_stores):
    _refused(
        "INSERT INTO profiles_profile (store_id, traits, trait_sources, created_at, updated_at) "
        "VALUES (%s, '{}', '{}', now(), now())",
        [987654321],
        "store 987654321, which does not exist",
    )


def test_profile_cannot_move_to_another_store(two_stores):
    one, two = two_stores
    profile = Profile.objects.create(store=one)
    with pytest.raises(IntegrityError, match="cannot change its id or move"), transaction.atomic():
        Profile.objects.filter(pk=profile.pk).update(store=two)
    assert Profile.objects.get(pk=profile.pk).store_id == one.pk


def test_profile_holding_identifiers_cannot_be_deleted_alone(two_stores):
    one, _ = two_stores
    profile = Profile.objects.create(store=one)
    Identifier.objects.create(store=one, profile=profile, kind="email", value="a@x.org")
    _refused("DELETE FROM profiles_profile WHERE id = %s", [profile.pk], "still holds identifiers")
    assert Profile.objects.filter(pk=profile.pk).exists()


def test_store_holding_profiles_cannot_be_deleted_alone_but_store_delete_removes_everything(two_stores):
    one, two = two_stores
    profile = Profile.objects.create(store=one)
    Identifier.objects.create(store=one, profile=profile, kind="email", value="a@x.org")
    _refused("DELETE FROM stores_store WHERE id = %s", [one.pk], "still holds profiles or identifiers")
    store_delete(store=one, actor=None, confirm_name="One")
    assert not Profile.objects.filter(pk=profile.pk).exists()
    assert not Identifier.objects.filter(store_id=one.pk).exists()
    assert Profile.objects.filter(store=two).count() == 0  # untouched, and still usable
    Profile.objects.create(store=two)
