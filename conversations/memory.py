"""The worker's side of memory extraction (issue 17): an `ExtractionRequest` processed into the
profile's observations, their revisions and evidence, the decisions taken (discards too) and, when
the conversation closed, its summary. The extraction itself is `conversations.extraction` (pure
Python); this module loads the messages, writes the results and keeps the product's limits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from memory_console.text import TextError, text_clean, text_problem
from profiles.models import Profile

from .extraction import (
    MAX_CONTENT,
    BuiltinExtractor,
    Candidate,
    Decision,
    Extractor,
    ExtractorError,
    LLMExtractor,
    Message,
    SummaryDraft,
    reconcile,
)
from .extraction.llm import endpoint_host
from .extraction.summary import follow_ups_new
from .models import (
    Communication,
    ConversationStatus,
    DecisionAction,
    Direction,
    ExtractionDecision,
    ExtractionRequest,
    ExtractionStatus,
    Observation,
    ObservationRevision,
    RevisionDecision,
    Summary,
)

logger = logging.getLogger(__name__)

TASK = "conversations.tasks.extraction_process_task"
PROFILE_OBSERVATIONS = 500  # the product's limits per profile: beyond them the oldest go first
PROFILE_SUMMARIES = 500
QUEUE_EACH = 20  # up to this many requests made at once get a task each; more get one sweep
SWEEP = 200  # requests one sweep processes (the per-minute schedule comes back for the rest)

_ROLES = {Direction.INBOUND: "customer", Direction.OUTBOUND: "agent"}


def extractor_default() -> Extractor:
    """The extractor the worker runs: the LLM extractor when `MEMORY_LLM_BASE_URL` and
    `MEMORY_LLM_MODEL` are both set (README, "Memory extraction"), else the built-in one."""
    base_url, model = settings.MEMORY_LLM_BASE_URL, settings.MEMORY_LLM_MODEL
    if base_url and model:
        return LLMExtractor(
            base_url=base_url,
            model=model,
            api_key=settings.MEMORY_LLM_API_KEY,
            timeout=settings.MEMORY_LLM_TIMEOUT,
            text_problem=partial(text_problem, multiline=True),
        )
    return BuiltinExtractor()


def extractor_label() -> str:
    """What the store settings page shows of the configured extractor: "Built-in (rules, no
    network)" or "LLM (model at host[:port])"; never the API key, nor credentials in the base URL."""
    if settings.MEMORY_LLM_BASE_URL and settings.MEMORY_LLM_MODEL:
        return f"LLM ({settings.MEMORY_LLM_MODEL} at {endpoint_host(settings.MEMORY_LLM_BASE_URL)})"
    return "Built-in (rules, no network)"


def extraction_tasks_queue(ids: Sequence[int]) -> None:
    """After the current transaction commits, queue the worker's task for the requests `ids`: one
    task each for a few, one sweep for many. A queue that cannot take them must not fail the
    write already stored: the per-minute sweep processes them then."""
    if not ids:
        return
    ids = list(ids)

    def queue():
        from django_q.tasks import async_task

        try:
            if len(ids) > QUEUE_EACH:
                async_task(TASK, task_name=f"extraction-sweep-{ids[0]}")
            else:
                for pk in ids:
                    async_task(TASK, pk, task_name=f"extraction-{pk}")
        except Exception:
            logger.warning("Could not queue the extraction task; the schedule processes the requests", exc_info=True)

    transaction.on_commit(queue)


def _messages(communications) -> list[Message]:
    return [
        Message(id=c.pk, role=_ROLES.get(c.direction, "system"), text=c.body, at=c.occurred_at, channel=c.channel)
        for c in communications
        if c.body.strip()
    ]


def _finish(request: ExtractionRequest, status: str, note: str = "") -> ExtractionRequest:
    request.status, request.note, request.processed_at = status, note[:500], timezone.now()
    request.save(update_fields=["status", "note", "processed_at"])
    return request


@dataclass
class _Extracted:
    """What the extractors gave for one request, before anything is written."""

    candidates: list[Candidate]
    extractor: Extractor  # the one that gave the candidates (the fallback when the configured one failed)
    draft: SummaryDraft | None = None
    summary_extractor: Extractor | None = None
    notes: list[str] = field(default_factory=list)


