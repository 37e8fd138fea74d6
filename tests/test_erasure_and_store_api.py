"""Right to erasure and the store's own writes through the API (issue 19): deleting a profile
removes everything about it and nothing else, answers a receipt without personal data that the
Activity trail keeps; a store's settings and delete through the API; tenant walls, Support and
read-only keys refused."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Q
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.services import api_key_create
from conversations.memory import extractions_pending_process
from conversations.models import (
    Conversation,
    ExtractionDecision,
    Observation,
    ObservationRevision,
    Summary,
)
from conversations.services import (
    ConfigurationInput,
    communication_ingest,
    conversation_configuration_create,
    conversations_advance,
)
from identity.models import Identifier, MergeRecord
from identity.services import profile_identify
from profiles.models import Event, Profile
from stores.models import Store
from tests.conftest import ApiClient
from tests.factories import StoreFactory
from workspace.services import profile_erase

BUSINESS = "+14155550100"
ADA_PHONE = "+14155550123"
BOB_PHONE = "+14155550177"
AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SECRET_VALUES = ("ada.secret@example.com", "Adalinde", "Lovelace-Byron", "4155550123", "peanuts")


def _conversation(store, phone, says, at):
    for n, body in enumerate(says):
        communication_ingest(
            store=store,
            channel="sms",
            direction="inbound",
            from_address=phone,
            to_address=BUSINESS,
            body=body,
            occurred_at=at + timedelta(seconds=n),
        )
    communication_ingest(
        store=store,
        channel="sms",
        direction="outbound",
        from_address=BUSINESS,
        to_address=phone,
        body="Done, I have noted that.",
        occurred_at=at + timedelta(seconds=len(says)),
    )


def _counts(profile_ids, store):
    """Rows about the given profiles, per kind (the erasure must bring these to 0)."""
    return {
        "profiles": Profile.objects.filter(pk__in=profile_ids).count(),
        "identifiers": Identifier.objects.filter(profile_id__in=profile_ids).count(),
        "events": Event.objects.filter(profile_id__in=profile_ids).count(),
        "merges": MergeRecord.objects.filter(
            Q(into_profile_id__in=profile_ids) | Q(from_profile_id__in=profile_ids)
        ).count(),
        "observations": Observation.objects.filter(profile_id__in=profile_ids).count(),
        "revisions": ObservationRevision.objects.filter(observation__profile_id__in=profile_ids).count(),
        "summaries": Summary.objects.filter(profile_id__in=profile_ids).count(),
        "conversations": Conversation.objects.filter(profile_id__in=profile_ids).count(),
    }


@pytest.fixture
def world(store):
    """Two customers (Ada, Bob) with traits, identifiers, events, a merge (Ada's), closed
    conversations with observations and summaries; and a neighbour account's store."""
    data = ConfigurationInput(
        name="Support line", captures=[("sms", BUSINESS)], timeout_minutes=30, observations_enabled=True
    )
    conversation_configuration_create(store=store, actor=None, data=data)
    _conversation(store, ADA_PHONE, ["Hi, I'm allergic to peanuts. Can you check my order?"], AT)
    _conversation(store, BOB_PHONE, ["Hello, I'm vegetarian. Please note it."], AT)
    assert conversations_advance(now=AT + timedelta(minutes=31)).closed == 2
    assert extractions_pending_process()["done"] == 2
    ada_id = Conversation.objects.get(customer_address=ADA_PHONE).profile_id
    bob_id = Conversation.objects.get(customer_address=BOB_PHONE).profile_id
    # A second profile by email, then merged with Ada's by one call holding both identifiers.
    other = profile_identify(
        store=store, identifiers=[("email", "ada.secret@example.com")], traits={}, events=[], source="api:test"
    ).profile
    result = profile_identify(
        store=store,
        identifiers=[("phone", ADA_PHONE), ("email", "ada.secret@example.com")],
        traits={"Contact": {"firstName": "Adalinde", "lastName": "Lovelace-Byron"}},
        events=[{"name": "order_placed", "timestamp": "2026-11-01T10:00:00Z", "properties": {"sku": "A1"}}],
        source="api:test",
    )
    ada = result.profile
    assert {ada.pk, other.pk} == {ada_id, other.pk} or ada.pk in (ada_id, other.pk)
    ada_ids = {ada_id, other.pk}
    profile_identify(
        store=store,
        identifiers=[("phone", BOB_PHONE)],
        traits={"Contact": {"firstName": "Bob"}},
        events=[{"name": "order_placed", "timestamp": "2026-11-01T10:00:00Z", "properties": {}}],
        source="api:test",
    )
    neighbour = StoreFactory(account=StoreFactory().account)
    outsider = profile_identify(
        store=neighbour, identifiers=[("email", "n@example.com")], traits={}, events=[], source="api:test"
    ).profile
    return {"store": store, "ada": ada, "ada_ids": ada_ids, "bob_id": bob_id, "outsider": outsider}


def test_erasure_removes_everything_about_the_profile_and_nothing_else(world, api, store):
    ada, bob = world["ada"], world["bob_id"]
    before_ada, before_bob = _counts(world["ada_ids"], store), _counts({bob}, store)
    assert before_ada["profiles"] == 2 and before_ada["merges"] == 1
    assert before_ada["observations"] >= 1 and before_ada["summaries"] == 1 and before_ada["events"] == 1
    assert before_bob["observations"] >= 1 and before_bob["summaries"] == 1
    decisions_before = ExtractionDecision.objects.count()
    ada_conversation = Conversation.objects.get(customer_address=ADA_PHONE)

    response = api.call("delete", f"/stores/{store.pk}/profiles/{ada.pk}")

    assert response.status_code == 200, response.content
    receipt = response.json()
    assert receipt["profile_id"] == ada.pk and receipt["store_id"] == store.pk
    counts = receipt["counts"]
    assert counts["profiles"] == 2 and counts["merged_away_profiles"] == 1
    assert counts["identifiers"] == before_ada["identifiers"] == 2
    assert counts["events"] == 1 and counts["merge_records"] == 1
    assert counts["observations"] == before_ada["observations"]
    assert counts["observation_revisions"] == before_ada["revisions"]
    assert counts["summaries"] == 1 and counts["conversations_unlinked"] == 1
    assert counts["trait_values"] >= 2 and counts["evidence_links"] >= 2
    assert ExtractionDecision.objects.count() == decisions_before - counts["extraction_decisions"]
    assert all(n == 0 for n in _counts(world["ada_ids"], store).values())
    # Nothing of Bob's or the neighbour's went; Ada's conversation stays, without her.
    assert _counts({bob}, store) == before_bob
    assert Profile.objects.filter(pk=world["outsider"].pk).exists()
    ada_conversation.refresh_from_db()
    assert ada_conversation.profile_id is None and ada_conversation.communications.count() == 2
    # The receipt is in the audit trail, without any value the profile held.
    event = AuditEvent.objects.get(action="profile.delete")
    assert event.details["counts"] == counts and event.details["profile_id"] == ada.pk
    recorded = json.dumps(event.details) + event.summary + event.actor_label
    for secret in SECRET_VALUES:
        assert secret not in recorded and secret not in json.dumps(receipt)
    # Gone: the profile and its merged-away id answer 404.
    for pk in world["ada_ids"]:
        assert api.call("get", f"/stores/{store.pk}/profiles/{pk}").status_code == 404
        assert api.call("delete", f"/stores/{store.pk}/profiles/{pk}").status_code == 404


def test_a_merged_away_id_erases_its_primary(world, api, store):
    tombstone = next(pk for pk in world["ada_ids"] if pk != world["ada"].pk)
    response = api.call("delete", f"/stores/{store.pk}/profiles/{tombstone}")
    assert response.status_code == 200 and response.json()["profile_id"] == world["ada"].pk
    assert not Profile.objects.filter(pk__in=world["ada_ids"]).exists()


def test_erasure_stops_at_the_tenant_wall(world, api):
    outsider = world["outsider"]
    assert api.call("delete", f"/stores/{outsider.store_id}/profiles/{outsider.pk}").status_code == 404
    # Another store's profile id through this store's path: 404 too.
    assert api.call("delete", f"/stores/{world['store'].pk}/profiles/{outsider.pk}").status_code == 404
    assert Profile.objects.filter(pk=outsider.pk).exists()


def test_a_read_only_key_cannot_erase_edit_or_delete(world, client, account, store):
    reader = ApiClient(client, api_key_create(account=account, actor=None, name="BI", scope="read_only")[1])
    ada = world["ada"]
    assert reader.call("delete", f"/stores/{store.pk}/profiles/{ada.pk}").status_code == 403
    assert reader.call("patch", f"/stores/{store.pk}", {"name": "Renamed"}).status_code == 403
    assert reader.call("delete", f"/stores/{store.pk}?confirm_name={store.name}").status_code == 403
    assert Profile.objects.filter(pk=ada.pk).exists()
    store.refresh_from_db()
    assert store.name != "Renamed"


def test_the_console_deletes_a_profile_after_its_id_is_typed(world, admin_client, store):
    ada = world["ada"]
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, ada.pk]))
    assert b'data-testid="profile-delete"' in page.content
    url = reverse("profiles:delete", args=[store.pk, ada.pk])
    assert admin_client.get(url).status_code == 200
    wrong = admin_client.post(url, {"confirm": "delete me"})
    assert wrong.status_code == 200 and f"Type the profile&#x27;s id “{ada.pk}”".encode() in wrong.content
    assert Profile.objects.filter(pk=ada.pk).exists()
    response = admin_client.post(url, {"confirm": str(ada.pk)}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("profiles:list", args=[store.pk])
    text = response.content.decode()
    assert f"Deleted profile #{ada.pk}" in text and "2 identifiers" in text and "1 summaries" in text
    assert not Profile.objects.filter(pk__in=world["ada_ids"]).exists()
    event = AuditEvent.objects.get(action="profile.delete")
    for secret in SECRET_VALUES:
        assert secret not in json.dumps(event.details) + event.summary


def test_support_sees_no_delete_and_is_refused(world, support_client, store):
    ada = world["ada"]
    page = support_client.get(reverse("profiles:detail", args=[store.pk, ada.pk]))
    assert page.status_code == 200 and b"profile-delete" not in page.content
    url = reverse("profiles:delete", args=[store.pk, ada.pk])
    assert support_client.post(url, {"confirm": str(ada.pk)}).status_code == 403
    assert Profile.objects.filter(pk=ada.pk).exists()


def test_the_service_refuses_a_tombstone(world):
    tombstone = Profile.objects.get(pk=next(pk for pk in world["ada_ids"] if pk != world["ada"].pk))
    with pytest.raises(ValueError):
        profile_erase(profile=tombstone, actor=None)


def test_deleting_a_store_takes_every_profile_and_its_memory(world, api, store):
    assert Observation.objects.filter(store=store).exists() and Summary.objects.filter(store=store).exists()
    wrong = api.call("delete", f"/stores/{store.pk}?confirm_name=nope")
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["query", "confirm_name"]
    missing = api.call("delete", f"/stores/{store.pk}")
    assert missing.status_code == 422
    assert Store.objects.filter(pk=store.pk).exists()
    response = api.call("delete", f"/stores/{store.pk}?confirm_name={store.name}")
    assert response.status_code == 204 and response.content == b""
    assert not Store.objects.filter(pk=store.pk).exists()
    for model in (Profile, Identifier, Event, MergeRecord, Observation, ObservationRevision, Summary, Conversation):
        assert not model.objects.filter(store_id=store.pk).exists(), model
    assert Profile.objects.filter(pk=world["outsider"].pk).exists()
    assert AuditEvent.objects.filter(
        action="store.delete", store_id=store.pk, actor_label="API key “CRM sync”"
    ).exists()


def test_store_settings_through_the_api(api, store, account):
    response = api.call("patch", f"/stores/{store.pk}", {"name": "  Retail  EU ", "default_region": "gb"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["default_region"]) == ("Retail EU", "GB")
    assert body["description"] == store.description  # omitted: kept
    assert api.call("patch", f"/stores/{store.pk}", {"description": "EU shops"}).json()["description"] == "EU shops"
    StoreFactory(account=account, name="Taken")
    for payload, field in (
        ({"name": "taken"}, "name"),
        ({"default_region": "XX"}, "default_region"),
        ({"name": ""}, "name"),
    ):
        refused = api.call("patch", f"/stores/{store.pk}", payload)
        assert refused.status_code == 422, payload
        assert refused.json()["detail"][0]["loc"] == ["body", field], refused.json()
    store.refresh_from_db()
    assert store.name == "Retail EU"
    assert AuditEvent.objects.filter(action="store.update", store_id=store.pk).count() == 2


def test_store_writes_stop_at_the_tenant_wall(api, other_account):
    other = StoreFactory(account=other_account, name="Not yours")
    assert api.call("patch", f"/stores/{other.pk}", {"name": "Mine"}).status_code == 404
    assert api.call("delete", f"/stores/{other.pk}?confirm_name=Not yours").status_code == 404
    other.refresh_from_db()
    assert other.name == "Not yours"


def test_the_new_routes_are_documented(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    erase = paths["/api/v1/stores/{store_id}/profiles/{profile_id}"]["delete"]
    assert {"200", "401", "403", "404"} <= set(erase["responses"])
    assert {"200", "403", "404", "422"} <= set(paths["/api/v1/stores/{store_id}"]["patch"]["responses"])
    assert {"204", "403", "404", "422"} <= set(paths["/api/v1/stores/{store_id}"]["delete"]["responses"])


def test_the_console_delete_stops_at_the_tenant_wall(world, admin_client, store):
    outsider = world["outsider"]
    for store_id in (store.pk, outsider.store_id):
        url = reverse("profiles:delete", args=[store_id, outsider.pk])
        assert admin_client.post(url, {"confirm": str(outsider.pk)}).status_code == 404
    assert Profile.objects.filter(pk=outsider.pk).exists()
