"""Administrators correct conversational memory (issue 17, Console): edit or delete an observation
(history and audit kept; Support reads only; tenant walls), the same through the API, and re-run
extraction for one conversation: a dry run that writes nothing, then Apply, which writes exactly it."""

from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from conversations import memory_services
from conversations.memory import extractions_pending_process
from conversations.models import (
    Conversation,
    ExtractionDecision,
    ExtractionRequest,
    Observation,
    ObservationRevision,
    Summary,
)
from profiles.models import Profile
from tests.conftest import ApiClient
from tests.factories import MembershipFactory, StoreFactory
from tests.test_memory_observations import AT, _closed_conversation, _configuration


@pytest.fixture
def remembered(store):
    """A profile that remembers "Lives in Denver" and "Allergic to peanuts" from one closed conversation."""
    _configuration(store)
    conversation = _closed_conversation(store, ["I live in Denver.", "I'm allergic to peanuts."])
    assert extractions_pending_process() == {"done": 1, "failed": 0}
    return conversation


def _observation(content):
    return Observation.objects.get(content=content)


def _edit_url(store, o):
    return reverse("conversations:observation_edit", args=[store.pk, o.profile_id, o.pk])


def _delete_url(store, o):
    return reverse("conversations:observation_delete", args=[store.pk, o.profile_id, o.pk])


def _profile_page(client, store, profile_id) -> str:
    response = client.get(reverse("profiles:detail", args=[store.pk, profile_id]))
    assert response.status_code == 200
    return response.content.decode()


def _counts():
    return (
        Observation.objects.count(),
        ObservationRevision.objects.count(),
        ExtractionDecision.objects.count(),
        ExtractionRequest.objects.count(),
        Summary.objects.count(),
        AuditEvent.objects.count(),
    )


# -- edit --------------------------------------------------------------------------------------


def test_an_admin_edits_an_observation_and_its_history_names_who_did(store, remembered, admin_client, admin_user):
    denver = _observation("Lives in Denver")
    page = _profile_page(admin_client, store, denver.profile_id)
    assert _edit_url(store, denver) in page and _delete_url(store, denver) in page
    form = admin_client.get(_edit_url(store, denver)).content.decode()
    assert "Lives in Denver</textarea>" in form and "Save observation" in form

    typed = "  Lives in Denver, Colorado\r\nNear the airport "
    response = admin_client.post(_edit_url(store, denver), {"content": typed})
    assert response.status_code == 302
    assert response.url == reverse("profiles:detail", args=[store.pk, denver.profile_id])
    denver.refresh_from_db()
    assert denver.content == "Lives in Denver, Colorado\nNear the airport"  # trimmed; CR LF is a browser's line break
    assert list(denver.revisions.order_by("id").values_list("decision", "actor", "content")) == [
        ("added", "", "Lives in Denver"),
        ("edited", admin_user.email, "Lives in Denver, Colorado\nNear the airport"),
    ]
    assert set(denver.revisions.order_by("-id").first().evidence.all()) == set(denver.evidence.all())  # kept
    audit = AuditEvent.objects.get(action="observation.update")
    assert audit.actor == admin_user and audit.store_id == store.pk
    assert "“Lives in Denver” → “Lives in Denver, Colorado Near the airport”" in audit.summary

    page = _profile_page(admin_client, store, denver.profile_id)
    assert f"Edited by {admin_user.email}" in page and "History (2 versions)" in page
    assert page.index("Lives in Denver, Colorado") < page.index("Allergic to peanuts")  # newest change first