def _extract_or_fall_back(extractor: Extractor, messages: list[Message], notes: list[str]):
    """`extractor.extract(messages)` and the extractor that answered: the built-in one, with a note
    saying why, when `extractor` raises `ExtractorError` (the LLM extractor after its retry)."""
    try:
        return extractor.extract(messages), extractor
    except ExtractorError as error:
        logger.warning("The %s extractor failed (%s); the built-in extractor was used", extractor.name, error)
        fallback = BuiltinExtractor()
        name = "LLM" if isinstance(extractor, LLMExtractor) else extractor.name
        note = f"{name} extractor failed ({error}); the built-in extractor was used"
        if note not in notes:
            notes.append(note)
        return fallback.extract(messages), fallback


def _request_input(request: ExtractionRequest) -> tuple[list[Message], list[Message] | None] | str:
    """The messages `request` covers and, for a later Closed request (a transcript), the whole
    conversation's for its summary (else None); or the note of a request with nothing to do."""
    conversation = request.conversation
    if conversation.profile_id is None:
        return "The conversation has no customer profile"
    communications = Communication.objects.filter(
        conversation=conversation,
        pk__gt=request.after_communication_id,
        pk__lte=request.last_communication_id,
    ).order_by("occurred_at", "id")
    messages = _messages(communications)
    whole = None
    if request.transition == ConversationStatus.CLOSED and request.after_communication_id:
        whole = _messages(conversation.communications.order_by("occurred_at", "id"))
    if not any(m.role == "customer" for m in messages):
        if whole is None or not any(m.role == "customer" for m in whole):
            return "No customer messages"
        messages = []  # closed with nothing new since the Inactive request: the summary only
    return messages, whole


def extraction_process(*, request: ExtractionRequest, extractor: Extractor | None = None) -> ExtractionRequest:
    """Process one extraction request: the customer (inbound) and agent (outbound) messages it
    covers go through the extractor; each candidate is reconciled against the profile's current
    observations and added, updated (the old content stays as a revision) or discarded, every
    decision recorded; a Closed transition also writes the conversation's summary. The request is
    then done. A request already done or failed is left as it is (idempotent); one of a
    conversation without a profile, or without customer messages, is done with a note.

    The extractor runs before the transaction, without a lock (the LLM extractor makes HTTP calls of
    up to twice `MEMORY_LLM_TIMEOUT` seconds); the writes then happen in one transaction, with the
    request locked and only if it is still pending (a worker that processed it meanwhile wins, and
    this one's result is dropped), on the conversation's current profile. When the extractor raises
    `ExtractorError` (the LLM extractor after its retry), the built-in extractor is used instead,
    the request's note says so ("LLM extractor failed (reason); the built-in extractor was
    used", shown on the conversation page) and each observation's source names the
    extractor that produced it."""
    extractor = extractor or extractor_default()
    request = ExtractionRequest.objects.select_related("conversation").get(pk=request.pk)
    if request.status != ExtractionStatus.PENDING:
        return request
    given = _request_input(request)
    extracted = None
    if not isinstance(given, str):
        messages, whole = given
        notes: list[str] = []
        if messages:
            (candidates, draft), used = _extract_or_fall_back(extractor, messages, notes)
        else:
            (candidates, draft), used = ([], None), extractor
        extracted = _Extracted(candidates, used, draft, used, notes)
        if whole is not None:  # a later request (a transcript): summarise the whole conversation
            # with the extractor that just answered (one that failed is not waited for twice)
            (_, extracted.draft), extracted.summary_extractor = _extract_or_fall_back(used, whole, notes)
    with transaction.atomic():
        request = ExtractionRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != ExtractionStatus.PENDING:
            return request
        conversation = request.conversation
        if extracted is None or conversation.profile_id is None:
            return _finish(
                request,
                ExtractionStatus.DONE,
                given if isinstance(given, str) else "The conversation has no customer profile",
            )
        return _extracted_write(request, conversation, extracted)


