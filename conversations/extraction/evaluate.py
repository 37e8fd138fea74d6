"""Precision and recall of an extractor on the labelled set in tests/data/memory_eval/ (its README).

Scoring is exactly the README's rule: a predicted observation (a decision `add` or `update`; a
`discard` is not a prediction) matches a gold observation when every `must` term occurs in the
predicted content, case-insensitively after NFKC normalisation and whitespace collapsing, a term
`a|b` being satisfied by either alternative; each gold and each prediction is matched at most once,
greedily in order. Gold observations a prediction may match are those to add or update (a
prediction that only restates a `discard` gold should have been discarded: it counts against
precision). Precision = matched predictions / predictions; recall = matched gold / gold to add or update.
Beside them: how many matched predictions carry the gold decision (add or update), and how many
gold restatements (`discard`) a discard decision covers (by the same `must` rule).

Summaries (`SummaryScore`, a small measure of the extractive summary against each case's gold
`summary`): both texts are reduced to their content words (`summary_words`: lower case, the stop
words of `subjects.STOPWORDS` and a few framing words out, each word stemmed by `subjects.stem`); a
predicted reason (or outcome) **matches** its gold one when they share at least one content word and
rapidfuzz's `token_set_ratio` of the two sorted word lists is at least `SUMMARY_MATCH` (60). The
token-set ratio forgives extra words, so beside the match rate the mean content-word F1 (the share
of words both hold, over each side's count) is kept: it drops when a prediction is long-winded.
Follow-ups are right when the prediction has some exactly when the gold has some. Scores no
observation: the observation figures above are unchanged by it.
"""

from __future__ import annotations

import fnmatch
import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rapidfuzz import fuzz

from conversations.extraction.base import Extractor, Message, SummaryDraft
from conversations.extraction.builtin import BuiltinExtractor
from conversations.extraction.reconcile import reconcile
from conversations.extraction.subjects import STOPWORDS, stem, words

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "memory_eval"
SPLITS = ("dev", "tune", "tune2", "heldout")


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def matches(content: str, must: list[str]) -> bool:
    """Every must term (alternatives joined by "|") occurs in `content`."""
    text = _norm(content)
    return all(any(_norm(alt) in text for alt in term.split("|")) for term in must)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class CaseResult:
    id: str
    predictions: list[tuple[str, str]]  # (action, content) of add/update decisions
    discarded: list[str]
    false_positives: list[str] = field(default_factory=list)
    false_negatives: list[str] = field(default_factory=list)
    matched: int = 0
    gold: int = 0
    decisions_right: int = 0  # matched predictions whose action (add/update) is the gold decision
    restatements: int = 0  # gold observations to discard (they restate a known one)
    restatements_discarded: int = 0  # of those, how many a discard decision covers
    summary: SummaryDraft | None = None  # what the extractor summarised (scored by `summary_score`)


@dataclass
class Score:
    split: str
    cases: int
    predictions: int
    gold: int
    matched: int
    decisions_right: int
    restatements: int
    restatements_discarded: int
    results: list[CaseResult]

    @property
    def precision(self) -> float:
        return self.matched / self.predictions if self.predictions else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load(split: str) -> list[dict]:
    """The cases of a split ("dev", "heldout" or "all"), sorted by id; [] when the split is absent."""
    if split == "all":
        return [case for name in SPLITS for case in load(name)]
    folder = DATA / split
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]


def score_case(case: dict, extractor: Extractor) -> CaseResult:
    messages = [
        Message(m["id"], m["role"], m["text"], _when(m["at"]), case.get("channel", "")) for m in case["messages"]
    ]
    candidates, summary = extractor.extract(messages)
    known = [(f"known:{i}", k["content"]) for i, k in enumerate(case.get("known", []))]
    decisions = reconcile(candidates, known)
    predictions = [(d.action, d.candidate.content) for d in decisions if d.action != "discard"]
    result = CaseResult(case["id"], predictions, [d.candidate.content for d in decisions if d.action == "discard"])
    result.summary = summary
    gold = [g for g in case["expected"] if g["decision"] in ("add", "update")]
    result.gold = len(gold)
    used = [False] * len(gold)
    for action, content in predictions:
        for i, g in enumerate(gold):
            if not used[i] and matches(content, g["must"]):
                used[i] = True
                result.matched += 1
                result.decisions_right += action == g["decision"]
                break
        else:
            result.false_positives.append(content)
    result.false_negatives = [g["content"] for i, g in enumerate(gold) if not used[i]]
    discarded = list(result.discarded)
    for g in case["expected"]:
        if g["decision"] != "discard":
            continue
        result.restatements += 1
        hit = next((content for content in discarded if matches(content, g["must"])), None)
        if hit is not None:
            discarded.remove(hit)
            result.restatements_discarded += 1
    return result


