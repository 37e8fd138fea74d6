"""Semantic recall (issue 17) against a local embeddings server that speaks the OpenAI embeddings
protocol over real HTTP (pytest-httpserver), reached through the official `openai` client:
observations embedded by the worker and the backfill command, the query's vector fused with the
lexical rank, and recall answering lexically (saying so) when the endpoint fails."""

import json
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from werkzeug import Response

from conversations.embeddings import embed, embeddings_config, observations_embed_pending
from conversations.models import Observation
from conversations.recall import RecallOptions, recall
from conversations.tasks import extraction_process_task
from profiles.models import Profile
from tests.test_memory_observations import _closed_conversation, _configuration

# A tiny meaning space: each axis a topic, each word the topics it evokes. The server embeds a text
# as the sum of its words' topics, so "how do we reach her" lands near "Prefers WhatsApp over
# email" without sharing a word with it.
TOPICS = {
    "contact": {"whatsapp", "email", "phone", "call", "reach", "contact", "text", "message"},
    "food": {"peanuts", "peanut", "allergic", "allergy", "shellfish", "eat", "food", "diet"},
    "place": {"denver", "austin", "moving", "moved", "live", "lives", "city", "relocating", "address"},
    "pets": {"dogs", "dog", "cat", "pet", "pets", "animals", "parrot"},
}
AXES = list(TOPICS)


def _vector(text: str) -> list[float]:
    words = re.findall(r"\w+", text.lower())
    vector = [float(sum(word in TOPICS[axis] for word in words)) for axis in AXES]
    return [*vector, 0.01]  # never all zeros


