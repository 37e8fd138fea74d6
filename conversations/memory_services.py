"""Writes people make to conversational memory (issue 17, Console): edit or delete an observation,
and re-run extraction for one conversation, first as a dry run (`extraction_preview`, which writes
nothing) and then for real (`extraction_rerun`, which applies exactly what the dry run showed or
nothing at all). Every write is transactional and audited (`accounts.services.audit_record`).

The worker's side (processing the lifecycle's requests) is `conversations.memory`; the dry run
reuses its pieces (`_messages`, `extractor_default`) and the same reconciliation
(`conversations.extraction.reconcile`), so what it shows is what `extraction_process` writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from memory_console.text import TextError, text_clean

from .extraction import MAX_CONTENT, Extractor
from .memory import (
    _extract_or_fall_back,
    _Extracted,
    _extracted_write,
    _finish,
    _messages,
    extractor_default,
    reconcile_in_time,
)
from .models import (
    Communication,
    Conversation,
    ExtractionRequest,
    ExtractionStatus,
    Observation,
    ObservationRevision,
    RevisionDecision,
)

_ACTIONS = {"add": "added", "update": "updated", "discard": "discarded"}


def _actor_label(actor) -> str:
    """How a revision names who edited it: as the audit trail does (an email, API key “NAME”)."""
    label = getattr(actor, "audit_label", "") or getattr(actor, "email", "") or (str(actor) if actor else "")
    return label[:254]


def observation_content_clean(content) -> str:
    """An observation's content as a person sends it: text (`memory_console.text.text_clean`, line
    breaks and tabs allowed), NFC, trimmed, 1 to 4,096 characters (`extraction.MAX_CONTENT`).
    ValidationError naming `content` otherwise ("The content contains U+0000 NULL.")."""
    if not isinstance(content, str):
        raise ValidationError({"content": "The content must be text."})
    try:
        clean = text_clean(content, multiline=True, max_length=MAX_CONTENT).strip()
    except TextError as error:
        raise ValidationError({"content": f"The content {error.reason}."}) from None
    if not clean:
        raise ValidationError({"content": "The content is required: write the statement about the customer."})
    return clean


@transaction.atomic
def observation_update(*, observation: Observation, content, actor) -> bool:
    """Replace an observation's content by a person's (`observation_content_clean`'s rule). The
    change is kept as an "edited" revision naming `actor` (with the current evidence), so the
    profile's history shows who changed what and when; audited as ``observation.update``. Content
    equal to the current one changes nothing: False then, True when saved."""
    clean = observation_content_clean(content)
    observation = Observation.objects.select_for_update().get(pk=observation.pk)
    if clean == observation.content:
        return False
    before, now = observation.content, timezone.now()
    observation.content, observation.updated_at = clean, now
    observation.save(update_fields=["content", "updated_at"])
    revision = ObservationRevision.objects.create(
        store_id=observation.store_id,
        observation=observation,
        content=clean,
        at=now,
        decision=RevisionDecision.EDITED,
        reason="Edited by hand",
        actor=_actor_label(actor),
    )
    revision.evidence.set(observation.evidence.all())
    audit_record(
        account=observation.store.account,
        actor=actor,
        action="observation.update",
        store_id=observation.store_id,
        summary=f"Edited an observation of profile #{observation.profile_id}: “{_short(before)}” → “{_short(clean)}”",
        details={"observation": observation.pk, "profile": observation.profile_id, "before": before[:500]},
    )
    return True


@transaction.atomic
def observation_delete(*, observation: Observation, actor) -> None:
    """Delete an observation with its revisions and evidence links (the extraction decisions that
    named it stay, without it). Audited as ``observation.delete`` with the content it had."""
    store, pk, profile_id, content = observation.store, observation.pk, observation.profile_id, observation.content
    observation.delete()
    audit_record(
        account=store.account,
        actor=actor,
        action="observation.delete",
        store_id=store.pk,
        summary=f"Deleted an observation of profile #{profile_id}: “{_short(content)}”",
        details={"observation": pk, "profile": profile_id, "content": content[:500]},
    )


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- re-running extraction for one conversation ------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    """One decision the extractor would take: `action` "added", "updated" or "discarded" (as
    `ExtractionDecision.action`), its one-line `reason`, the candidate's `content` and `kind`, the
    customer messages that support it (`evidence`, communication ids) and, for an update or the
    discard of a restatement, the profile's observation it concerns (`observation_id`,
    `observation_content`)."""

    action: str
    reason: str
    content: str
    kind: str
    evidence: tuple[int, ...]
    observation_id: int | None = None
    observation_content: str = ""


def extraction_preview(
    *, conversation: Conversation, extractor: Extractor | None = None, notes: list[str] | None = None
) -> list[PreviewRow]:
    """The dry run: what re-running extraction over all of `conversation`'s communications would
    decide against its profile's current observations, in order, without writing anything. The
    same steps as `conversations.memory._observations_write` (messages, extractor, reconciliation
    against the observations oldest first, the text rule refusing a candidate as a discard).
    [] when the conversation has no customer messages; ValidationError when it has no profile.
    When the extractor fails (the LLM extractor after its retry), the built-in one answers, as the
    worker's fallback does, and `notes` (when given) gets the note saying so."""
    if conversation.profile_id is None:
        raise ValidationError("The conversation has no customer profile: there is nothing to remember it on.")
    extractor = extractor or extractor_default()
    messages = _messages(conversation.communications.order_by("occurred_at", "id"))
    if not any(m.role == "customer" for m in messages):
        return []
    (candidates, _), _ = _extract_or_fall_back(extractor, messages, notes if notes is not None else [])
    known = {
        str(o.pk): o
        for o in Observation.objects.filter(profile_id=conversation.profile_id).order_by("created_at", "id")
    }
    rows = []
    for decision in reconcile_in_time(candidates, known):
        candidate, action, reason = decision.candidate, decision.action, decision.reason
        observation = known.get(decision.target or "")
        try:
            content = text_clean(candidate.content, multiline=True, max_length=MAX_CONTENT)
        except TextError as error:
            action, reason, observation, content = "discard", f"Refused: the content {error}", None, candidate.content
        if action == "update" and observation is None:
            action = "discard"
        rows.append(
            PreviewRow(
                action=_ACTIONS[action],
                reason=reason[:500],
                content=content,
                kind=candidate.kind,
                evidence=tuple(candidate.evidence),
                observation_id=observation.pk if observation is not None else None,
                observation_content=observation.content if observation is not None else "",
            )
        )
    return rows


