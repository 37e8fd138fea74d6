"""Recall (issue 17): what an agent gets for a profile at the start of a conversation, over the
API (`POST /api/v1/stores/{store_id}/profiles/{profile_id}/recall`, by id or identifier) and the
profile page's Recall preview. These run on SQLite (FTS5) and, in the PostgreSQL pass, on
PostgreSQL (full-text search + trigrams); the `postgres`-marked ones only there."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.memory import _limits_keep, extractions_pending_process
from conversations.models import Observation, ObservationRevision
from conversations.recall import RecallOptions, recall, recall_options_clean
from profiles.models import Profile
from tests.factories import MembershipFactory, StoreFactory
from tests.test_memory_observations import _closed_conversation, _configuration, _say

FACTS = [
    ("Prefers WhatsApp over email", 3),
    ("Allergic to peanuts", 40),
    ("Moving to Denver in March 2027", 10),
    ("Has two dogs and a cat", 5),
    ("Wants invoices sent to the billing department", 1),
]


def _observe(profile, content, days_ago=1, kind="preference"):
    at = timezone.now() - timedelta(days=days_ago)
    observation = Observation.objects.create(
        store_id=profile.store_id,
        profile=profile,
        content=content,
        kind=kind,
        source="builtin",
        occurred_at=at,
        created_at=at,
        updated_at=at,
    )
    ObservationRevision.objects.create(
        store_id=profile.store_id, observation=observation, content=content, at=at, decision="added"
    )
    return observation


@pytest.fixture
def profile(store):
    profile = Profile.objects.create(store=store, traits={"Contact": {"firstName": "Ada"}})
    for content, days_ago in FACTS:
        _observe(profile, content, days_ago)
    return profile


def _recall(api, store, ref, body=None):
    return api.call("post", f"/stores/{store.pk}/profiles/{ref}/recall", body if body is not None else {})


def test_a_query_puts_the_matching_observation_first_with_a_score(api, store, profile):
    response = _recall(api, store, profile.pk, {"query": "does the customer have a peanut allergy?"})
    assert response.status_code == 200, response.content
    body = response.json()
    first = body["observations"][0]
    assert first["content"] == "Allergic to peanuts"
    assert 0 < first["score"] <= 1
    assert all(0 <= o["score"] <= first["score"] for o in body["observations"])
    assert "Moving to Denver in March 2027" not in [o["content"] for o in body["observations"]]
    assert body["meta"]["queryTime"] > 0 and body["meta"]["semantic"] == "off"
    assert "most relevant first" in body["text"] and "Allergic to peanuts (score " in body["text"]
    assert body["traits"] == {"Contact": {"firstName": "Ada"}} and "- Contact.firstName: Ada" in body["text"]


def test_without_a_query_the_most_recent_come_first_without_scores(api, store, profile):
    body = _recall(api, store, profile.pk).json()
    contents = [o["content"] for o in body["observations"]]
    assert contents == [c for c, _ in sorted(FACTS, key=lambda fact: fact[1])]
    assert all(o["score"] is None for o in body["observations"])
    assert body["meta"]["ranking"] == "recency"
    assert "Observations (most recent first):\n- [" in body["text"]


def test_limits_bound_each_list(api, store, profile):
    body = _recall(api, store, profile.pk, {"observationsLimit": 2, "summariesLimit": 0}).json()
    assert [o["content"] for o in body["observations"]] == [
        "Wants invoices sent to the billing department",
        "Prefers WhatsApp over email",
    ]
    assert _recall(api, store, profile.pk, {"observationsLimit": 0}).json()["observations"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"observationsLimit": -1}, "observationsLimit"),
        ({"observationsLimit": 101}, "observationsLimit"),
        ({"observationsLimit": True}, "observationsLimit"),
        ({"summariesLimit": "5"}, "summariesLimit"),
        ({"communicationsLimit": 1.5}, "communicationsLimit"),
        ({"communicationsLimit": 101}, "communicationsLimit"),
        ({"relevanceThreshold": 1.01}, "relevanceThreshold"),
        ({"relevanceThreshold": False}, "relevanceThreshold"),
        ({"query": "x" * 1025}, "query"),
        ({"query": "bell \u0007 here"}, "query"),
        ({"query": 12}, "query"),
        ({"beginDate": "yesterday"}, "beginDate"),
        ({"endDate": "2026-02-30T00:00:00Z"}, "endDate"),
        ({"beginDate": "2026-11-02T00:00:00Z", "endDate": "2026-11-01T00:00:00Z"}, "endDate"),
    ],
)
def test_hostile_input_answers_422_naming_the_field(api, store, profile, body, field):
    response = _recall(api, store, profile.pk, body)
    assert response.status_code == 422, response.content
    assert ["body", field] in [item["loc"] for item in response.json()["detail"]]
    assert not Observation.objects.filter(recall_count__gt=0).exists()


def test_the_dates_bound_what_is_recalled(api, store, profile):
    now = timezone.now()
    body = _recall(
        api,
        store,
        profile.pk,
        {"beginDate": (now - timedelta(days=12)).isoformat(), "endDate": (now - timedelta(days=4)).isoformat()},
    ).json()
    assert [o["content"] for o in body["observations"]] == ["Has two dogs and a cat", "Moving to Denver in March 2027"]


def test_the_threshold_leaves_out_weak_matches(store, profile):
    loose = recall(profile=profile, options=recall_options_clean(query="peanuts dogs"), count=False)
    assert {o.content for o in loose.observations} >= {"Allergic to peanuts", "Has two dogs and a cat"}
    best = max(o.score for o in loose.observations)
    strict = recall(
        profile=profile, options=recall_options_clean(query="peanuts dogs", relevance_threshold=best), count=False
    )
    assert [o.score for o in strict.observations] == [best]
    assert all(o.score >= best for o in strict.observations)


def test_superseded_content_is_never_recalled(store, api):
    _configuration(store)
    conversation = _closed_conversation(store, ["I live in Denver."])
    extractions_pending_process()
    _closed_conversation(store, ["I moved to Austin."], at=datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    extractions_pending_process()
    observation = Observation.objects.get(profile_id=conversation.profile_id)
    assert observation.revisions.count() == 2  # Denver is a revision, no longer the content
    for query in ("Denver", "where does the customer live", ""):
        # (the first conversation's summary tells what was said then: history, not a current fact)
        body = _recall(api, store, conversation.profile_id, {"query": query, "summariesLimit": 0}).json()
        assert "Denver" not in body["text"]
        assert all("Denver" not in o["content"] for o in body["observations"])
    body = _recall(api, store, conversation.profile_id, {"query": "Austin"}).json()
    assert [o["content"] for o in body["observations"]] == ["Moved to Austin"]
    assert body["observations"][0]["evidence"]  # the message that supports it


def test_a_merged_away_id_answers_the_primary_with_the_canonical_header(api, store, profile):
    tombstone = Profile.objects.create(store=store, merged_into=profile)
    response = _recall(api, store, tombstone.pk)
    assert response.status_code == 200
    assert response["Canonical-Profile-Id"] == str(profile.pk)
    assert response.json()["profileId"] == profile.pk and len(response.json()["observations"]) == 5
    assert "Canonical-Profile-Id" not in _recall(api, store, profile.pk)


def test_the_tenant_wall(api, store, profile, other_account):
    other_store = StoreFactory(account=other_account)
    stranger = Profile.objects.create(store=other_store)
    assert _recall(api, other_store, stranger.pk).status_code == 404  # another account's store
    sibling = StoreFactory(account=store.account)
    assert _recall(api, sibling, profile.pk).status_code == 404  # this account's other store
    assert _recall(api, store, stranger.pk).status_code == 404
    assert _recall(api, store, 999_999_999).status_code == 404
    assert not Observation.objects.filter(recall_count__gt=0).exists()


def test_by_identifier_normalised_as_identify_stores_it(api, store):
    made = api.call("post", f"/stores/{store.pk}/profiles/identify", {"identifiers": {"phone": "+14155550100"}})
    profile = Profile.objects.get(pk=made.json()["profile_id"])
    _observe(profile, "Prefers morning calls")
    for ref in ("phone:+14155550100", "phone:(415)%20555-0100", "phone:%2B14155550100"):
        response = _recall(api, store, ref)
        assert response.status_code == 200, (ref, response.content)
        assert response.json()["profileId"] == profile.pk
        assert response.json()["observations"][0]["content"] == "Prefers morning calls"
    assert _recall(api, store, "phone:+14155550199").status_code == 404
    bad = _recall(api, store, "phone:12")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "profile_id"]
    assert _recall(api, store, "nonsense").status_code == 422
    assert _recall(api, store, str(2**63)).status_code == 422
    for kind in ("ph%00one", "x" * 65):  # a kind that is not storable text: named, never a server error
        refused = _recall(api, store, f"{kind}:abc")
        assert refused.status_code == 422, refused.content
        assert refused.json()["detail"][0]["loc"] == ["path", "profile_id"]
        assert "identifier kind" in refused.json()["detail"][0]["msg"]
        refused = api.call("get", f"/stores/{store.pk}/profiles?identifier={kind}:abc")
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "identifier"]


def test_communications_come_from_the_current_conversation_oldest_first(api, store):
    _configuration(store)
    closed = _closed_conversation(store, ["I'm allergic to peanuts."])
    now = timezone.now()
    for n, text in enumerate(["Hello again", "Where is my order?", "It was due Monday"]):
        current = _say(store, text, now - timedelta(seconds=10 - n)).conversation
    assert current.pk != closed.pk
    body = _recall(api, store, closed.profile_id, {"communicationsLimit": 2}).json()
    assert [c["body"] for c in body["communications"]] == ["Where is my order?", "It was due Monday"]
    assert body["meta"]["conversationId"] == current.pk
    assert "Current conversation (latest messages):" in body["text"] and "Customer: It was due Monday" in body["text"]
    assert _recall(api, store, closed.profile_id, {"communicationsLimit": 0}).json()["communications"] == []


def test_recalls_are_counted_and_the_limit_prunes_the_least_recalled_first(api, store, profile, monkeypatch):
    from conversations import memory

    _recall(api, store, profile.pk, {"query": "peanuts"})
    _recall(api, store, profile.pk, {"query": "Denver"})
    peanuts = Observation.objects.get(content="Allergic to peanuts")
    assert peanuts.recall_count == 1 and peanuts.last_recalled_at is not None
    monkeypatch.setattr(memory, "PROFILE_OBSERVATIONS", 2)
    notes = _limits_keep(profile.pk)
    # The oldest (peanuts, 40 days) stays: it was recalled; the three never recalled go.
    assert set(Observation.objects.values_list("content", flat=True)) == {
        "Allergic to peanuts",
        "Moving to Denver in March 2027",
    }
    assert notes == ["Pruned the 3 oldest observations among the least recalled (the limit is 2 a profile)"]


def test_an_updated_content_is_found_by_its_new_words(store, profile):
    observation = Observation.objects.get(content="Has two dogs and a cat")
    observation.content = "Has a parrot named Kiwi"
    observation.save()
    found = recall(profile=profile, options=RecallOptions(query="parrot"), count=False)
    assert [o.content for o in found.observations] == ["Has a parrot named Kiwi"]
    assert recall(profile=profile, options=RecallOptions(query="dogs"), count=False).observations == []
    observation.delete()
    assert recall(profile=profile, options=RecallOptions(query="parrot"), count=False).observations == []


def test_recall_is_scoped_to_one_profile(store, profile):
    other = Profile.objects.create(store=store)
    _observe(other, "Allergic to shellfish")
    found = recall(profile=profile, options=RecallOptions(query="allergic shellfish"), count=False)
    assert [o.content for o in found.observations] == ["Allergic to peanuts"]


@pytest.mark.postgres
def test_postgres_stems_and_finds_misspellings_by_trigrams(store, profile):
    found = recall(profile=profile, options=RecallOptions(query="movng to Denvr"), count=False)
    assert found.observations[0].content == "Moving to Denver in March 2027"
    assert "trigram" in found.meta["ranking"]
    stemmed = recall(profile=profile, options=RecallOptions(query="invoice"), count=False)
    assert stemmed.observations[0].content == "Wants invoices sent to the billing department"
    negated = recall(profile=profile, options=RecallOptions(query="peanuts -allergic"), count=False)
    assert negated.observations == []


def test_the_recall_preview_shows_what_an_agent_gets_and_support_may_use_it(store, profile, support_client):
    url = reverse("conversations:recall_preview", args=[store.pk, profile.pk])
    response = support_client.get(url, {"query": "peanut allergy", "observationsLimit": "3"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Allergic to peanuts" in page and "Customer profile #" in page and "score" in page
    assert Observation.objects.get(content="Allergic to peanuts").recall_count == 0  # a preview is not a recall
    htmx = support_client.get(url, {"query": "peanut", "observationsLimit": "500"}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and "from 0 to 100" in htmx.content.decode()
    assert "<html" not in htmx.content.decode()


def test_the_recall_preview_keeps_the_tenant_wall(store, profile, client, other_account):
    client.force_login(MembershipFactory(account=other_account, role="admin").user)
    url = reverse("conversations:recall_preview", args=[store.pk, profile.pk])
    assert client.get(url, {"query": "peanut"}).status_code == 404


def test_the_profile_page_has_the_recall_preview_box(store, profile, admin_client):
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, profile.pk])).content.decode()
    assert 'data-testid="recall-preview"' in page
    assert page.index('data-testid="recall-preview"') < page.index(">Observations</h3>")


@pytest.mark.postgres
def test_the_recall_benchmark_runs_and_prints_its_figures_beside_the_baseline():
    from tests.test_bench_scripts import _run

    out = _run("recall.py")
    assert "baseline: SELECT ... LIMIT 20" in out and "POST .../recall end to end, query" in out
    assert "p95 / baseline" in out and "check: correct" in out


@pytest.mark.sqlite
def test_sqlite_puts_back_the_search_triggers_a_table_rebuild_dropped(store, profile):
    from django.db import connection

    from conversations import recall as recall_module

    with connection.cursor() as cursor:
        for name in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER conversations_observation_fts_{name}")
    _observe(profile, "Speaks Portuguese at home")  # written while the triggers are gone
    recall_module._fts_checked.clear()
    found = recall(profile=profile, options=RecallOptions(query="portuguese"), count=False)
    assert [o.content for o in found.observations] == ["Speaks Portuguese at home"]
    _observe(profile, "Plays the cello")  # and written after: the triggers are back
    assert recall(profile=profile, options=RecallOptions(query="cello"), count=False).observations


def test_an_unknown_field_is_refused_naming_it(api, store, profile):
    response = _recall(api, store, profile.pk, {"bogus": 1})
    assert response.status_code == 422, response.content
    assert any("bogus" in item["loc"] for item in response.json()["detail"])