def _embeddings_handler(seen):
    def handle(request):
        payload = json.loads(request.data)
        seen.append(payload)
        texts = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
        body = {
            "object": "list",
            "model": payload["model"],
            "data": [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    return handle


@pytest.fixture
def seen():
    return []


@pytest.fixture
def endpoint(httpserver, monkeypatch, seen):
    httpserver.expect_request("/v1/embeddings", method="POST").respond_with_handler(_embeddings_handler(seen))
    monkeypatch.setenv("MEMORY_EMBEDDINGS_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("MEMORY_EMBEDDINGS_MODEL", "topics-4")
    monkeypatch.setenv("MEMORY_EMBEDDINGS_API_KEY", "sk-local")
    return httpserver


def _observe(profile, content, days_ago):
    at = timezone.now() - timedelta(days=days_ago)
    return Observation.objects.create(
        store_id=profile.store_id,
        profile=profile,
        content=content,
        kind="preference",
        source="builtin",
        occurred_at=at,
        created_at=at,
        updated_at=at,
    )


@pytest.fixture
def profile(store):
    profile = Profile.objects.create(store=store)
    for content, days_ago in [
        ("Prefers WhatsApp over email", 30),
        ("Allergic to peanuts", 20),
        ("Moving to Denver in March 2027", 2),
        ("Has two dogs", 1),
    ]:
        _observe(profile, content, days_ago)
    return profile


def test_without_configuration_nothing_is_embedded_and_recall_says_off(store, profile, monkeypatch):
    monkeypatch.delenv("MEMORY_EMBEDDINGS_BASE_URL", raising=False)
    assert embeddings_config() is None
    assert observations_embed_pending() == {"embedded": 0, "error": "not configured"}
    assert recall(profile=profile, options=RecallOptions(query="peanuts"), count=False).meta["semantic"] == "off"
    with pytest.raises(CommandError, match="MEMORY_EMBEDDINGS_BASE_URL"):
        call_command("embeddings_backfill")


def test_the_backfill_embeds_over_http_and_recall_fuses_the_meaning(store, profile, endpoint, seen, capsys):
    call_command("embeddings_backfill")
    assert "Embedded 4 observations." in capsys.readouterr().out
    assert seen[0]["model"] == "topics-4" and len(seen[0]["input"]) == 4
    assert all(o.embedded_at and o.embedding_model == "topics-4" for o in Observation.objects.all())
    call_command("embeddings_backfill")  # nothing left: no request
    assert len(seen) == 1

    # No word in common with the observation: only the meaning finds it.
    lexical_only = recall(profile=profile, options=RecallOptions(query="how do we reach her"), count=False)
    assert lexical_only.meta["semantic"] == "used"
    first = lexical_only.observations[0]
    assert first.content == "Prefers WhatsApp over email" and 0 < first.score <= 1
    assert seen[-1]["input"] == ["how do we reach her"]
    assert "embeddings" in lexical_only.meta["ranking"]
    # A word and its meaning together beat the meaning alone.
    both = recall(profile=profile, options=RecallOptions(query="pets: any dogs?"), count=False)
    assert both.observations[0].content == "Has two dogs"
    assert all(o.score <= both.observations[0].score for o in both.observations)


def test_an_updated_content_waits_for_its_new_vector(store, profile, endpoint):
    observations_embed_pending()
    moved = Observation.objects.get(content__startswith="Moving")
    moved.content, moved.updated_at = "Has a parrot", timezone.now()
    moved.save()
    stale = recall(profile=profile, options=RecallOptions(query="animals"), count=False)
    assert "Has a parrot" not in [o.content for o in stale.observations]  # its old vector is not used
    assert observations_embed_pending() == {"embedded": 1, "error": ""}
    fresh = recall(profile=profile, options=RecallOptions(query="animals", observations_limit=2), count=False)
    assert {o.content for o in fresh.observations} == {"Has a parrot", "Has two dogs"}


def test_the_worker_embeds_what_an_extraction_wrote(store, endpoint, seen):
    _configuration(store)
    conversation = _closed_conversation(store, ["Hi, I'm allergic to peanuts. Can you check my order?"])
    outcome = extraction_process_task()
    assert "1 done" in outcome and "1 embedded" in outcome
    (observation,) = Observation.objects.filter(profile_id=conversation.profile_id)
    assert observation.embedding_model == "topics-4" and observation.embedded_at >= observation.updated_at
    assert seen[-1]["input"] == [observation.content]


def test_an_endpoint_that_fails_leaves_the_lexical_answer_and_says_so(store, profile, httpserver, monkeypatch):
    httpserver.expect_request("/v1/embeddings").respond_with_data("upstream exploded", status=500)
    monkeypatch.setenv("MEMORY_EMBEDDINGS_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("MEMORY_EMBEDDINGS_MODEL", "topics-4")
    result = recall(profile=profile, options=RecallOptions(query="peanuts"), count=False)
    assert result.meta["semantic"].startswith("failed: ") and "500" in result.meta["semantic"]
    assert [o.content for o in result.observations] == ["Allergic to peanuts"]
    assert "embeddings" not in result.meta["ranking"]
    counts = observations_embed_pending()
    assert counts["embedded"] == 0 and "500" in counts["error"]
    assert not Observation.objects.exclude(embedded_at=None).exists()


def test_an_answer_of_the_wrong_shape_is_a_failure_not_a_crash(store, profile, httpserver, monkeypatch):
    httpserver.expect_request("/v1/embeddings").respond_with_json({"object": "list", "data": [], "model": "x"})
    monkeypatch.setenv("MEMORY_EMBEDDINGS_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("MEMORY_EMBEDDINGS_MODEL", "topics-4")
    result = recall(profile=profile, options=RecallOptions(query="peanuts"), count=False)
    assert result.meta["semantic"] == "failed: the endpoint answered 0 vectors for 1 texts"
    assert [o.content for o in result.observations] == ["Allergic to peanuts"]


def test_the_api_reports_the_semantic_ranking(api, store, profile, endpoint):
    observations_embed_pending()
    body = api.call("post", f"/stores/{store.pk}/profiles/{profile.pk}/recall", {"query": "food restrictions"}).json()
    assert body["meta"]["semantic"] == "used"
    assert body["observations"][0]["content"] == "Allergic to peanuts"
    unit = embed(["peanut"], config=embeddings_config())[0]
    assert abs(sum(x * x for x in unit) - 1) < 1e-9