def preview_fingerprint(rows: list[PreviewRow]) -> str:
    """A short digest of a dry run's decisions (action, content, kind, the observation concerned):
    the apply step carries it, and `extraction_rerun` writes only a run that gives the same."""
    shape = [(r.action, r.content, r.kind, r.observation_id if r.action != "added" else None) for r in rows]
    return hashlib.sha256(json.dumps(shape, ensure_ascii=False).encode()).hexdigest()[:32]


class PreviewChanged(ValidationError):
    """The run would not be the one the dry run showed (the profile's observations changed in the
    meantime, or the extractor answered differently): nothing was written."""


def extraction_rerun(
    *, conversation: Conversation, actor, fingerprint: str, extractor: Extractor | None = None
) -> ExtractionRequest:
    """Apply a dry run (`extraction_preview`): a new `ExtractionRequest` over all of the
    conversation's communications (`requested_by` the actor), processed at once: the extractor
    runs first, outside any transaction and with the worker's fallback to the built-in extractor,
    then its results are written in one transaction by the worker's own writer
    (`conversations.memory._extracted_write`, the profile locked), so the decisions are recorded
    like the worker's, a Closed conversation's summary is rewritten and restatements of what the
    profile already holds are discarded (applying twice doubles nothing). If the decisions taken
    differ from the dry run whose `fingerprint` (`preview_fingerprint`) is given, everything is
    rolled back and `PreviewChanged` raised. ValidationError without a profile or communications.
    Audited as ``memory.extraction_rerun``."""
    if conversation.profile_id is None:
        raise ValidationError("The conversation has no customer profile: there is nothing to remember it on.")
    extractor = extractor or extractor_default()
    # The extractor runs first, outside the transaction (the LLM extractor's calls may take minutes:
    # no lock may wait for them), with the worker's fallback; the writes then happen in one
    # transaction that a different outcome than the dry run's rolls back.
    messages = _messages(conversation.communications.order_by("occurred_at", "id"))
    extracted = None
    if any(m.role == "customer" for m in messages):
        notes: list[str] = []
        (candidates, draft), used = _extract_or_fall_back(extractor, messages, notes)
        extracted = _Extracted(candidates, used, draft, used, notes)
    with transaction.atomic():
        ids = Communication.objects.filter(conversation=conversation).values_list("pk", flat=True)
        last = ids.order_by("-id").first()
        if last is None:
            raise ValidationError("The conversation has no communications to extract from.")
        request = ExtractionRequest.objects.create(
            store_id=conversation.store_id,
            conversation=conversation,
            transition=conversation.status,  # a Closed conversation gets its summary written again
            after_communication_id=0,
            last_communication_id=last,
            requested_at=timezone.now(),
            requested_by=_actor_label(actor) or "system",
        )
        request = ExtractionRequest.objects.select_for_update().get(pk=request.pk)
        if extracted is None:
            request = _finish(request, ExtractionStatus.DONE, "No customer messages")
        else:
            request = _extracted_write(request, conversation, extracted)
        taken = [
            PreviewRow(
                action=d.action,
                reason=d.reason,
                content=d.content,
                kind=d.kind,
                evidence=(),
                observation_id=d.observation_id,
            )
            for d in request.decisions.order_by("id")
        ]
        if preview_fingerprint(taken) != fingerprint:
            raise PreviewChanged(
                "The profile's observations or the extractor's answer changed since the dry run: nothing was "
                "written. Review the new dry run and apply it."
            )
        counts = {action: sum(1 for r in taken if r.action == action) for action in _ACTIONS.values()}
        audit_record(
            account=conversation.store.account,
            actor=actor,
            action="memory.extraction_rerun",
            store_id=conversation.store_id,
            summary=f"Re-ran memory extraction for conversation #{conversation.pk}: {counts['added']} added, "
            f"{counts['updated']} updated, {counts['discarded']} discarded",
            details={"conversation": conversation.pk, "request": request.pk, "profile": conversation.profile_id},
        )
    return request