def _extracted_write(request: ExtractionRequest, conversation, extracted: _Extracted) -> ExtractionRequest:
    """Write what the extractors gave for `request` (locked, pending) and mark it done. The
    profile's row is locked first: two writers (the worker and an Administrator's re-run, or two
    re-runs) each reconciling against the observations as they were would otherwise both add the
    same ones."""
    list(Profile.objects.select_for_update().filter(pk=conversation.profile_id).values_list("pk", flat=True))
    now = timezone.now()
    counts = _observations_write(request, conversation, extracted.candidates, extracted.extractor, now)
    notes = list(extracted.notes)
    if request.transition == ConversationStatus.CLOSED:
        if extracted.draft is not None:
            _summary_write(conversation, extracted.draft, extracted.summary_extractor, now)
            counts["summary"] = 1
        else:
            notes.append("Nothing to summarise")
    notes += _limits_keep(conversation.profile_id)
    if counts["added"] or counts["updated"] or counts.get("summary"):
        audit_record(
            account=conversation.store.account,
            actor=None,
            action="memory.extracted",
            summary=(
                f"Memory from conversation #{conversation.pk}: {counts['added']} added, "
                f"{counts['updated']} updated, {counts['discarded']} discarded"
                + (", summary written" if counts.get("summary") else "")
                + (" (the built-in extractor stood in for the LLM one)" if extracted.notes else "")
            ),
            store_id=conversation.store_id,
            details={
                "conversation": conversation.pk,
                "request": request.pk,
                "profile": conversation.profile_id,
                "extractor": f"{extracted.extractor.name} {extracted.extractor.version}",
            },
        )
    return _finish(request, ExtractionStatus.DONE, "; ".join(notes))


def _observations_write(request, conversation, candidates, extractor, now) -> dict:
    known = {
        str(o.pk): o
        for o in Observation.objects.filter(profile_id=conversation.profile_id).order_by("created_at", "id")
    }
    decisions = reconcile_in_time(candidates, known)
    counts = {"added": 0, "updated": 0, "discarded": 0}
    written: list[ExtractionDecision] = []
    for decision in decisions:
        candidate = decision.candidate
        action, reason, observation = decision.action, decision.reason, known.get(decision.target or "")
        try:
            content = text_clean(candidate.content, multiline=True, max_length=MAX_CONTENT)
        except TextError as error:
            action, reason, observation, content = "discard", f"Refused: the content {error}", None, candidate.content
        evidence = list(candidate.evidence)
        if action == "add":
            observation = Observation.objects.create(
                store_id=conversation.store_id,
                profile_id=conversation.profile_id,
                content=content,
                kind=candidate.kind,
                subject=candidate.subject,
                source=extractor.name,
                source_version=extractor.version,
                occurred_at=candidate.occurred_at,
                created_at=now,
                updated_at=now,
            )
            _revision(observation, RevisionDecision.ADDED, reason, evidence, candidate.occurred_at)
        elif action == "update" and observation is not None:
            observation.content, observation.kind = content, candidate.kind
            observation.subject = candidate.subject or observation.subject
            observation.source, observation.source_version = extractor.name, extractor.version
            observation.occurred_at, observation.updated_at = candidate.occurred_at, now
            observation.save()
            _revision(observation, RevisionDecision.UPDATED, reason, evidence, candidate.occurred_at)
        else:
            action = "discard"
        if action != "discard":
            observation.evidence.set(evidence)  # the current content's support; the revisions keep the past ones
        counts[{"add": "added", "update": "updated", "discard": "discarded"}[action]] += 1
        written.append(
            ExtractionDecision(
                store_id=conversation.store_id,
                request=request,
                action={"add": DecisionAction.ADDED, "update": DecisionAction.UPDATED}.get(
                    action, DecisionAction.DISCARDED
                ),
                reason=reason[:500],
                content=content,
                kind=candidate.kind,
                observation=observation,
                at=now,
            )
        )
    ExtractionDecision.objects.bulk_create(written)
    return counts


