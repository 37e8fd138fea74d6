"""The LLM memory extractor (issue 17) against a real HTTP server speaking the chat-completions
protocol (pytest-httpserver): its prompt, the strict validation of replies, the one retry, the
fallback to the built-in extractor with a note on the conversation page, reconciliation of what
it proposes, and the settings that switch it on (shown on the store settings page, key never)."""

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from werkzeug import Response

from conversations.extraction import (
    BuiltinExtractor,
    ExtractorOutputInvalid,
    ExtractorUnavailable,
    LLMExtractor,
    Message,
)
from conversations.extraction.llm import _Invalid, reply_parse
from conversations.memory import extraction_process, extractions_pending_process, extractor_default
from conversations.models import ExtractionDecision, ExtractionRequest, Observation, Summary
from tests.test_memory_observations import AT, _closed_conversation, _configuration

MODEL = "test-model-7b"
KEY = "sk-test-SECRET-key-123"
PATH = "/v1/chat/completions"


def _completion(content: str) -> Response:
    """An answer of the OpenAI chat-completions shape carrying the assistant's `content`."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764547200,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }
    return Response(json.dumps(body), status=200, content_type="application/json")


def _conversation_of(request) -> list[dict]:
    """The conversation rows (id, role, at, channel, text) the extractor sent in its user message."""
    body = json.loads(request.get_data())
    user = next(m for m in body["messages"] if m["role"] == "user")["content"]
    return json.loads(user[user.index("[") :])


def _reply(request, observations=None, *, summary=True) -> str:
    """A valid reply for the conversation in `request`: `observations` as (content, kind, subject),
    each cited to the first customer message, and a summary."""
    rows = _conversation_of(request)
    customer = [r["id"] for r in rows if r["role"] == "customer"]
    agent = [r["id"] for r in rows if r["role"] == "agent"]
    items = [
        {"content": c, "kind": k, "subject": s, "evidence": [customer[0]], "occurredAt": None}
        for c, k, s in (observations or [("Keeps bees on a rooftop in Queens", "identity", "")])
    ]
    draft = {
        "reason": "Asked about a late honey-extractor order",
        "outcome": "The agent noted the details",
        "followUps": ["Call back when the parcel ships"],
        "evidence": customer[:1] + agent[:1],
    }
    return json.dumps({"observations": items, "summary": draft if summary else None})


@pytest.fixture
def llm(httpserver, settings):
    """The worker configured for the LLM extractor at the local test server."""
    settings.MEMORY_LLM_BASE_URL = httpserver.url_for("/v1")
    settings.MEMORY_LLM_MODEL = MODEL
    settings.MEMORY_LLM_API_KEY = KEY
    settings.MEMORY_LLM_TIMEOUT = 5
    return httpserver


def _requests(server) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def _note(store) -> str:
    return ExtractionRequest.objects.get().note


# -- a valid reply ------------------------------------------------------------------------------


def test_a_valid_reply_becomes_observations_with_evidence_and_the_llm_source(store, llm, admin_client):
    llm.expect_request(PATH, method="POST").respond_with_handler(lambda r: _completion(_reply(r)))
    _configuration(store)
    conversation = _closed_conversation(store, ["Hi! I keep bees on my roof in Queens. Where is my extractor?"])
    assert extractions_pending_process() == {"done": 1, "failed": 0}

    (observation,) = Observation.objects.all()
    assert (observation.content, observation.kind, observation.source, observation.source_version) == (
        "Keeps bees on a rooftop in Queens",
        "identity",
        "llm",
        "1.0",
    )
    inbound = conversation.communications.get(direction="inbound")
    assert list(observation.evidence.values_list("pk", flat=True)) == [inbound.pk]
    assert observation.occurred_at == inbound.occurred_at  # null occurredAt: the cited message's time
    summary = Summary.objects.get(conversation=conversation)
    assert (summary.source, summary.reason, summary.follow_ups) == (
        "llm",
        "Asked about a late honey-extractor order",
        ["Call back when the parcel ships"],
    )
    assert set(summary.evidence.values_list("pk", flat=True)) == set(
        conversation.communications.values_list("pk", flat=True)
    )
    assert _note(store) == ""

    # What the endpoint received: one call, the key, JSON mode, the rules and the conversation with ids.
    (request, _), *more = llm.log
    assert more == []
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = json.loads(request.get_data())
    assert body["model"] == MODEL and body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]
    assert system["role"] == "system" and '"observations"' in system["content"] and "preference" in system["content"]
    rows = _conversation_of(request)
    assert [(r["id"], r["role"]) for r in rows] == [
        (c.pk, "customer" if c.direction == "inbound" else "agent")
        for c in conversation.communications.order_by("occurred_at", "id")
    ]
    assert rows[0]["text"].startswith("Hi! I keep bees") and rows[0]["at"] == AT.isoformat()

    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, conversation.pk])).content.decode()
    assert "Memory extraction queued" in page and "Done" in page and "extractor failed" not in page


def test_a_reply_fenced_by_a_server_that_ignores_json_mode_is_accepted(store, llm):
    llm.expect_request(PATH, method="POST").respond_with_handler(
        lambda r: _completion("```json\n" + _reply(r) + "\n```")
    )
    _configuration(store)
    _closed_conversation(store, ["I keep bees on my roof in Queens."])
    extractions_pending_process()
    assert Observation.objects.get().source == "llm" and len(llm.log) == 1


def test_a_server_refusing_json_mode_is_asked_again_without_it(store, llm):
    def handler(request):
        if "response_format" in json.loads(request.get_data()):
            body = {"error": {"message": "response_format is not supported by this model", "type": "invalid"}}
            return Response(json.dumps(body), status=400, content_type="application/json")
        return _completion(_reply(request))

    llm.expect_request(PATH, method="POST").respond_with_handler(handler)
    _configuration(store)
    _closed_conversation(store, ["I keep bees on my roof in Queens."])
    extractions_pending_process()
    assert Observation.objects.get().source == "llm"
    first, second = _requests(llm)
    assert "response_format" in first and "response_format" not in second


# -- one retry ----------------------------------------------------------------------------------


def test_invalid_json_then_a_valid_reply_is_used_after_one_retry_that_names_the_fault(store, llm):
    llm.expect_ordered_request(PATH, method="POST").respond_with_handler(lambda r: _completion("Sure! Here it is"))
    llm.expect_ordered_request(PATH, method="POST").respond_with_handler(lambda r: _completion(_reply(r)))
    _configuration(store)
    _closed_conversation(store, ["I keep bees on my roof in Queens."])
    extractions_pending_process()

    assert Observation.objects.get().source == "llm"
    assert _note(store) == ""
    first, second = _requests(llm)
    assert len(second["messages"]) == len(first["messages"]) + 2
    assert second["messages"][-2] == {"role": "assistant", "content": "Sure! Here it is"}
    correction = second["messages"][-1]
    assert correction["role"] == "user" and "invalid" in correction["content"] and "not JSON" in correction["content"]


def test_an_unknown_kind_then_a_valid_reply_tells_the_model_the_allowed_kinds(store, llm):
    llm.expect_ordered_request(PATH, method="POST").respond_with_handler(
        lambda r: _completion(_reply(r, [("Keeps bees", "hobby", "")]))
    )
    llm.expect_ordered_request(PATH, method="POST").respond_with_handler(lambda r: _completion(_reply(r)))
    _configuration(store)
    _closed_conversation(store, ["I keep bees on my roof in Queens."])
    extractions_pending_process()
    assert Observation.objects.get().kind == "identity"
    correction = _requests(llm)[1]["messages"][-1]["content"]
    assert "observations[0].kind" in correction and "'preference'" in correction


def test_a_transport_error_then_a_valid_reply_is_used(store, llm):
    llm.expect_ordered_request(PATH, method="POST").respond_with_data("overloaded", status=503)
    llm.expect_ordered_request(PATH, method="POST").respond_with_handler(lambda r: _completion(_reply(r)))
    _configuration(store)
    _closed_conversation(store, ["I keep bees on my roof in Queens."])
    extractions_pending_process()
    assert Observation.objects.get().source == "llm" and len(llm.log) == 2
    first, second = _requests(llm)
    assert first == second  # the same question again


# -- fallback to the built-in extractor ------------------------------------------------------------


def test_invalid_twice_falls_back_to_the_builtin_extractor_and_the_conversation_page_says_so(store, llm, admin_client):
    llm.expect_request(PATH, method="POST").respond_with_handler(lambda r: _completion('{"observations": "none"}'))
    _configuration(store)
    conversation = _closed_conversation(store, ["Hi, I'm allergic to peanuts. Can you check my order?"])
    assert extractions_pending_process() == {"done": 1, "failed": 0}

    assert len(llm.log) == 2
    (observation,) = Observation.objects.all()
    assert (observation.content, observation.source) == ("Allergic to peanuts", "builtin")
    assert Summary.objects.get().source == "builtin"
    note = _note(store)
    assert note.startswith("LLM extractor failed (invalid reply after a retry: observations: Input should be")
    assert note.endswith("; the built-in extractor was used")
    page = admin_client.get(reverse("conversations:conversation", args=[store.pk, conversation.pk])).content.decode()
    assert 'data-testid="extraction-note"' in page
    assert "LLM extractor failed (invalid reply after a retry" in page
    assert "the built-in extractor was used" in page


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("failure", ["server down", "HTTP 500", "timeout"])
def test_a_server_that_fails_twice_falls_back_to_the_builtin_extractor(store, llm, settings, failure):
    if failure == "server down":
        settings.MEMORY_LLM_BASE_URL = f"http://127.0.0.1:{_closed_port()}/v1"
        expected = "could not reach 127.0.0.1:"
    elif failure == "HTTP 500":
        llm.expect_request(PATH, method="POST").respond_with_json({"error": {"message": "boom"}}, status=500)
        expected = f"127.0.0.1:{llm.port} answered HTTP 500"
    else:
        settings.MEMORY_LLM_TIMEOUT = 0.3

        def slow(request):
            time.sleep(0.6)
            return _completion(_reply(request))

        llm.expect_request(PATH, method="POST").respond_with_handler(slow)
        expected = f"no answer from 127.0.0.1:{llm.port} within 0.3 s"
    settings.MEMORY_LLM_BASE_URL = settings.MEMORY_LLM_BASE_URL.replace("localhost", "127.0.0.1")
    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts."])
    assert extractions_pending_process() == {"done": 1, "failed": 0}

    assert Observation.objects.get().source == "builtin"
    note = _note(store)
    assert note.startswith("LLM extractor failed (" + expected), note
    assert "(after a retry)); the built-in extractor was used" in note
    assert KEY not in note and "boom" not in note  # the provider's own words stay in the server's log
    if failure == "HTTP 500":  # (a timed-out call is logged only when the slow handler ends)
        assert len(llm.log) == 2


def test_evidence_outside_the_conversation_is_refused(store, llm):
    def handler(request):
        rows = _conversation_of(request)
        agent = next(r["id"] for r in rows if r["role"] == "agent")
        items = [
            {"content": "Keeps bees", "kind": "identity", "subject": "", "evidence": [agent], "occurredAt": None},
            {"content": "Lives in Queens", "kind": "identity", "subject": "location", "evidence": [999999]},
        ]
        return _completion(json.dumps({"observations": items, "summary": None}))

    llm.expect_request(PATH, method="POST").respond_with_handler(handler)
    _configuration(store)
    conversation = _closed_conversation(store, ["I keep bees on my roof in Queens."])
    extractions_pending_process()

    agent = conversation.communications.get(direction="outbound")
    assert not Observation.objects.filter(source="llm").exists()
    note = _note(store)
    assert f"observations[0].evidence: {agent.pk} is not the id of a customer message of this conversation" in note
    assert "observations[1].evidence: 999999 is not the id" in note
    assert "the built-in extractor was used" in note


# -- reconciliation ------------------------------------------------------------------------------


def test_reconciliation_applies_to_what_the_llm_proposes(store, llm):
    """A restatement is discarded and recorded; a new value of a single-valued subject updates."""
    proposals = iter(
        [
            [("Allergic to peanuts", "constraint", "allergy"), ("Lives in Denver", "identity", "location")],
            [("Allergic to peanuts", "constraint", "allergy"), ("Moved to Austin", "identity", "location")],
        ]
    )
    llm.expect_request(PATH, method="POST").respond_with_handler(lambda r: _completion(_reply(r, next(proposals))))
    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts and I live in Denver."])
    extractions_pending_process()
    _closed_conversation(store, ["Still allergic to peanuts. I moved to Austin."], at=AT + timedelta(days=2))
    extractions_pending_process()

    assert sorted(Observation.objects.values_list("content", "source")) == [
        ("Allergic to peanuts", "llm"),
        ("Moved to Austin", "llm"),
    ]
    latest = ExtractionRequest.objects.order_by("-id").first()
    actions = dict(latest.decisions.values_list("content", "action"))
    assert actions == {"Allergic to peanuts": "discarded", "Moved to Austin": "updated"}
    discard = ExtractionDecision.objects.get(action="discarded")
    assert discard.reason.startswith("Restates")
    moved = Observation.objects.get(content="Moved to Austin")
    assert list(moved.revisions.order_by("id").values_list("content", flat=True)) == [
        "Lives in Denver",
        "Moved to Austin",
    ]


# -- processing outside the lock -------------------------------------------------------------------


def test_a_request_processed_by_another_worker_during_the_call_is_not_written_twice(store):
    """The extractor runs before the write's transaction: when another worker finished the request
    meanwhile, this one's result is dropped."""
    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts."])
    request = ExtractionRequest.objects.get()

    class Slow:
        """An extractor during whose call another worker processes the same request."""

        name, version = "slow", "1"

        def extract(self, messages):
            extraction_process(request=request, extractor=BuiltinExtractor())
            return BuiltinExtractor().extract(messages)

    processed = extraction_process(request=request, extractor=Slow())
    assert processed.status == "done"
    assert list(Observation.objects.values_list("content", "source")) == [("Allergic to peanuts", "builtin")]
    assert ExtractionDecision.objects.count() == 1 and Summary.objects.count() == 1


