"""Every write through the JSON API names its API key in the audit trail (issue 13).

Before, API writes recorded ``actor=None`` and the Activity page showed them as "system".
"""

import html
import json
import re

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.services import api_key_create, api_key_revoke
from identity.models import IdentityRule
from imports.models import ProfileImport
from traits.models import Trait, TraitGroup

LABEL = "API key “CRM sync”"


@pytest.fixture
def key(account):
    return api_key_create(account=account, actor=None, name="CRM sync")


@pytest.fixture
def call(client, key):
    raw = key[1]

    def call(method, path, body=None, **extra):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {raw}", **extra}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    return call


def _events_since(last_pk):
    return list(AuditEvent.objects.filter(pk__gt=last_pk).order_by("pk"))


def _last_pk():
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _assert_by_key(events, key, action):
    assert [e.action for e in events] == [action]
    event = events[0]
    assert event.api_key_id == key.pk
    assert event.actor_id is None
    assert event.actor_label == LABEL


def _activity_row(admin_client, summary: str) -> str:
    """The Activity page's table row holding ``summary``."""
    page = html.unescape(admin_client.get(reverse("accounts:activity")).content.decode())
    rows = [row for row in re.split(r"<tr[\s>]", page) if summary in row]
    assert rows, f"no activity row says {summary!r}"
    return rows[0]


def test_store_create_through_the_api_records_the_key(call, key, admin_client):
    before = _last_pk()
    response = call("post", "/stores", {"name": "Via API"})
    assert response.status_code == 201
    _assert_by_key(_events_since(before), key[0], "store.create")
    row = _activity_row(admin_client, "Created memory store Via API")
    assert LABEL in row and "system" not in row


def test_trait_group_and_trait_writes_record_the_key(call, key, store, admin_client):
    before = _last_pk()
    assert call("post", f"/stores/{store.pk}/trait-groups", {"name": "Prefs"}).status_code == 201
    _assert_by_key(_events_since(before), key[0], "trait_group.create")
    group = TraitGroup.objects.get(store=store, name="Prefs")

    before = _last_pk()
    path = f"/stores/{store.pk}/trait-groups/{group.pk}/traits"
    assert call("post", path, {"name": "tier"}).status_code == 201
    _assert_by_key(_events_since(before), key[0], "trait.create")
    trait = Trait.objects.get(group=group, name="tier")

    before = _last_pk()
    assert call("delete", f"/stores/{store.pk}/traits/{trait.pk}").status_code == 200
    _assert_by_key(_events_since(before), key[0], "trait.delete")

    before = _last_pk()
    assert call("delete", f"/stores/{store.pk}/trait-groups/{group.pk}").status_code == 200
    _assert_by_key(_events_since(before), key[0], "trait_group.delete")

    by_key = AuditEvent.objects.filter(api_key=key[0])
    assert by_key.count() == 4
    for event in by_key:
        row = _activity_row(admin_client, event.summary)
        assert LABEL in row and "system" not in row


def test_identity_rule_writes_record_the_key(call, key, store, admin_client):
    before = _last_pk()
    body = {"name": "User id", "kind": "user_id", "limit": 1}
    assert call("post", f"/stores/{store.pk}/identity-rules", body).status_code == 201
    _assert_by_key(_events_since(before), key[0], "identity_rule.create")
    rule = IdentityRule.objects.get(store=store, kind="user_id")

    before = _last_pk()
    body = {"name": "Customer id", "limit": 2}
    assert call("put", f"/stores/{store.pk}/identity-rules/{rule.pk}", body).status_code == 200
    _assert_by_key(_events_since(before), key[0], "identity_rule.update")

    before = _last_pk()
    order = list(IdentityRule.objects.filter(store=store).order_by("-priority").values_list("pk", flat=True))
    assert call("put", f"/stores/{store.pk}/identity-rules/order", {"rule_ids": order}).status_code == 200
    _assert_by_key(_events_since(before), key[0], "identity_rule.reorder")

    before = _last_pk()
    assert call("delete", f"/stores/{store.pk}/identity-rules/{rule.pk}").status_code == 204
    _assert_by_key(_events_since(before), key[0], "identity_rule.delete")

    for event in AuditEvent.objects.filter(api_key=key[0]):
        row = _activity_row(admin_client, event.summary)
        assert LABEL in row and "system" not in row


def test_an_import_started_through_the_api_records_the_key(call, key, store, admin_client):
    before = _last_pk()
    csv = b"email,firstName,lastName\na1@example.test,Ada,Lovelace\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = call(
        "post",
        f"/stores/{store.pk}/imports",
        None,
        data={
            "file": SimpleUploadedFile("people.csv", csv, content_type="text/csv"),
            "mapping": json.dumps(
                {"email": "identifier:email", "firstName": "Contact.firstName", "lastName": "Contact.lastName"}
            ),
        },
    )
    assert response.status_code == 202, response.content
    events = _events_since(before)
    assert [e.action for e in events] == ["import.upload", "import.queue"]
    assert {(e.api_key_id, e.actor_label) for e in events} == {(key[0].pk, LABEL)}
    assert ProfileImport.objects.get(store=store).created_by_label == LABEL


def test_the_key_stays_named_after_it_is_revoked(call, key, admin_client):
    call("post", "/stores", {"name": "Before revoking"})
    api_key_revoke(key=key[0], actor=None)
    row = _activity_row(admin_client, "Created memory store Before revoking")
    assert LABEL in row and "revoked" in row
    assert AuditEvent.objects.get(action="store.create", api_key=key[0]).actor_label == LABEL


def test_console_writes_still_name_the_user(admin_client, admin_user, store):
    before = _last_pk()
    admin_client.post(
        reverse("stores:edit", args=[store.pk]), {"name": "Renamed", "description": "", "default_region": "US"}
    )
    events = _events_since(before)
    assert [(e.actor_id, e.api_key_id, e.actor_label) for e in events] == [(admin_user.pk, None, admin_user.email)]
