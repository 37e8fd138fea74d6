"""What a new user's trial of memory summaries and recall found: a follow-up that repeats the
outcome word for word, a summary dated by when it was written instead of when its conversation
happened, and stop words ("to", "how") counted as matched query words. SQLite and, in the
PostgreSQL pass, PostgreSQL."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from conversations.extraction.summary import follow_ups_new
from conversations.memory import extractions_pending_process
from conversations.models import Summary
from conversations.recall import RecallOptions, recall
from profiles.models import Profile
from tests.test_memory_observations import AT, _closed_conversation, _configuration
from tests.test_recall import _observe, _recall
from tests.test_summary_builtin import summarize

SHIPPED = "I'll ship a replacement jar today, it should arrive Friday."


def test_a_follow_up_the_outcome_already_says_is_left_out_of_the_summary():
    summary = summarize(("customer", "My jar arrived cracked, can you replace it?"), ("agent", SHIPPED))
    assert summary.outcome.startswith("Agent will ship a replacement jar today")
    assert summary.follow_ups == ()


def test_only_follow_ups_the_outcome_does_not_say_are_kept():
    outcome = "Reset the voicemail; agent will ship a replacement jar, it should arrive Friday."
    assert follow_ups_new(
        outcome,
        [
            "Agent will ship a replacement jar, it should arrive Friday.",  # one of its parts
            "agent will SHIP a replacement jar it should arrive friday",  # the same, other case and marks
            "Agent will call back on Monday to check the voicemail.",  # says more: kept
        ],
    ) == ["Agent will call back on Monday to check the voicemail."]
    assert follow_ups_new("", ["Customer will pay next week."]) == ["Customer will pay next week."]


def test_the_stored_summary_and_recall_say_the_sentence_once(store, api):
    _configuration(store)
    conversation = _closed_conversation(store, ["My jar arrived cracked, can you replace it?"], agent_says=SHIPPED)
    assert extractions_pending_process() == {"done": 1, "failed": 0}
    summary = Summary.objects.get(conversation=conversation)
    assert summary.follow_ups == []
    assert summary.content.count("replacement jar") == 1
    body = _recall(api, store, conversation.profile_id, {}).json()
    assert body["summaries"][0]["followUps"] == []
    assert body["text"].count("replacement jar") == 1


def test_a_summary_is_dated_and_ordered_by_when_its_conversation_happened(store, api, support_client):
    _configuration(store)
    older = _closed_conversation(store, ["My jar arrived cracked, can you replace it?"], at=AT)
    newer = _closed_conversation(store, ["Can you resend my invoice please?"], at=AT + timedelta(days=5))
    assert extractions_pending_process()["done"] == 2
    assert older.profile_id == newer.profile_id
    # The older conversation was summarised last (a transcript joined later, a worker behind).
    Summary.objects.filter(conversation=older).update(created_at=timezone.now())
    Summary.objects.filter(conversation=newer).update(created_at=timezone.now() - timedelta(hours=1))
    body = _recall(api, store, older.profile_id, {}).json()
    first, second = body["summaries"]
    assert (first["conversationId"], second["conversationId"]) == (newer.pk, older.pk)
    assert first["conversationAt"].startswith((AT + timedelta(days=5)).strftime("%Y-%m-%d"))
    assert second["conversationAt"].startswith(AT.strftime("%Y-%m-%d"))
    assert second["createdAt"].startswith(timezone.now().strftime("%Y-%m-%d"))  # still when written
    text = body["text"]
    assert f"- [{(AT + timedelta(days=5)):%Y-%m-%d}]" in text and f"- [{AT:%Y-%m-%d}]" in text
    assert f"- [{timezone.now():%Y-%m-%d}]" not in text
    assert text.index(f"[{(AT + timedelta(days=5)):%Y-%m-%d}]") < text.index(f"[{AT:%Y-%m-%d}]")
    # The dates bound a summary by its conversation too.
    bounded = _recall(api, store, older.profile_id, {"endDate": (AT + timedelta(days=1)).isoformat()}).json()
    assert [s["conversationId"] for s in bounded["summaries"]] == [older.pk]
    # With a query, the newer conversation first among equals, and the preview shows the same dates.
    ranked = recall(profile=Profile.objects.get(pk=older.profile_id), options=RecallOptions(query="zebra"), count=False)
    assert [s.conversation_id for s in ranked.summaries] == [newer.pk, older.pk]
    url = reverse("conversations:recall_preview", args=[store.pk, older.profile_id])
    page = support_client.get(url, {"query": "zebra"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{AT:%Y-%m-%d}</span>" in html and f"{timezone.now():%Y-%m-%d}</span>" not in html


def test_stop_words_do_not_count_as_matched_query_words(store):
    profile = Profile.objects.create(store=store, traits={})
    _observe(profile, "Allergic to peanuts", 40)
    _observe(profile, "Just moved to Austin", 2)
    contact = _observe(profile, "Best contacted by SMS after 5pm", 30)
    for query in ("how to contact", "contact"):
        result = recall(profile=profile, options=RecallOptions(query=query), count=False)
        assert result.observations[0].id == contact.pk, query
        others = [o.score for o in result.observations[1:]]
        assert all(score < result.observations[0].score / 2 for score in others), (query, result.observations)
    only_stop_words = recall(profile=profile, options=RecallOptions(query="how to"), count=False)
    assert only_stop_words.observations == []