def test_an_edit_through_htmx_replaces_the_row_and_closes_the_sheet(store, remembered, admin_client):
    peanuts = _observation("Allergic to peanuts")
    sheet = admin_client.get(_edit_url(store, peanuts), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="side-sheet-title"' in sheet and "Edit observation" in sheet
    response = admin_client.post(
        _edit_url(store, peanuts), {"content": "Allergic to peanuts and <b>shellfish</b>"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response["HX-Trigger"] == "sheet:close"
    body = response.content.decode()
    assert f'id="observation-{peanuts.pk}"' in body and 'hx-swap-oob="true"' in body
    assert "&lt;b&gt;shellfish&lt;/b&gt;" in body and "<b>shellfish" not in body
    assert "Saved the observation." in body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("   ", "The content is required"),
        ("Likes\x07bells", "The content contains U+0007 BELL."),
        ("x" * 4097, "The content is longer than 4,096 characters."),
    ],
)
def test_an_invalid_edit_says_why_and_changes_nothing(store, remembered, admin_client, content, message):
    denver = _observation("Lives in Denver")
    before = _counts()
    response = admin_client.post(_edit_url(store, denver), {"content": content}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Trigger" not in response
    assert message in body and "is-invalid" in body and 'aria-describedby="observation-content-help' in body
    assert _counts() == before
    denver.refresh_from_db()
    assert denver.content == "Lives in Denver"


def test_saving_the_same_content_records_nothing(store, remembered, admin_client):
    denver = _observation("Lives in Denver")
    before = _counts()
    response = admin_client.post(_edit_url(store, denver), {"content": "Lives in Denver"}, follow=True)
    assert "Nothing changed: the observation is as it was." in response.content.decode()
    assert _counts() == before


# -- delete ------------------------------------------------------------------------------------


def test_deleting_asks_first_then_deletes_with_its_history_and_is_audited(store, remembered, admin_client, admin_user):
    peanuts = _observation("Allergic to peanuts")
    before = _counts()
    confirm = admin_client.get(_delete_url(store, peanuts), HTTP_HX_REQUEST="true").content.decode()
    assert "Delete this observation" in confirm and "Allergic to peanuts" in confirm
    assert "Delete observation</button>" in confirm and "cannot be undone" in confirm
    assert _counts() == before  # asking deletes nothing

    response = admin_client.post(_delete_url(store, peanuts), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Trigger"] == "sheet:close"
    assert f'<li id="observation-{peanuts.pk}" hx-swap-oob="delete"></li>' in response.content.decode()
    assert not Observation.objects.filter(pk=peanuts.pk).exists()
    assert not ObservationRevision.objects.filter(observation_id=peanuts.pk).exists()
    decision = ExtractionDecision.objects.get(content="Allergic to peanuts")
    assert decision.observation is None  # the extraction log stays
    audit = AuditEvent.objects.get(action="observation.delete")
    assert audit.actor == admin_user and "“Allergic to peanuts”" in audit.summary
    assert audit.details["content"] == "Allergic to peanuts"
    page = _profile_page(admin_client, store, peanuts.profile_id)
    assert "Allergic to peanuts" not in page and "Lives in Denver" in page


def test_deleting_without_javascript_goes_back_to_the_profile(store, remembered, admin_client):
    denver = _observation("Lives in Denver")
    page = admin_client.get(_delete_url(store, denver)).content.decode()
    assert "<form" in page and "Cancel" in page
    response = admin_client.post(_delete_url(store, denver), follow=True)
    assert response.redirect_chain[-1][0] == reverse("profiles:detail", args=[store.pk, denver.profile_id])
    assert "Deleted the observation." in response.content.decode()


# -- roles and walls ---------------------------------------------------------------------------


def test_support_sees_no_controls_and_is_refused_every_memory_write(store, remembered, support_client):
    denver = _observation("Lives in Denver")
    page = _profile_page(support_client, store, denver.profile_id)
    assert "Lives in Denver" in page
    assert _edit_url(store, denver) not in page and _delete_url(store, denver) not in page
    rerun = reverse("conversations:extraction_rerun", args=[store.pk, remembered.pk])
    conversation_page = support_client.get(reverse("conversations:conversation", args=[store.pk, remembered.pk]))
    assert rerun not in conversation_page.content.decode()
    before = _counts()
    for url in (_edit_url(store, denver), _delete_url(store, denver), rerun):
        assert support_client.get(url).status_code == 403
        assert support_client.post(url, {"content": "Hijacked", "fingerprint": "x"}).status_code == 403
    assert _counts() == before


def test_another_stores_or_profiles_observation_is_not_found(store, remembered, admin_client, account):
    denver = _observation("Lives in Denver")
    sibling = StoreFactory(account=account)
    other_profile = Profile.objects.create(store=store)
    wrong = [
        reverse("conversations:observation_edit", args=[sibling.pk, denver.profile_id, denver.pk]),
        reverse("conversations:observation_edit", args=[store.pk, other_profile.pk, denver.pk]),
        reverse("conversations:observation_delete", args=[sibling.pk, denver.profile_id, denver.pk]),
        reverse("conversations:observation_delete", args=[store.pk, other_profile.pk, denver.pk]),
        reverse("conversations:extraction_rerun", args=[sibling.pk, remembered.pk]),
    ]
    for url in wrong:
        assert admin_client.post(url, {"content": "Hijacked"}).status_code == 404, url
    denver.refresh_from_db()
    assert denver.content == "Lives in Denver"


def test_an_admin_of_another_account_gets_404(store, remembered, client, other_account):
    client.force_login(MembershipFactory(account=other_account, role="admin").user)
    denver = _observation("Lives in Denver")
    assert client.post(_edit_url(store, denver), {"content": "Hijacked"}).status_code == 404
    assert client.post(_delete_url(store, denver)).status_code == 404
    assert Observation.objects.filter(pk=denver.pk, content="Lives in Denver").exists()


# -- re-run extraction: dry run, then apply ------------------------------------------------------


@pytest.fixture
def moved(store, remembered):
    """A later closed conversation ("I moved to Austin", "I have a dog") not processed yet."""
    conversation = _closed_conversation(store, ["I moved to Austin.", "I have a dog."], at=AT + timedelta(days=3))
    ExtractionRequest.objects.filter(conversation=conversation).delete()  # as if the worker had not run yet
    return conversation


def _rerun_url(store, conversation):
    return reverse("conversations:extraction_rerun", args=[store.pk, conversation.pk])


def test_the_dry_run_shows_the_decisions_and_writes_nothing(store, moved, admin_client):
    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, moved.pk])).content.decode()
    assert _rerun_url(store, moved) in page and "Re-run memory extraction" in page
    before = _counts()
    sheet = admin_client.get(_rerun_url(store, moved), HTTP_HX_REQUEST="true").content.decode()
    assert _counts() == before
    assert "1 to add · 1 to update · 0 to discard" in sheet
    assert "Moved to Austin" in sheet and 'Replaces: <span class="text-muted">Lives in Denver</span>' in sheet
    assert "supersedes “Lives in Denver”" in sheet  # the reason
    assert "Has a dog" in sheet and 'data-action="added"' in sheet and 'data-action="updated"' in sheet
    assert "Apply</button>" in sheet and "writes its summary again" in sheet


