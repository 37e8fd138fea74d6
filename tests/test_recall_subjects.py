"""Recall by meaning without a model (issue 17): a query's words that ask about a subject
("where does the customer live" → location) match the profile's observations of that subject, below
an exact match of the query's words; summaries are ranked by the query too, with a score. These run
on SQLite (FTS5) and, in the PostgreSQL pass, on PostgreSQL (full-text search + trigrams)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.extraction.subjects import query_subjects
from conversations.memory import extractions_pending_process
from conversations.models import Observation, Summary
from conversations.recall import RecallOptions, recall
from profiles.models import Profile
from tests.factories import MembershipFactory, StoreFactory
from tests.test_memory_observations import AT, _closed_conversation, _configuration

FACTS = [  # content, subject (as the extractor tags it), days ago
    ("Moved to Austin", "location", 2),
    ("Vegetarian", "diet", 5),
    ("Allergic to peanuts", "allergy", 40),
    ("Prefers WhatsApp over email", "contact_channel", 3),
    ("Works night shifts as a nurse", "job", 8),
]


def _observe(profile, content, subject, days_ago=1):
    at = timezone.now() - timedelta(days=days_ago)
    return Observation.objects.create(
        store_id=profile.store_id,
        profile=profile,
        content=content,
        kind="identity",
        subject=subject,
        source="builtin",
        occurred_at=at,
        created_at=at,
        updated_at=at,
    )


@pytest.fixture
def profile(store):
    profile = Profile.objects.create(store=store)
    for content, subject, days_ago in FACTS:
        _observe(profile, content, subject, days_ago)
    return profile


def _found(profile, query, **options):
    result = recall(profile=profile, options=RecallOptions(query=query, **options), count=False)
    return result, [o.content for o in result.observations]


def test_the_query_vocabulary_maps_words_to_subjects():
    assert query_subjects("Where does the customer live?") == ("location",)
    assert query_subjects("any allergies or diet?") == ("allergy", "diet")
    assert query_subjects("how can we reach them") == ("contact_channel",)
    assert query_subjects("what do they do for work") == ("job",)
    assert query_subjects("loyalty points") == ()


def test_a_question_about_where_they_live_finds_the_move_it_shares_no_word_with(profile):
    result, found = _found(profile, "where does the customer live")
    assert found == ["Moved to Austin"]
    assert 0 < result.observations[0].score <= 1
    assert result.meta["ranking"].endswith(" + subjects (location)")  # the preview and the API say so


def test_a_question_about_allergies_or_diet_finds_both_subjects(profile):
    result, found = _found(profile, "any allergies or diet?")
    assert set(found) == {"Vegetarian", "Allergic to peanuts"}
    assert all(0 < o.score <= 1 for o in result.observations)


def test_a_subject_match_ranks_below_an_exact_match_of_the_query_words(profile):
    _observe(profile, "Lives in a flat above the bakery", "location", days_ago=300)  # older, yet it says "lives"
    result, found = _found(profile, "where does the customer live")
    assert found == ["Lives in a flat above the bakery", "Moved to Austin"]
    assert result.observations[0].score > result.observations[1].score
    # the threshold reads the same scores: a high one keeps the exact match only
    _, strict = _found(profile, "where does the customer live", relevance_threshold=result.observations[0].score)
    assert strict == ["Lives in a flat above the bakery"]


def test_a_query_without_subject_words_ranks_as_before(profile):
    result, found = _found(profile, "Austin")
    assert found == ["Moved to Austin"] and "subjects" not in result.meta["ranking"]


def test_no_query_keeps_the_most_recent_first_without_scores(profile):
    result = recall(profile=profile, options=RecallOptions(), count=False)
    assert [o.content for o in result.observations] == [c for c, _, _ in sorted(FACTS, key=lambda f: f[2])]
    assert all(o.score is None for o in result.observations)
    assert result.meta["ranking"] == "recency"


def test_subject_matches_stay_within_the_profile_and_the_store(store, profile):
    neighbour = Profile.objects.create(store=store)
    _observe(neighbour, "Lives in Denver", "location")
    elsewhere = Profile.objects.create(store=StoreFactory(account=store.account))
    _observe(elsewhere, "Relocated to Boston", "location")
    _, found = _found(profile, "where does the customer live")
    assert found == ["Moved to Austin"]


@pytest.fixture
def remembered(store):
    """One profile with two closed conversations, each with its summary: the router, then the address."""
    _configuration(store)
    first = _closed_conversation(store, ["My router keeps dropping the wifi."], agent_says="I've booked a technician.")
    second = _closed_conversation(
        store,
        ["I want to change my billing address."],
        at=AT + timedelta(days=2),
        agent_says="I've updated your billing address.",
    )
    assert extractions_pending_process() == {"done": 2, "failed": 0}
    assert first.profile_id == second.profile_id
    return Profile.objects.get(pk=first.profile_id)


def test_summaries_are_ranked_by_the_query_with_a_score(remembered):
    result = recall(profile=remembered, options=RecallOptions(query="wifi router problem"), count=False)
    router, billing = result.summaries  # the match first, then the others (score 0): context all the same
    assert "router" in router.content and 0 < router.score < 1
    assert "billing address" in billing.content and billing.score == 0
    assert (
        "Previous conversations (most relevant first):" in result.text and f"(score {router.score:.2f})" in result.text
    )
    both = recall(profile=remembered, options=RecallOptions(query="billing address router"), count=False)
    assert "billing address" in both.summaries[0].content  # two of the three words
    assert both.summaries[0].score > both.summaries[1].score > 0
    assert all(0 <= s.score <= 1 for s in both.summaries)
    none = recall(profile=remembered, options=RecallOptions(query="loyalty points"), count=False)
    assert [s.score for s in none.summaries] == [0, 0] and "billing address" in none.summaries[0].content  # newest
    above = min(router.score + 0.01, 1.0)  # the threshold leaves out summaries scored below it, zeros too
    high = recall(profile=remembered, options=RecallOptions(query="wifi router problem", relevance_threshold=above))
    assert high.summaries == []
    some = recall(profile=remembered, options=RecallOptions(query="wifi router problem", relevance_threshold=0.01))
    assert [s.id for s in some.summaries] == [router.id]
    one = recall(profile=remembered, options=RecallOptions(query="router", summaries_limit=1), count=False)
    assert [s.id for s in one.summaries] == [router.id]


@pytest.mark.parametrize("query", ["the", "?", "!!!", "to be or not", "of"])
def test_a_query_of_stop_words_or_punctuation_matches_no_summary_and_never_fails(api, store, remembered, query):
    """Found by a new user's trial: such a query divided by its zero words (a 500 on the API)."""
    result = recall(profile=remembered, options=RecallOptions(query=query), count=False)
    assert [s.score for s in result.summaries] == [0, 0] and "billing address" in result.summaries[0].content
    answer = api.call("post", f"/stores/{store.pk}/profiles/{remembered.pk}/recall", {"query": query})
    assert answer.status_code == 200 and len(answer.json()["summaries"]) == 2


