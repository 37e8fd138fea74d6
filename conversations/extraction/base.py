"""The small interface every extractor speaks (issue 17, "Extractors are pluggable").

An extractor reads the messages of one conversation and proposes `Candidate` observations and a
`SummaryDraft`; `reconcile()` then turns candidates into `Decision`s against what the profile already
knows (add / update / discard). Everything is a frozen dataclass: values, not records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

MAX_CONTENT = 4096  # characters of an observation's content (the product's limit)

Role = Literal["customer", "agent", "system"]
Kind = Literal["preference", "plan", "identity", "problem", "constraint"]
Action = Literal["add", "update", "discard"]

ROLES: tuple[str, ...] = ("customer", "agent", "system")
KINDS: tuple[str, ...] = ("preference", "plan", "identity", "problem", "constraint")
ACTIONS: tuple[str, ...] = ("add", "update", "discard")


@dataclass(frozen=True)
class Message:
    """One communication of the conversation, as the extractor sees it."""

    id: int
    role: Role
    text: str
    at: datetime
    channel: str = ""

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")


@dataclass(frozen=True)
class Candidate:
    """A proposed observation: a short statement about the customer with the messages that support it.

    `subject` names what the statement is about ("location", "diet", "contact_channel", "pet", ...;
    see `conversations.extraction.subjects`), so that reconciliation can tell a new value of the same
    subject ("moved to Austin" vs "Lives in Denver") from a new fact. Empty when unknown.
    """

    content: str
    kind: Kind
    evidence: tuple[int, ...]
    occurred_at: datetime
    subject: str = ""

    def __post_init__(self):
        if not self.content.strip():
            raise ValueError("content is empty")
        if len(self.content) > MAX_CONTENT:
            raise ValueError(f"content is longer than {MAX_CONTENT} characters")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if not self.evidence:
            raise ValueError("an observation needs at least one supporting message")


@dataclass(frozen=True)
class SummaryDraft:
    """A summary of one conversation: why the customer got in touch, how it ended, what is still open."""

    reason: str
    outcome: str
    follow_ups: tuple[str, ...]
    evidence: tuple[int, ...]


@dataclass(frozen=True)
class Decision:
    """What to do with a candidate: add it, update the known observation `target` with it, or discard it."""

    action: Action
    candidate: Candidate
    target: str | None
    reason: str

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {self.action!r}")
        if self.action == "update" and self.target is None:
            raise ValueError("an update names the observation it updates")
        if "\n" in self.reason:
            raise ValueError("the reason is one line")


@runtime_checkable
class Extractor(Protocol):
    """What the worker needs of an extractor: a name and version (the observation's source) and extract()."""

    name: str
    version: str

    def extract(self, messages: list[Message]) -> tuple[list[Candidate], SummaryDraft | None]:
        """Candidates (evidence: ids of customer messages only) and a summary, or None when there is nothing."""
        ...