def test_the_preview_function_returns_what_extraction_would_decide(store, moved):
    rows = memory_services.extraction_preview(conversation=moved)
    denver = _observation("Lives in Denver")
    assert [(r.action, r.content, r.observation_id) for r in rows] == [
        ("updated", "Moved to Austin", denver.pk),
        ("added", "Has a dog", None),
    ]
    inbound = list(moved.communications.filter(direction="inbound").order_by("id").values_list("pk", flat=True))
    assert rows[0].evidence == (inbound[0],) and rows[0].observation_content == "Lives in Denver"


def test_apply_writes_exactly_the_dry_run_and_applying_again_doubles_nothing(store, moved, admin_client, admin_user):
    sheet = admin_client.get(_rerun_url(store, moved)).content.decode()
    fingerprint = memory_services.preview_fingerprint(memory_services.extraction_preview(conversation=moved))
    assert f'value="{fingerprint}"' in sheet
    response = admin_client.post(_rerun_url(store, moved), {"fingerprint": fingerprint}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("conversations:conversation", args=[store.pk, moved.pk])
    assert sorted(Observation.objects.values_list("content", flat=True)) == [
        "Allergic to peanuts",
        "Has a dog",
        "Moved to Austin",
    ]
    austin = _observation("Moved to Austin")
    assert list(austin.revisions.order_by("id").values_list("decision", flat=True)) == ["added", "updated"]
    request = ExtractionRequest.objects.get(conversation=moved)
    assert (request.status, request.requested_by, request.after_communication_id) == ("done", admin_user.email, 0)
    assert list(request.decisions.values_list("action", "content")) == [
        ("updated", "Moved to Austin"),
        ("added", "Has a dog"),
    ]
    assert Summary.objects.filter(conversation=moved).exists()  # a Closed conversation's summary
    audit = AuditEvent.objects.get(action="memory.extraction_rerun")
    assert audit.actor == admin_user and "1 added, 1 updated, 0 discarded" in audit.summary
    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, moved.pk])).content.decode()
    assert "Re-ran memory extraction: 1 added, 1 updated, 0 discarded." in page

    # Again: the dry run now discards both as restatements, and applying it doubles nothing.
    rows = memory_services.extraction_preview(conversation=moved)
    assert [r.action for r in rows] == ["discarded", "discarded"]
    observations, revisions = Observation.objects.count(), ObservationRevision.objects.count()
    admin_client.post(_rerun_url(store, moved), {"fingerprint": memory_services.preview_fingerprint(rows)})
    assert (Observation.objects.count(), ObservationRevision.objects.count()) == (observations, revisions)
    assert ExtractionRequest.objects.filter(conversation=moved).count() == 2