def test_without_a_query_summaries_come_newest_first_without_scores(remembered):
    result = recall(profile=remembered, options=RecallOptions(), count=False)
    assert [s.created_at for s in result.summaries] == sorted((s.created_at for s in result.summaries), reverse=True)
    assert len(result.summaries) == 2 and all(s.score is None for s in result.summaries)
    assert "billing address" in result.summaries[0].content
    assert "Previous conversations:\n" in result.text


def test_the_api_answers_summary_scores_and_keeps_the_tenant_wall(api, client, store, remembered, other_account):
    path = f"/stores/{store.pk}/profiles/{remembered.pk}/recall"
    body = api.call("post", path, {"query": "router"}).json()
    summary = body["summaries"][0]
    assert "router" in summary["content"] and 0 < summary["score"] <= 1 and body["summaries"][1]["score"] == 0
    plain = api.call("post", path, {}).json()
    assert [s["score"] for s in plain["summaries"]] == [None, None]
    schema = api.call("get", "/openapi.json").json()["components"]["schemas"]["RecalledSummaryOut"]
    assert "score" in schema["properties"]
    sibling = StoreFactory(account=store.account)
    assert (
        api.call("post", f"/stores/{sibling.pk}/profiles/{remembered.pk}/recall", {"query": "router"}).status_code
        == 404
    )
    from accounts.services import api_key_create
    from tests.conftest import ApiClient

    outsider = ApiClient(client, api_key_create(account=other_account, actor=None, name="Outsider")[1])
    assert outsider.call("post", path, {"query": "where does the customer live"}).status_code == 404
    assert Summary.objects.filter(profile=remembered).count() == 2


def test_the_recall_preview_lists_summaries_with_their_scores(store, remembered, support_client, client, other_account):
    url = reverse("conversations:recall_preview", args=[store.pk, remembered.pk])
    page = support_client.get(url, {"query": "billing"}, HTTP_HX_REQUEST="true").content.decode()
    listed = page[page.index('data-testid="recall-summaries"') : page.index('data-testid="recall-text"')]
    assert listed.index("billing address") < listed.index("router") and "score 0.00" in listed
    plain = support_client.get(url, {"query": ""}, HTTP_HX_REQUEST="true").content.decode()  # the form, blank
    listed = plain[plain.index('data-testid="recall-summaries"') : plain.index('data-testid="recall-text"')]
    assert "router" in listed and "Relevance score" not in listed
    client.force_login(MembershipFactory(account=other_account, role="admin").user)
    assert client.get(url, {"query": "billing"}).status_code == 404


def test_a_query_of_only_common_words_still_asks_about_its_subject(profile):
    _, found = _found(profile, "where are they from")  # every word a stop word to PostgreSQL's 'english'
    assert found == ["Moved to Austin"]


@pytest.mark.postgres
def test_postgres_a_negation_is_no_question_about_the_subject(profile):
    _observe(profile, "Has a dog named Rex", "pet")
    _observe(profile, "Has a cat named Tom", "pet")
    result, found = _found(profile, "pets -dog")
    # websearch's AND form: no observation says "pet" without "dog", and a negation asks about no subject
    assert found == [] and "subjects" not in result.meta["ranking"]
    _, asked = _found(profile, "pets")
    assert set(asked) == {"Has a dog named Rex", "Has a cat named Tom"}
