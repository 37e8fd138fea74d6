#!/usr/bin/env python
"""Precision and recall of the built-in memory extractor on the labelled set (issue 17).

    .venv/bin/python bench/memory_eval.py --split dev --verbose

Runs the extractor and reconciliation over tests/data/memory_eval/<split>/ and scores the
observations with the set's matching rule (tests/data/memory_eval/README.md). --verbose lists, per
conversation, the false positives (said but not expected) and false negatives (expected, missed).
A second line scores the summaries against each case's gold summary
(conversations.extraction.evaluate.summary_score). --glob keeps the conversations whose id matches
a shell pattern (`--split tune2 --glob '*-3??'`), for a first-sight figure on a part of a split not
tuned on. No database, no network. Never pass --verbose with --split heldout (or all): heldout
stays blind.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conversations.extraction.evaluate import (  # noqa: E402
    SPLITS,
    SUMMARY_MATCH,
    evaluate,
    summary_score,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    parser.add_argument("--verbose", action="store_true", help="per-case false positives and negatives")
    parser.add_argument("--glob", help="only the conversations whose id matches this pattern, e.g. '*-3??'")
    args = parser.parse_args()
    splits = [*SPLITS, "all"] if args.split == "all" else [args.split]
    for split in splits:
        started = time.perf_counter()
        score = evaluate(split, pattern=args.glob)
        elapsed = time.perf_counter() - started
        if not score.cases:
            print(f"{split:8} no conversations")
            continue
        print(
            f"{split:8} {score.cases:3} conversations"
            f"  precision {score.precision:.3f} ({score.matched}/{score.predictions})"
            f"  recall {score.recall:.3f} ({score.matched}/{score.gold})  F1 {score.f1:.3f}"
            f"  add/update right {score.decisions_right}/{score.matched}"
            f"  restatements discarded {score.restatements_discarded}/{score.restatements}"
            f"  {elapsed * 1000 / score.cases:.1f} ms/conversation"
        )
        summaries = summary_score(split, score)
        if summaries.cases:
            n, empty = summaries.cases, summaries.outcomes_empty
            print(
                f"{'':8} summaries: reason matches {summaries.reasons}/{n} (F1 {summaries.reason_f1:.2f})"
                f"  outcome matches {summaries.outcomes}/{n} (F1 {summaries.outcome_f1:.2f}, {empty} empty)"
                f"  follow-ups present when due {summaries.follow_ups_right}/{n}"
                f"  (match: shared content words, token-set ratio >= {SUMMARY_MATCH})"
            )
        if args.verbose and split != "all":
            for result in score.results:
                if not (result.false_positives or result.false_negatives):
                    continue
                print(f"  {result.id}")
                for content in result.false_positives:
                    print(f"    FP  {content}")
                for content in result.false_negatives:
                    print(f"    FN  {content}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