def reconcile_in_time(candidates, known: dict) -> list:
    """`reconcile` against the profile's observations (`known`: {str(pk): Observation}), then
    time's order: a candidate that would update an observation whose content is more recent than
    the candidate (an older conversation re-run, a late transcript) is discarded instead, saying
    so; what a customer said before never overwrites what they said since."""
    decisions = reconcile(candidates, [(key, o.content) for key, o in known.items()])
    ordered = []
    for decision in decisions:
        target = known.get(decision.target or "")
        if decision.action == "update" and target is not None and decision.candidate.occurred_at < target.occurred_at:
            decision = Decision(
                action="discard",
                candidate=decision.candidate,
                target=decision.target,
                reason=(
                    f"Older than the current “{' '.join(target.content.split())[:80]}” "
                    f"({target.occurred_at:%Y-%m-%d}): kept as it is"
                ),
            )
        ordered.append(decision)
    return ordered


def _revision(observation: Observation, decision: str, reason: str, evidence: list[int], at) -> None:
    revision = ObservationRevision.objects.create(
        store_id=observation.store_id,
        observation=observation,
        content=observation.content,
        at=at,
        decision=decision,
        reason=reason[:500],
    )
    revision.evidence.set(evidence)


def _summary_write(conversation, draft, extractor, now) -> None:
    follow_ups = [text_clean(f, multiline=True, max_length=MAX_CONTENT) for f in draft.follow_ups]
    reason = text_clean(draft.reason, multiline=True, max_length=MAX_CONTENT)
    outcome = text_clean(draft.outcome, multiline=True, max_length=MAX_CONTENT)
    follow_ups = follow_ups_new(outcome, follow_ups)  # any extractor's: never a sentence twice
    content = " ".join(part for part in (reason, outcome, *follow_ups) if part)
    summary, _ = Summary.objects.update_or_create(
        conversation=conversation,
        defaults={
            "store_id": conversation.store_id,
            "profile_id": conversation.profile_id,
            "reason": reason,
            "outcome": outcome,
            "follow_ups": follow_ups,
            "content": content,
            "source": extractor.name,
            "created_at": now,
        },
    )
    summary.evidence.set(draft.evidence)


def _limits_keep(profile_id: int) -> list[str]:
    """At most `PROFILE_OBSERVATIONS` observations and `PROFILE_SUMMARIES` summaries per profile:
    beyond them the least recalled observations go first (`recall_count`, counted by
    conversations.recall), the oldest among equals, and the oldest summaries; the note says so."""
    notes = []
    for model, limit, label, order in (
        (Observation, PROFILE_OBSERVATIONS, "observations", ("recall_count", "created_at", "id")),
        (Summary, PROFILE_SUMMARIES, "summaries", ("created_at", "id")),
    ):
        over = model.objects.filter(profile_id=profile_id).count() - limit
        if over > 0:
            oldest = list(
                model.objects.filter(profile_id=profile_id).order_by(*order).values_list("pk", flat=True)[:over]
            )
            model.objects.filter(pk__in=oldest).delete()
            among = " among the least recalled" if model is Observation else ""
            notes.append(f"Pruned the {over:,} oldest {label}{among} (the limit is {limit:,} a profile)")
    return notes


def extraction_fail(*, request: ExtractionRequest, error: str) -> ExtractionRequest:
    """Mark a pending request failed with the reason (the worker's task, when processing raised)."""
    with transaction.atomic():
        request = ExtractionRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != ExtractionStatus.PENDING:
            return request
        return _finish(request, ExtractionStatus.FAILED, error or "Failed")


def extractions_pending_process(*, limit: int = SWEEP) -> dict:
    """The sweep: process up to `limit` pending requests, oldest first; each in its own
    transaction, a failure recorded on its request and the sweep going on."""
    counts = {"done": 0, "failed": 0}
    pending = list(
        ExtractionRequest.objects.filter(status=ExtractionStatus.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in pending:
        outcome = extraction_process_one(request_id=pk)
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def extraction_process_one(*, request_id: int) -> str | None:
    """Process request `request_id` if it is still pending: "done", "failed" or None (gone or
    already processed)."""
    request = ExtractionRequest.objects.filter(pk=request_id).first()
    if request is None or request.status != ExtractionStatus.PENDING:
        return None
    try:
        return extraction_process(request=request).status
    except Exception as error:
        logger.exception("Extraction request %s failed", request_id)
        return extraction_fail(request=request, error=f"{type(error).__name__}: {error}").status