def test_apply_writes_nothing_when_the_profile_changed_since_the_dry_run(store, moved, admin_client, admin_user):
    fingerprint = memory_services.preview_fingerprint(memory_services.extraction_preview(conversation=moved))
    memory_services.observation_delete(observation=_observation("Lives in Denver"), actor=admin_user)
    before = _counts()
    response = admin_client.post(_rerun_url(store, moved), {"fingerprint": fingerprint})
    body = response.content.decode()
    assert response.status_code == 200 and "changed since the dry run: nothing was written" in body
    assert _counts() == before
    assert "2 to add · 0 to update · 0 to discard" in body  # the new dry run, to apply instead
    with pytest.raises(memory_services.PreviewChanged):
        memory_services.extraction_rerun(conversation=moved, actor=admin_user, fingerprint="forged")
    assert _counts() == before


def test_a_conversation_without_a_profile_has_nothing_to_re_run(store, moved, admin_client):
    Conversation.objects.filter(pk=moved.pk).update(profile=None)
    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, moved.pk])).content.decode()
    assert _rerun_url(store, moved) not in page
    before = _counts()
    sheet = admin_client.get(_rerun_url(store, moved)).content.decode()
    assert "The conversation has no customer profile" in sheet and "Apply</button>" not in sheet
    admin_client.post(_rerun_url(store, moved), {"fingerprint": "x"})
    assert _counts() == before


# -- the API -------------------------------------------------------------------------------------


def _observations_path(store, profile_id):
    return f"/stores/{store.pk}/profiles/{profile_id}/observations"


def test_the_api_lists_observations_newest_first_in_pages_with_evidence_and_history(
    store, remembered, api, monkeypatch
):
    from conversations import api as conversations_api

    profile_id = remembered.profile_id
    answer = api.call("get", _observations_path(store, profile_id)).json()
    assert [o["content"] for o in answer["items"]] == ["Allergic to peanuts", "Lives in Denver"]
    assert answer["next_before_id"] is None
    first = answer["items"][1]
    inbound = remembered.communications.filter(direction="inbound").order_by("id").first()
    assert first["decision"] == "added" and first["source"] == "builtin" and first["profile_id"] == profile_id
    assert first["evidence"] == [{"communication_id": inbound.pk, "conversation_id": remembered.pk}]
    assert first["revisions"][0]["decision"] == "added" and first["revisions"][0]["evidence"] == [inbound.pk]

    monkeypatch.setattr(conversations_api, "MEMORY_PAGE", 1)
    page1 = api.call("get", _observations_path(store, profile_id)).json()
    assert len(page1["items"]) == 1 and page1["next_before_id"] == page1["items"][0]["id"]
    page2 = api.call("get", f"{_observations_path(store, profile_id)}?before_id={page1['next_before_id']}").json()
    assert [o["content"] for o in page2["items"]] == ["Lives in Denver"] and page2["next_before_id"] is None
    assert api.call("get", f"{_observations_path(store, profile_id)}?before_id=abc").status_code == 422


