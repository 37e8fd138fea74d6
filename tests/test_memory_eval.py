"""The memory evaluation set is well formed, scored by its README's rule, and the extractor stays above its floor.

Measured with `.venv/bin/python bench/memory_eval.py --split <split>` (docs/PERFORMANCE.md, "Memory
extraction quality") on 2026-11-30. Built-in extractor 1.0 (the rules written against dev):

    dev       35 conversations  precision 0.985 (67/68)   recall 0.971 (67/69)
    tune      40 conversations  precision 0.725 (58/80)   recall 0.487 (58/119)   (first sight)
    heldout   30 conversations  precision 0.682 (30/44)   recall 0.455 (30/66)

Built-in extractor 1.1 (the rules made general against tune's misses, dev checked at every step;
heldout measured once, after the last rule change, for its aggregates only):

    dev       35 conversations  precision 0.985 (67/68)   recall 0.971 (67/69)
    tune      40 conversations  precision 0.910 (101/111) recall 0.849 (101/119)
    heldout   30 conversations  precision 0.694 (34/49)   recall 0.515 (34/66)

Built-in extractor 1.2 (the rules made general against tune2's misses: first the 201-series only, with
dev and tune checked at every step; then the 301-series, first measured at 0.650 / 0.342 after the
201-series round, then all of tune2; heldout measured once, after the last rule change, aggregates only):

    dev       35 conversations  precision 0.985 (67/68)   recall 0.971 (67/69)
    tune      40 conversations  precision 0.914 (106/116) recall 0.891 (106/119)
    tune2     72 conversations  precision 0.886 (140/158) recall 0.800 (140/175)  (first sight, 1.1: 0.687 / 0.389)
    heldout   30 conversations  precision 0.655 (36/55)   recall 0.545 (36/66)

Every floor is the latest measurement minus 0.05. Dev and tune overstate (the rules were written,
then tuned, against them); heldout is written blind by someone else and never tuned on, so it is the
honest figure, and it is below the issue's goal (docs/PERFORMANCE.md says so). The issue's goal
(precision ≥ 0.8, recall ≥ 0.6) is reported by the bench, not enforced here. No database, no network.
"""

import json
import re

import pytest

from conversations.extraction.evaluate import DATA, SPLITS, evaluate, load, matches

FLOORS = {  # split: (precision, recall)
    "dev": (0.93, 0.92),  # 1.2 and 1.1: 0.985 / 0.971, minus 0.05
    "tune": (0.86, 0.84),  # 1.2: 0.914 / 0.891 (1.1: 0.910 / 0.849; first sight, 1.0: 0.725 / 0.487), minus 0.05
    "tune2": (0.83, 0.75),  # 1.2: 0.886 / 0.800 (first sight, 1.1: 0.687 / 0.389), minus 0.05
    "heldout": (0.60, 0.49),  # 1.2: 0.655 / 0.545 (1.1: 0.694 / 0.515, floor 0.64 / 0.46; 1.0: 0.682 / 0.455)
}
PRESENT = [split for split in SPLITS if load(split)]


@pytest.mark.parametrize("split", PRESENT)
def test_the_builtin_extractor_stays_above_its_floor(split):
    score = evaluate(split)
    precision_floor, recall_floor = FLOORS[split]
    misses = {r.id: (r.false_positives, r.false_negatives) for r in score.results if r.false_positives}
    assert score.precision >= precision_floor, f"{split} precision {score.precision:.3f}: {misses}"
    assert score.recall >= recall_floor, f"{split} recall {score.recall:.3f}"


@pytest.mark.parametrize(("split", "size", "long"), [("dev", 35, 1), ("tune", 40, 0), ("tune2", 72, 2)])
def test_a_split_we_tune_on_has_its_share_of_the_mix(split, size, long):
    """The README's mix, per split: every channel, several industries, no-fact and known-contradicting cases."""
    cases = load(split)
    assert len(cases) >= size
    assert {c["channel"] for c in cases} == {"sms", "whatsapp", "chat", "voice"}
    assert len({c["industry"] for c in cases}) >= 8
    assert sum(1 for c in cases if not c["expected"]) >= 5
    assert sum(1 for c in cases if any(e["decision"] != "add" for e in c["expected"])) >= 5
    assert sum(1 for c in cases if len(c["messages"]) >= 40) >= long  # tune has no 40-message case


@pytest.mark.parametrize("split", PRESENT)
def test_every_case_follows_the_format(split):
    ids = set()
    for path in sorted((DATA / split).glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        assert path.stem == case["id"] and case["id"] not in ids, path
        ids.add(case["id"])
        assert case["channel"] in ("sms", "whatsapp", "chat", "voice"), path
        messages = case["messages"]
        assert [m["id"] for m in messages] == list(range(1, len(messages) + 1)), path
        roles = {m["id"]: m["role"] for m in messages}
        assert set(roles.values()) <= {"customer", "agent", "system"}, path
        known = {k["content"] for k in case["known"]}
        for gold in case["expected"]:
            assert 1 <= len(gold["must"]) <= 3, (path, gold)
            assert gold["evidence"] and all(roles[i] == "customer" for i in gold["evidence"]), (path, gold)
            assert gold["decision"] in ("add", "update", "discard"), (path, gold)
            if gold["decision"] != "add":
                assert gold["supersedes"] in known, (path, gold)
            assert matches(gold["content"], gold["must"]) or re.search(r"\d{4}", " ".join(gold["must"])), (
                path,
                gold,
            )


def test_matching_is_the_readme_rule():
    assert matches("Prefers WHATSAPP over e-mail", ["whatsapp"])
    assert matches("Moving to Denver (2027-03)", ["denver", "2027-03|march 2027"])
    assert matches("Ｐｅａｎｕｔ   allergy", ["peanut allergy"])  # NFKC and collapsed whitespace
    assert not matches("Moving to Denver", ["denver", "2027-03|march 2027"])  # every term
    assert not matches("Prefers email", ["whatsapp"])
