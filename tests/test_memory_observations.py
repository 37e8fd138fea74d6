"""Observations and summaries stored on the profile by the worker (issue 17): an extraction request
processed into observations (with revisions, evidence and every decision), a summary of a closed
conversation, the profile page's sections, merges and deletes."""

from datetime import UTC, datetime, timedelta

from django.urls import reverse

from conversations.memory import extraction_process, extractions_pending_process
from conversations.models import (
    Conversation,
    ConversationStatus,
    ExtractionDecision,
    ExtractionRequest,
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
from profiles.models import Profile
from tests.factories import MembershipFactory

BUSINESS = "+14155550100"
CUSTOMER = "+14155550123"
AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # days before the clock: never ahead of it


def _configuration(store, observations=True):
    data = ConfigurationInput(
        name="Support line", captures=[("sms", BUSINESS)], timeout_minutes=30, observations_enabled=observations
    )
    return conversation_configuration_create(store=store, actor=None, data=data)


def _say(store, body, at, *, customer=CUSTOMER, inbound=True):
    addresses = (customer, BUSINESS) if inbound else (BUSINESS, customer)
    return communication_ingest(
        store=store,
        channel="sms",
        direction="inbound" if inbound else "outbound",
        from_address=addresses[0],
        to_address=addresses[1],
        body=body,
        occurred_at=at,
    )


def _closed_conversation(store, customer_says, at=AT, customer=CUSTOMER, agent_says="Done, I have noted that."):
    """A conversation with the customer's messages and an agent's reply, closed by the worker."""
    info = None
    for n, body in enumerate(customer_says):
        info = _say(store, body, at + timedelta(seconds=n), customer=customer)
    _say(store, agent_says, at + timedelta(seconds=len(customer_says)), customer=customer, inbound=False)
    counts = conversations_advance(now=at + timedelta(minutes=31))
    assert counts.closed >= 1 and counts.extractions >= 1
    return Conversation.objects.get(pk=info.conversation.pk)


def test_a_closed_conversation_gives_an_observation_with_evidence_on_its_profile_and_a_summary(store):
    _configuration(store)
    conversation = _closed_conversation(store, ["Hi, I'm allergic to peanuts. Can you check my order?"])
    assert extractions_pending_process() == {"done": 1, "failed": 0}
    (observation,) = Observation.objects.all()
    assert observation.profile_id == conversation.profile_id and observation.store_id == store.pk
    assert (observation.content, observation.kind, observation.source) == (
        "Allergic to peanuts",
        "constraint",
        "builtin",
    )
    inbound = conversation.communications.get(direction="inbound")
    assert list(observation.evidence.values_list("pk", flat=True)) == [inbound.pk]
    (revision,) = observation.revisions.all()
    assert (revision.decision, revision.content) == ("added", "Allergic to peanuts")
    summary = Summary.objects.get(conversation=conversation)
    assert summary.profile_id == conversation.profile_id
    assert (summary.reason, summary.outcome) == ("Check my order.", "Noted that.")  # the request, what was done
    request = ExtractionRequest.objects.get()
    assert request.status == "done" and request.processed_at is not None
    assert list(request.decisions.values_list("action", "observation")) == [("added", observation.pk)]


def test_moving_updates_the_location_and_keeps_the_old_one_as_a_revision(store):
    _configuration(store)
    _closed_conversation(store, ["I live in Denver."])
    extractions_pending_process()
    _closed_conversation(store, ["I moved to Austin."], at=AT + timedelta(days=2))
    extractions_pending_process()
    (observation,) = Observation.objects.all()
    assert observation.content == "Moved to Austin"
    history = list(observation.revisions.order_by("id").values_list("decision", "content"))
    assert history == [("added", "Lives in Denver"), ("updated", "Moved to Austin")]
    (latest,) = ExtractionRequest.objects.order_by("-id")[:1]
    (decision,) = latest.decisions.all()
    assert decision.action == "updated" and "supersedes “Lives in Denver”" in decision.reason
    # The current evidence is the new message; the first revision keeps the old one.
    first, second = observation.revisions.order_by("id")
    assert set(observation.evidence.all()) == set(second.evidence.all()) != set(first.evidence.all())


def test_a_restatement_is_discarded_and_recorded(store):
    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts."])
    extractions_pending_process()
    _closed_conversation(store, ["I'm allergic to peanuts."], at=AT + timedelta(days=1))
    extractions_pending_process()
    assert Observation.objects.count() == 1
    discard = ExtractionDecision.objects.get(action="discarded")
    assert discard.content == "Allergic to peanuts" and discard.observation == Observation.objects.get()
    assert discard.reason.startswith("Restates")
    assert ObservationRevision.objects.count() == 1


def test_processing_twice_changes_nothing(store):
    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts."])
    request = ExtractionRequest.objects.get()
    extraction_process(request=request)
    before = (Observation.objects.count(), ExtractionDecision.objects.count(), Summary.objects.count())
    processed_at = ExtractionRequest.objects.get().processed_at
    extraction_process(request=request)
    assert extractions_pending_process() == {"done": 0, "failed": 0}
    assert (Observation.objects.count(), ExtractionDecision.objects.count(), Summary.objects.count()) == before
    assert ExtractionRequest.objects.get().processed_at == processed_at


def test_a_request_without_customer_messages_or_profile_is_done_with_a_note(store):
    _configuration(store)
    conversation = _closed_conversation(store, ["Hi"])
    ExtractionRequest.objects.update(status="pending")
    Conversation.objects.filter(pk=conversation.pk).update(profile=None)
    request = extraction_process(request=ExtractionRequest.objects.get())
    assert (request.status, request.note) == ("done", "The conversation has no customer profile")
    assert not Observation.objects.exists()


def test_observations_follow_a_profile_merge_and_go_with_a_deleted_profile(store):
    from profiles.services import profile_merge_effects

    _configuration(store)
    conversation = _closed_conversation(store, ["I'm allergic to peanuts."])
    extractions_pending_process()
    other = Profile.objects.create(store=store)
    profile_merge_effects(from_id=conversation.profile_id, into_id=other.pk, at=AT)
    assert set(Observation.objects.values_list("profile_id", flat=True)) == {other.pk}
    assert set(Summary.objects.values_list("profile_id", flat=True)) == {other.pk}
    other.delete()
    assert not Observation.objects.exists() and not ObservationRevision.objects.exists()
    assert not Summary.objects.exists()
    assert ExtractionDecision.objects.get().observation is None  # the log stays


def test_the_profile_limit_prunes_the_oldest_observations_with_a_note(store, monkeypatch):
    from conversations import memory

    monkeypatch.setattr(memory, "PROFILE_OBSERVATIONS", 1)
    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts."])
    extractions_pending_process()
    _closed_conversation(store, ["I have a dog."], at=AT + timedelta(days=1))
    extractions_pending_process()
    assert list(Observation.objects.values_list("content", flat=True)) == ["Has a dog"]
    latest = ExtractionRequest.objects.order_by("-id").first()
    assert "Pruned the 1 oldest observations" in latest.note


def test_the_profile_page_shows_observations_and_summaries_escaped(store, admin_client):
    _configuration(store)
    conversation = _closed_conversation(store, ["I'm allergic to peanuts <b>and</b> shellfish."])
    extractions_pending_process()
    _closed_conversation(store, ["I live in Denver."], at=AT + timedelta(days=1))
    extractions_pending_process()
    _closed_conversation(store, ["I moved to Austin."], at=AT + timedelta(days=2))
    extractions_pending_process()
    page = admin_client.get(reverse("profiles:detail", args=[store.pk, conversation.profile_id])).content.decode()
    assert "Coming soon" not in page
    assert "<b>and</b>" not in page and "&lt;b&gt;and&lt;/b&gt;" in page
    assert "Moved to Austin" in page and "Lives in Denver" in page and "<details" in page
    assert reverse("conversations:conversation", args=[store.pk, conversation.pk]) in page
    assert page.index("Moved to Austin") < page.index("Allergic to peanuts")  # newest first
    assert 'data-testid="summaries"' in page and "Noted that." in page


def test_the_profile_page_says_so_when_there_is_no_memory_yet_and_support_reads_it(store, support_client):
    profile = Profile.objects.create(store=store)
    page = support_client.get(reverse("profiles:detail", args=[store.pk, profile.pk]))
    assert page.status_code == 200
    assert "No observations yet" in page.content.decode() and "No summaries yet" in page.content.decode()


def test_another_accounts_user_cannot_see_the_profile_page(store, client, other_account):
    _configuration(store)
    conversation = _closed_conversation(store, ["I'm allergic to peanuts."])
    extractions_pending_process()
    client.force_login(MembershipFactory(account=other_account, role="admin").user)
    response = client.get(reverse("profiles:detail", args=[store.pk, conversation.profile_id]))
    assert response.status_code == 404 and b"peanuts" not in response.content


def test_the_worker_path_queues_a_task_on_commit_that_processes_the_request(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q import tasks as q_tasks

    from conversations.tasks import extraction_process_task

    queued = []
    monkeypatch.setattr(q_tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    _configuration(store)
    _say(store, "I'm allergic to peanuts.", AT)
    with django_capture_on_commit_callbacks(execute=True):
        conversations_advance(now=AT + timedelta(minutes=31))
    request = ExtractionRequest.objects.get()
    assert request.status == "pending"
    assert queued == [("conversations.tasks.extraction_process_task", (request.pk,))]
    func, args = queued[0]
    assert extraction_process_task(*args) == f"request {request.pk}: done"
    assert Observation.objects.get().content == "Allergic to peanuts"
    assert Conversation.objects.get().status == ConversationStatus.CLOSED
    assert extraction_process_task() == "0 done, 0 failed"  # the schedule's sweep: nothing left


def test_a_failure_marks_the_request_failed_with_the_reason(store, monkeypatch):
    from conversations import memory

    _configuration(store)
    _closed_conversation(store, ["I'm allergic to peanuts."])

    def broken(*args, **kwargs):
        raise RuntimeError("extractor broke")

    monkeypatch.setattr(memory.BuiltinExtractor, "extract", broken)
    assert extractions_pending_process() == {"done": 0, "failed": 1}
    request = ExtractionRequest.objects.get()
    assert (request.status, request.note) == ("failed", "RuntimeError: extractor broke")
    assert not Observation.objects.exists()


def test_without_observations_nothing_is_requested_or_stored(store):
    _configuration(store, observations=False)
    _say(store, "I'm allergic to peanuts.", AT)
    conversations_advance(now=AT + timedelta(minutes=31))
    assert extractions_pending_process() == {"done": 0, "failed": 0}
    assert not Observation.objects.exists()