def test_the_api_edits_and_deletes_like_the_console(store, remembered, api):
    denver = _observation("Lives in Denver")
    path = f"{_observations_path(store, denver.profile_id)}/{denver.pk}"
    response = api.call("patch", path, {"content": "Lives in Boulder"})
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "Lives in Boulder" and body["decision"] == "edited"
    assert body["revisions"][0]["actor"] == "API key “CRM sync”"
    assert body["revisions"][1]["content"] == "Lives in Denver"
    audit = AuditEvent.objects.get(action="observation.update")
    assert audit.actor_label == "API key “CRM sync”"

    assert api.call("delete", path).status_code == 204
    assert not Observation.objects.filter(pk=denver.pk).exists()
    assert AuditEvent.objects.filter(action="observation.delete", actor_label="API key “CRM sync”").exists()
    assert api.call("delete", path).status_code == 404
    assert api.call("patch", path, {"content": "Back"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ('{"content": 5}', ["body", "content"], "string"),
        ('{"content": null}', ["body", "content"], "string"),
        ("{}", ["body", "content"], "required"),
        ('{"content": "Lives\\u0007 here"}', ["body", "content"], "U+0007 BELL"),
        ('{"content": "Lives\\u0000 here"}', ["body", "content"], "U+0000 NULL"),
        ('{"content": "\\ud800"}', ["body", "content"], "surrogate"),
        ('{"content": "   "}', ["body", "content"], "required"),
        ('{"content": "' + "x" * 4097 + '"}', ["body", "content"], "longer than 4,096 characters"),
        ('{"content": "Fine", "kind": "plan"}', ["body", "kind"], "Unknown field"),
        ("[]", ["body"], "JSON object"),
        ("{", ["body"], "not valid JSON"),
    ],
)
def test_hostile_patch_bodies_answer_422_naming_the_field(store, remembered, api, body, loc, message):
    denver = _observation("Lives in Denver")
    before = _counts()
    response = api.raw("patch", f"{_observations_path(store, denver.profile_id)}/{denver.pk}", body)
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"], error
    assert _counts() == before


def test_the_api_walls_off_other_stores_accounts_and_profiles(store, remembered, api, client, other_account, account):
    from accounts.services import api_key_create

    denver = _observation("Lives in Denver")
    sibling = StoreFactory(account=account)
    other_profile = Profile.objects.create(store=store)
    for path in (
        f"{_observations_path(sibling, denver.profile_id)}/{denver.pk}",
        f"{_observations_path(store, other_profile.pk)}/{denver.pk}",
        f"{_observations_path(store, 2**62)}/{denver.pk}",
    ):
        assert api.call("patch", path, {"content": "Hijacked"}).status_code == 404, path
        assert api.call("delete", path).status_code == 404, path
    assert api.call("get", _observations_path(sibling, denver.profile_id)).status_code == 404
    outsider = ApiClient(client, api_key_create(account=other_account, actor=None, name="Outsider")[1])
    path = f"{_observations_path(store, denver.profile_id)}/{denver.pk}"
    assert outsider.call("get", _observations_path(store, denver.profile_id)).status_code == 404
    assert outsider.call("patch", path, {"content": "Hijacked"}).status_code == 404
    assert outsider.call("delete", path).status_code == 404
    assert outsider.call("get", f"/stores/{store.pk}/profiles/{denver.profile_id}/summaries").status_code == 404
    denver.refresh_from_db()
    assert denver.content == "Lives in Denver"


