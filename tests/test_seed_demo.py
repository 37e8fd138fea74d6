from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from identity.models import Identifier
from identity.search import profile_search
from profiles.models import Event, Profile


def test_seed_demo_adds_searchable_profiles_with_identifiers_and_events(store, admin_client):
    out = StringIO()
    call_command("seed_demo", "--store", str(store.pk), "--profiles", "120", stdout=out)
    assert "Added 120 demo profiles" in out.getvalue()
    assert Profile.objects.filter(store=store).count() == 120
    assert Identifier.objects.filter(store=store, kind="email").count() == 120
    assert Identifier.objects.filter(store=store, kind="phone").count() == 120
    assert Event.objects.filter(store=store).exists()

    profile = Profile.objects.filter(store=store).order_by("id").first()
    email = Identifier.objects.get(profile=profile, kind="email").value
    assert [p.pk for p in profile_search(store=store, q=email.upper()).profiles] == [profile.pk]
    phone = Identifier.objects.get(profile=profile, kind="phone").value  # e.g. +14152000000
    formatted = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    assert [p.pk for p in profile_search(store=store, q=formatted).profiles] == [profile.pk]
    tier = profile.traits["Loyalty"]["tier"]
    found = profile_search(store=store, q=f"Loyalty.tier = {tier}", limit=500).profiles
    assert profile.pk in [p.pk for p in found] and all(p.traits["Loyalty"]["tier"] == tier for p in found)
    # Seeding again appends new, distinct people instead of clashing with existing identifiers.
    call_command("seed_demo", "--store", str(store.pk), "--profiles", "10", stdout=StringIO())
    assert Profile.objects.filter(store=store).count() == 130
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, profile.pk]))
    assert email.encode() in page.content


def test_seed_demo_refuses_an_unknown_store(db):
    with pytest.raises(CommandError, match="No memory store with id 4242"):
        call_command("seed_demo", "--store", "4242", "--profiles", "1")