# -- the reply's validation (no server needed) ---------------------------------------------------------

MESSAGES = [
    Message(id=11, role="customer", text="I live in Denver.", at=AT),
    Message(id=12, role="agent", text="Noted.", at=AT + timedelta(seconds=5)),
]


def _one(**changes) -> str:
    item = {"content": "Lives in Denver", "kind": "identity", "subject": "location", "evidence": [11]}
    item.update(changes)
    return json.dumps({"observations": [item], "summary": None})


def test_a_valid_reply_parses_into_candidates():
    (candidate,), summary = reply_parse(_one(occurredAt="2026-11-02T12:00:00Z"), MESSAGES)
    assert (candidate.content, candidate.kind, candidate.subject, candidate.evidence) == (
        "Lives in Denver",
        "identity",
        "location",
        (11,),
    )
    assert candidate.occurred_at == AT and summary is None
    assert reply_parse('{"observations": []}', MESSAGES) == ([], None)


@pytest.mark.parametrize(
    ("reply", "fault"),
    [
        (_one(kind="hobby"), "observations[0].kind: Input should be 'preference'"),
        (_one(evidence=["11"]), "observations[0].evidence[0]: Input should be a valid integer"),
        (_one(evidence=[11.0]), "observations[0].evidence[0]: Input should be a valid integer"),
        (_one(evidence=[]), "observations[0].evidence: List should have at least 1 item"),
        (_one(evidence=[12]), "observations[0].evidence: 12 is not the id of a customer message"),
        (_one(content="   "), "observations[0].content: is empty"),
        (_one(content="x" * 4097), "observations[0].content: String should have at most 4096 characters"),
        (_one(content=7), "observations[0].content: Input should be a valid string"),
        (_one(content="Lives in\x00 Denver"), "observations[0].content: contains U+0000"),
        (_one(subject="city"), "observations[0].subject: 'city' is not one of allergy"),
        (_one(confidence=0.9), "observations[0].confidence: Extra inputs are not permitted"),
        (_one(occurredAt="yesterday"), "observations[0].occurredAt: 'yesterday' is not an ISO 8601 time"),
        (_one(occurredAt="2026-11-02T12:00:00"), "has no UTC offset"),
        (_one(occurredAt="2027-03-01T00:00:00Z"), "is outside the conversation"),
        ('{"summary": null}', "observations: Field required"),
        ("[]", "reply: Input should be an object"),
        ("", "not JSON"),
        ('{"observations": [], "summary": {"reason": "", "outcome": ""}}', "summary.reason: is empty"),
        ('{"observations": [], "summary": {"reason": "Order", "evidence": [5]}}', "summary.evidence: 5 is not"),
    ],
)
def test_an_invalid_reply_is_refused_naming_the_fault(reply, fault):
    from memory_console.text import text_problem

    with pytest.raises(_Invalid) as refused:
        reply_parse(reply, MESSAGES, text_problem=lambda t: text_problem(t, multiline=True))
    assert fault in str(refused.value)