def test_the_api_lists_summaries_and_follows_a_merged_away_profile(store, remembered, api):
    from profiles.services import profile_merge_effects

    answer = api.call("get", f"/stores/{store.pk}/profiles/{remembered.profile_id}/summaries").json()
    (summary,) = answer["items"]
    stored = Summary.objects.get(conversation=remembered)
    assert summary["conversation_id"] == remembered.pk and answer["next_before_id"] is None
    assert (summary["reason"], summary["outcome"]) == ("I live in Denver.", "Noted that.")
    assert summary["content"] == stored.content and summary["id"] == stored.pk
    assert summary["evidence"] == sorted(stored.evidence.values_list("pk", flat=True))  # the messages it draws on

    primary = Profile.objects.create(store=store)
    profile_merge_effects(from_id=remembered.profile_id, into_id=primary.pk, at=AT)
    Profile.objects.filter(pk=remembered.profile_id).update(merged_into=primary)
    answer = api.call("get", _observations_path(store, remembered.profile_id)).json()
    assert {o["profile_id"] for o in answer["items"]} == {primary.pk} and len(answer["items"]) == 2


def test_the_openapi_document_lists_the_memory_routes(api, client):
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    observation = "/api/v1/stores/{store_id}/profiles/{profile_id}/observations/{observation_id}"
    assert {"patch", "delete"} <= set(paths[observation])
    assert "get" in paths["/api/v1/stores/{store_id}/profiles/{profile_id}/observations"]
    assert "get" in paths["/api/v1/stores/{store_id}/profiles/{profile_id}/summaries"]
    assert "422" in paths[observation]["patch"]["responses"]


def test_a_conversation_re_run_while_open_still_gets_its_closed_request_and_summary(store, admin_client):
    from conversations.services import conversations_advance

    _configuration(store)
    conversation = _closed_conversation(store, ["I live in Denver."])
    ExtractionRequest.objects.filter(conversation=conversation).delete()
    Summary.objects.filter(conversation=conversation).delete()
    Conversation.objects.filter(pk=conversation.pk).update(status="open", closed_at=None)
    conversation.refresh_from_db()
    rows = memory_services.extraction_preview(conversation=conversation)
    admin_client.post(_rerun_url(store, conversation), {"fingerprint": memory_services.preview_fingerprint(rows)})
    assert ExtractionRequest.objects.filter(conversation=conversation).exclude(requested_by="").count() == 1

    # Then the conversation times out: the lifecycle asks for its Closed extraction all the same.
    conversations_advance(now=conversation.last_customer_at + timedelta(days=1))
    assert Conversation.objects.get(pk=conversation.pk).status == "closed"
    assert ExtractionRequest.objects.filter(conversation=conversation, requested_by="", transition="closed").exists()
    assert extractions_pending_process()["done"] == 1
    assert Summary.objects.filter(conversation=conversation).exists()


def test_re_running_an_older_conversation_never_overwrites_what_the_customer_said_since(
    store, remembered, moved, admin_client
):
    later = memory_services.extraction_preview(conversation=moved)  # the later conversation: Denver became Austin
    admin_client.post(_rerun_url(store, moved), {"fingerprint": memory_services.preview_fingerprint(later)})
    austin = _observation("Moved to Austin")
    rows = memory_services.extraction_preview(conversation=remembered)
    older = next(r for r in rows if r.content == "Lives in Denver")
    assert older.action == "discarded" and older.observation_id == austin.pk
    assert older.reason.startswith("Older than the current “Moved to Austin”")
    admin_client.post(_rerun_url(store, remembered), {"fingerprint": memory_services.preview_fingerprint(rows)})
    assert Observation.objects.get(pk=austin.pk).content == "Moved to Austin"
    assert not Observation.objects.filter(content="Lives in Denver").exists()