def evaluate(split: str = "dev", extractor: Extractor | None = None, pattern: str | None = None) -> Score:
    """The split's score; with `pattern` (fnmatch), only its conversations whose id matches it."""
    extractor = extractor or BuiltinExtractor()
    cases = [case for case in load(split) if pattern is None or fnmatch.fnmatchcase(case["id"], pattern)]
    results = [score_case(case, extractor) for case in cases]
    return Score(
        split=split,
        cases=len(results),
        predictions=sum(len(r.predictions) for r in results),
        gold=sum(r.gold for r in results),
        matched=sum(r.matched for r in results),
        decisions_right=sum(r.decisions_right for r in results),
        restatements=sum(r.restatements for r in results),
        restatements_discarded=sum(r.restatements_discarded for r in results),
        results=results,
    )


SUMMARY_MATCH = 60  # rapidfuzz token_set_ratio (0-100) of the content words at or above which a field matches
_FRAMING = frozenset(["customer", "agent", "hi", "hello", "hey", "good", "morning", "afternoon", "evening", "yeah"])


def summary_words(text: str) -> list[str]:
    """The content words of a summary field, stemmed, in order, each once ("Booked Tuesday at 7:30am" →
    ["book", "tuesday", "7:30am"])."""
    out = [stem(w) for w in words(text) if w not in STOPWORDS and w not in _FRAMING and any(c.isalnum() for c in w)]
    return list(dict.fromkeys(out))


def field_match(predicted: str, gold: str) -> tuple[bool, float]:
    """(whether `predicted` matches `gold` by the rule above, their content-word F1 0-1)."""
    p, g = summary_words(predicted), summary_words(gold)
    shared = len(set(p) & set(g))
    if not shared:
        return False, 0.0
    ratio = fuzz.token_set_ratio(" ".join(sorted(p)), " ".join(sorted(g)))
    precision, recall = shared / len(set(p)), shared / len(set(g))
    return ratio >= SUMMARY_MATCH, 2 * precision * recall / (precision + recall)


@dataclass
class SummaryScore:
    """Summary figures of a split: cases with a gold summary, how many predicted reasons and outcomes
    match theirs, the mean content-word F1 of each (0-1), how many have follow-ups exactly when the gold
    has some, and how many predicted outcomes are empty."""

    cases: int = 0
    reasons: int = 0
    outcomes: int = 0
    reason_f1: float = 0.0
    outcome_f1: float = 0.0
    follow_ups_right: int = 0
    outcomes_empty: int = 0


def summary_score(split: str, score: Score) -> SummaryScore:
    """The summary measure of `score`'s predictions against the gold summaries of `split`."""
    gold = {case["id"]: case.get("summary") for case in load(split)}
    out = SummaryScore()
    f1s: tuple[list[float], list[float]] = ([], [])
    for result in score.results:
        expected = gold.get(result.id)
        if not expected:
            continue
        out.cases += 1
        draft = result.summary
        reason, outcome = (draft.reason, draft.outcome) if draft else ("", "")
        hit, f1 = field_match(reason, expected.get("reason", ""))
        out.reasons += hit
        f1s[0].append(f1)
        hit, f1 = field_match(outcome, expected.get("outcome", ""))
        out.outcomes += hit
        f1s[1].append(f1)
        out.outcomes_empty += not outcome.strip()
        out.follow_ups_right += bool(draft and draft.follow_ups) == bool(expected.get("follow_ups"))
    if out.cases:
        out.reason_f1 = sum(f1s[0]) / out.cases
        out.outcome_f1 = sum(f1s[1]) / out.cases
    return out
