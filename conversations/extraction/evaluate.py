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
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from conversations.extraction.base import Extractor, Message
from conversations.extraction.builtin import BuiltinExtractor
from conversations.extraction.reconcile import reconcile

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
    candidates, _ = extractor.extract(messages)
    known = [(f"known:{i}", k["content"]) for i, k in enumerate(case.get("known", []))]
    decisions = reconcile(candidates, known)
    predictions = [(d.action, d.candidate.content) for d in decisions if d.action != "discard"]
    result = CaseResult(case["id"], predictions, [d.candidate.content for d in decisions if d.action == "discard"])
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


def evaluate(split: str = "dev", extractor: Extractor | None = None) -> Score:
    extractor = extractor or BuiltinExtractor()
    results = [score_case(case, extractor) for case in load(split)]
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
