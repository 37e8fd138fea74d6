"""Add, update or discard: what a new candidate does to what the profile already knows.

The rule, in order, for each candidate (candidates of one conversation are taken in order, and
each one added joins what is known for the next ones):

1. **Near-duplicate → discard.** If the candidate is a near-duplicate of a known observation
   (rapidfuzz `token_sort_ratio` ≥ 90 on the normalized texts, and neither negates what the other
   says), it restates it: discard, naming it.
2. **Same subject → restatement or update.** The subject is the key the extractor tags (or, for
   saved observations, the same lexicon applied to their content: `subjects.subject_of`), e.g.
   `location`, `diet`, `contact_channel`, `pet`, `vehicle`, `job`. For a known observation of the
   same subject, its *value words* (the content minus framing and stop words: "Lives in Denver" →
   {denver}; "Allergic to peanuts" → {peanut}; "Prefers SMS" → {sms}, with txt/text folded into sms):
   - one of them negated ("not vegetarian" against "Vegetarian"), a different count ("a second
     dog" against "Has a dog", "our third baby" against "Has 2 kids"), one of them named with a
     change word ("sold the Corolla", "switched", "instead", "anymore"; unless "still" or "nothing
     changed" says otherwise), or, for a subject whose lexicon words are its value (`EXCLUSIVE`:
     diet, contact channel, language, device, vehicle), another of those words ("vegetarian again"
     against "Eats meat") → it **contradicts** it: update it (the caller keeps the old content as a
     revision);
   - at least half of them present in the candidate ("I still have the Civic" against "Drives a
     Honda Civic"; a hyphenated word counts its parts: "non-feather pillows" says "feather"), or the
     candidate says it is known ("as before", "like always") → the candidate **restates** it: discard;
   - otherwise, when the subject holds one value at a time (`SINGLE_VALUED`: location, diet,
     contact channel, pet, vehicle, device, housing, language, budget, job) → the candidate is a new
     value of that subject ("moved to Austin" against "Lives in Denver"): **update** it;
   - a subject that holds several facts at once (allergy, health, household, schedule) with a
     different value is a new fact: go on.
3. **Its words → discard.** A candidate that says at least three quarters of a known observation's value
   words (two at least), with no negation, change word or new count or number, restates it even when the two were
   tagged with different subjects ("it's Sunil from The Copper Kettle café again" against "Owns The
   Copper Kettle café").
4. Otherwise **add**.

Within one conversation, candidates never update each other (they are facts of the same moment);
they only discard near-duplicates of one another.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz

from conversations.extraction.base import Candidate, Decision
from conversations.extraction.subjects import (
    AS_BEFORE,
    CHANGE,
    COUNTED,
    EXCLUSIVE,
    SINGLE_VALUED,
    UNCHANGED,
    counts,
    negated_tokens,
    normalize,
    subject_of,
    subject_values,
    value_tokens,
)

DUPLICATE_RATIO = 90  # rapidfuzz token_sort_ratio (0-100) from which two statements say the same thing


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compare(candidate: Candidate, content: str, subject: str) -> str:
    """How a candidate stands to a known observation of the same subject: "restates", "contradicts" or "differs"."""
    known_values = value_tokens(content)
    said = value_tokens(candidate.content)
    shared = known_values & said
    negated = known_values & (negated_tokens(candidate.content) - negated_tokens(content))
    new_counts = counts(candidate.content) - counts(content)
    if negated or (new_counts and (counts(content) or subject in COUNTED)):
        return "contradicts"
    unchanged = UNCHANGED.search(candidate.content)  # "I still prefer WhatsApp, nothing changed there"
    if shared and CHANGE.search(candidate.content) and not unchanged:
        return "contradicts"  # the same thing named with a change: "sold the Corolla", "not vegetarian anymore"
    if subject in EXCLUSIVE and not unchanged:
        said_values, known_said = subject_values(candidate.content, subject), subject_values(content, subject)
        if said_values and known_said and not said_values & known_said:
            return "contradicts"  # another value of the subject: "vegetarian again" against "Eats meat"
    if known_values and len(shared) * 2 >= len(known_values):
        return "restates"
    if AS_BEFORE.search(candidate.content) and not negated:
        return "restates"  # "as before, non-feather pillows owing to my allergy": the customer says it is known
    return "differs"


def reconcile(candidates: Sequence[Candidate], known: Sequence[tuple[str, str]]) -> list[Decision]:
    """One decision per candidate, in order; `known` is (key, content) of the profile's current observations."""
    decisions: list[Decision] = []
    saved = [(key, content, subject_of(content), False) for key, content in known]  # (key, content, subject, new)
    for index, candidate in enumerate(candidates):
        text = normalize(candidate.content)
        subject = candidate.subject or subject_of(candidate.content)
        decision = None
        for key, content, _, new in saved:
            ratio = fuzz.token_sort_ratio(text, normalize(content))
            if ratio >= DUPLICATE_RATIO and negated_tokens(candidate.content) == negated_tokens(content):
                what = "an observation of this conversation" if new else f"“{_short(content)}”"
                decision = Decision("discard", candidate, None if new else key, f"Restates {what} ({ratio:.0f}% alike)")
                break
        if decision is None and AS_BEFORE.search(candidate.content):  # "as before, a ground-floor room"
            said = value_tokens(candidate.content)
            for key, content, _, new in saved:
                known_values = value_tokens(content)
                if not new and known_values and len(said & known_values) * 2 >= len(known_values):
                    decision = Decision("discard", candidate, key, f"Restates “{_short(content)}” (said as before)")
                    break
        if decision is None and subject:
            for key, content, known_subject, new in saved:
                if new or known_subject != subject:
                    continue
                relation = _compare(candidate, content, subject)
                if relation == "restates":
                    decision = Decision("discard", candidate, key, f"Restates “{_short(content)}” ({subject})")
                    break
                if relation == "contradicts" or subject in SINGLE_VALUED:
                    decision = Decision(
                        "update", candidate, key, f"New {subject.replace('_', ' ')}: supersedes “{_short(content)}”"
                    )
                    break
        if decision is None:  # tagged apart, said the same: "it's Sunil from The Copper Kettle café" against its owner
            said = value_tokens(candidate.content)
            for key, content, _, new in saved:
                known_values = value_tokens(content)
                shared = said & known_values
                if (
                    not new
                    and len(shared) >= 2
                    and len(shared) * 4 >= len(known_values) * 3
                    and not negated_tokens(candidate.content)
                    and not CHANGE.search(candidate.content)
                    and not counts(candidate.content) - counts(content)
                    and not {w for w in said if w[:1].isdigit()} - known_values  # "90 guests rather than 150"
                ):
                    decision = Decision("discard", candidate, key, f"Restates “{_short(content)}” (its words)")
                    break
        if decision is None:
            decision = Decision("add", candidate, None, f"New {subject.replace('_', ' ') or candidate.kind}")
        if decision.action == "update":
            saved = [entry for entry in saved if entry[0] != decision.target]  # superseded: no longer current
        if decision.action != "discard":
            saved.append((f"new:{index}", candidate.content, subject, True))
        decisions.append(decision)
    return decisions
