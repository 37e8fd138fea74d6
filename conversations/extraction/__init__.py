"""Memory extraction: observations and a summary drawn from a conversation's messages (issue 17).

Pure Python on purpose: nothing here imports Django or a model, so the worker, a management command
and the evaluation (bench/memory_eval.py, tests/test_memory_eval.py) all call it the same way.

    from conversations.extraction import BuiltinExtractor, Message, reconcile

    candidates, summary = BuiltinExtractor().extract(messages)
    decisions = reconcile(candidates, known=[(observation_id, content), ...])

`LLMExtractor` (llm.py) asks an OpenAI-compatible chat-completions endpoint instead, and raises an
`ExtractorError` when it cannot; the worker then falls back to `BuiltinExtractor`.
"""

from conversations.extraction.base import (
    KINDS,
    MAX_CONTENT,
    Candidate,
    Decision,
    Extractor,
    Message,
    SummaryDraft,
)
from conversations.extraction.builtin import BuiltinExtractor
from conversations.extraction.llm import (
    ExtractorError,
    ExtractorOutputInvalid,
    ExtractorUnavailable,
    LLMExtractor,
)
from conversations.extraction.reconcile import reconcile

__all__ = [
    "KINDS",
    "MAX_CONTENT",
    "BuiltinExtractor",
    "Candidate",
    "Decision",
    "Extractor",
    "ExtractorError",
    "ExtractorOutputInvalid",
    "ExtractorUnavailable",
    "LLMExtractor",
    "Message",
    "SummaryDraft",
    "reconcile",
]