def test_the_extractor_raises_a_typed_error_after_its_retry(httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_handler(lambda r: _completion("{}"))
    extractor = LLMExtractor(base_url=httpserver.url_for("/v1"), model=MODEL, timeout=5)
    with pytest.raises(ExtractorOutputInvalid, match="observations: Field required"):
        extractor.extract(MESSAGES)
    assert len(httpserver.log) == 2
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer not-needed"  # never OPENAI_API_KEY
    closed = LLMExtractor(base_url=f"http://127.0.0.1:{_closed_port()}/v1", model=MODEL, timeout=5)
    with pytest.raises(ExtractorUnavailable, match="could not reach"):
        closed.extract(MESSAGES)


# -- configuration -----------------------------------------------------------------------------------


def test_the_settings_switch_the_extractor_and_the_store_settings_page_shows_it(store, admin_client, settings):
    settings.MEMORY_LLM_BASE_URL, settings.MEMORY_LLM_MODEL = "", ""
    assert isinstance(extractor_default(), BuiltinExtractor)
    url = reverse("stores:settings", args=[store.pk])
    page = admin_client.get(url).content.decode()
    assert "Memory extractor" in page and "Built-in (rules, no network)" in page

    settings.MEMORY_LLM_BASE_URL = "https://bot:hunter2@llm.example.com:8443/v1"
    settings.MEMORY_LLM_MODEL, settings.MEMORY_LLM_API_KEY = MODEL, KEY
    extractor = extractor_default()
    assert isinstance(extractor, LLMExtractor) and extractor.model == MODEL
    page = admin_client.get(url).content.decode()
    assert f"LLM ({MODEL} at llm.example.com:8443)" in page
    assert KEY not in page and "hunter2" not in page


def _settings_in_a_fresh_process(env: dict) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.MEMORY_LLM_TIMEOUT)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORY_LLM_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "memory_console.settings", **env},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({}, None),
        ({"MEMORY_LLM_TIMEOUT": "abc"}, "MEMORY_LLM_TIMEOUT must be a number of seconds"),
        ({"MEMORY_LLM_TIMEOUT": "0"}, "MEMORY_LLM_TIMEOUT must be more than 0"),
        ({"MEMORY_LLM_MODEL": MODEL}, "MEMORY_LLM_BASE_URL and MEMORY_LLM_MODEL are set together"),
        ({"MEMORY_LLM_BASE_URL": "localhost:11434", "MEMORY_LLM_MODEL": MODEL}, "must be an http:// or https://"),
    ],
)
def test_the_environment_is_checked_at_start(env, error):
    result = _settings_in_a_fresh_process(env)
    if error is None:
        assert result.returncode == 0 and result.stdout.strip() == "30.0", result.stderr
    else:
        assert result.returncode != 0 and error in result.stderr


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("<html>Bad gateway</html>", "text/html"), ('{"choices": []}', "application/json"), ("{}", "application/json")],
)
def test_an_answer_that_is_not_a_chat_completion_is_a_transport_failure(httpserver, body, content_type):
    httpserver.expect_request(PATH, method="POST").respond_with_data(body, content_type=content_type)
    extractor = LLMExtractor(base_url=httpserver.url_for("/v1"), model=MODEL, timeout=5)
    with pytest.raises(ExtractorUnavailable, match="did not answer with a chat completion \\(after a retry\\)"):
        extractor.extract(MESSAGES)
    assert len(httpserver.log) == 2


def test_the_dry_run_of_a_re_run_falls_back_too_and_says_so(store, llm, admin_client):
    llm.expect_request(PATH, method="POST").respond_with_json({"error": {"message": "boom"}}, status=500)
    _configuration(store)
    conversation = _closed_conversation(store, ["I'm allergic to peanuts."])
    page = admin_client.get(
        reverse("conversations:extraction_rerun", args=[store.pk, conversation.pk])
    ).content.decode()
    assert 'data-testid="rerun-note"' in page and "the built-in extractor was used" in page
    assert "Allergic to peanuts" in page  # the built-in extractor's dry run, not a server error
    assert not Observation.objects.exists()  # a dry run writes nothing
