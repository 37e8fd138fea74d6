"""The LLM extractor: observations and a summary asked of any OpenAI-compatible chat-completions
endpoint (OpenAI, Azure's compatible endpoint, vLLM, llama.cpp's server, Ollama, LM Studio…), issue 17.

One call, through the official `openai` client (`POST {base_url}/chat/completions`, no retries of
its own): a system message with the rules and the JSON shape, then the conversation as JSON (each
message's id, role, time, channel and text, oldest first). `response_format={"type": "json_object"}`
is asked for; a server that ignores it and fences its JSON in a Markdown code block is tolerated, and
one that refuses it (HTTP 400 naming `response_format`) is asked again without it (the retry).

The reply must be exactly (`REPLY_SHAPE`; any other key is refused)::

    {"observations": [{"content": str, "kind": str, "subject": str, "evidence": [int],
                       "occurredAt": str | null}],
     "summary": {"reason": str, "outcome": str, "followUps": [str], "evidence": [int]} | null}

and is validated strictly (`reply_parse`): JSON types as written (no "12" for 12), `kind` one of
`KINDS`, `subject` one of the reconciliation lexicon's subjects or "", content not blank and at most
`MAX_CONTENT` (4,096) characters, evidence ids of the conversation's **customer** messages (a
summary may cite any message of the conversation), `occurredAt` an ISO 8601 time with its offset
within the conversation (null: the time of the latest message cited), at most `MAX_OBSERVATIONS`
observations and `MAX_FOLLOW_UPS` follow-ups, and, when a `text_problem` check is given, no text it
refuses (the caller's one text rule: control characters, surrogates).

A transport failure (no connection, no answer within `timeout` seconds, an HTTP error status, an
answer that is not a chat completion) or an invalid reply gets **one retry**; after an invalid
reply the retry shows the model its reply and what was wrong with it. When the retry fails too,
`extract()` raises `ExtractorUnavailable` (the last failure was the transport) or
`ExtractorOutputInvalid` (the last reply was invalid); both are `ExtractorError`, whose message is a
one-line reason fit for a note. The caller (`conversations.memory.extraction_process`) then falls
back to the built-in extractor and says so on the conversation.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from conversations.extraction.base import KINDS, MAX_CONTENT, Candidate, Kind, Message, SummaryDraft
from conversations.extraction.subjects import SUBJECTS

logger = logging.getLogger(__name__)

MAX_OBSERVATIONS = 50  # observations one reply may propose (a conversation rarely holds ten)
MAX_FOLLOW_UPS = 10
SUBJECT_NAMES: tuple[str, ...] = tuple(name for name, _ in SUBJECTS)
REASON_LENGTH = 300  # characters of a failure's reason (the request's note holds 500)

REPLY_SHAPE = (
    '{"observations": [{"content": string, "kind": string, "subject": string, "evidence": [integer], '
    '"occurredAt": string or null}], '
    '"summary": {"reason": string, "outcome": string, "followUps": [string], "evidence": [integer]} or null}'
)

SYSTEM_PROMPT = f"""You extract long-term memory about a customer from one customer-support conversation, \
so that the agents of the customer's next conversations know them.

Answer with one JSON object and nothing else (no prose, no code fence), exactly of this shape:
{REPLY_SHAPE}

Observations:
- Short, self-contained statements about the customer, in the third person without their name, e.g. \
"Prefers WhatsApp over email", "Moving to Denver in March 2027", "Allergic to peanuts".
- Only what stays true beyond this conversation: preferences, plans, identity (job, home, household, \
pets, vehicle, device), recurring problems, constraints (allergies, diet, health, budget, availability). \
Not greetings, thanks or filler, not one-off errands ("cancel tomorrow's delivery"), not questions, \
hypotheticals or hedges, nothing the agent says about themselves, nothing about other people.
- "kind": one of {", ".join(KINDS)}.
- "subject": what it is about, one of {", ".join(SUBJECT_NAMES)}; "" when none fits.
- "evidence": the "id"s of the customer messages that state it (at least one; customer messages only).
- "occurredAt": the "at" of the message that states it, or null.
- Write dates relative to the message time as absolute ones ("next March" said on 2026-11-02: \
"March 2027"); keep quantities as said. Content: at most {MAX_CONTENT} characters.
- No memorable fact: "observations": [].

Summary: "reason" (why the customer got in touch), "outcome" (how it ended, "" if open), "followUps" \
(what is still to be done), "evidence" (ids of the messages they come from, any role); null when the \
conversation has nothing to summarise."""


class ExtractorError(Exception):
    """The extractor could not give a result; str(error) is a one-line reason (for a note)."""


class ExtractorUnavailable(ExtractorError):
    """The endpoint did not answer with a chat completion, twice (connection, timeout, HTTP status)."""


class ExtractorOutputInvalid(ExtractorError):
    """The model's reply did not pass validation, twice; the reason names the last reply's faults."""


class _Invalid(Exception):
    """One reply's faults (internal: becomes a retry, then ExtractorOutputInvalid)."""


class _Unavailable(Exception):
    """One call's transport failure (internal: becomes a retry, then ExtractorUnavailable)."""


class _FormatRefused(_Unavailable):
    """The server refused `response_format` (HTTP 400 naming it): the retry goes without it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _ObservationReply(_Strict):
    content: StrictStr = Field(max_length=MAX_CONTENT)
    kind: Kind
    subject: StrictStr = ""
    evidence: list[StrictInt] = Field(min_length=1, max_length=100)
    occurredAt: StrictStr | None = None  # the wire's names are camelCase


class _SummaryReply(_Strict):
    reason: StrictStr = Field(max_length=MAX_CONTENT)
    outcome: StrictStr = Field(default="", max_length=MAX_CONTENT)
    followUps: list[StrictStr] = Field(default_factory=list, max_length=MAX_FOLLOW_UPS)
    evidence: list[StrictInt] = Field(default_factory=list, max_length=100)


class _Reply(_Strict):
    observations: list[_ObservationReply] = Field(max_length=MAX_OBSERVATIONS)
    summary: _SummaryReply | None = None


_FENCE = re.compile(r"\A\s*```(?:json|JSON)?\s*\n(.*)\n\s*```\s*\Z", re.DOTALL)


def _short(text: str, limit: int = REASON_LENGTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_detail(error) -> str:
    """What an HTTP error answer says: its JSON `error.message` (the client keeps the `error` object
    as `body`), else the start of its text; "" when it says nothing."""
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error")
        return _short(message, 120) if isinstance(message, str) else ""
    if isinstance(body, str):
        return _short(body, 120)
    try:
        return _short(error.response.text, 120)
    except Exception:
        return ""


def _where(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "reply"


def reply_parse(
    reply: str,
    messages: Sequence[Message],
    *,
    text_problem: Callable[[str], str | None] | None = None,
) -> tuple[list[Candidate], SummaryDraft | None]:
    """The candidates and summary a model's `reply` (the assistant message's text) proposes for
    `messages`, or `_Invalid` whose message lists the faults (at most a few, e.g.
    `observations[0].kind: Input should be 'preference', 'plan', …; observations[1].evidence: 99 is not
    the id of a customer message of this conversation`). The rules are the module docstring's."""
    match = _FENCE.match(reply)
    if match:  # a server that ignored response_format and fenced its JSON
        reply = match.group(1)
    try:
        parsed = _Reply.model_validate_json(reply)
    except ValidationError as error:
        faults = [
            f"{_where(e['loc'])}: {e['msg']}" if e["type"] != "json_invalid" else f"not JSON ({e['msg']})"
            for e in error.errors(include_url=False)[:5]
        ]
        raise _Invalid("; ".join(faults)) from None
    by_id = {m.id: m for m in messages}
    customer = {m.id for m in messages if m.role == "customer"}
    first, last = min(m.at for m in messages), max(m.at for m in messages)
    faults: list[str] = []
    candidates: list[Candidate] = []

    def texts_check(where: str, *texts: str) -> None:
        for text in texts:
            problem = text_problem(text) if text_problem else None
            if problem:
                faults.append(f"{where}: {problem}")
                return

    for n, item in enumerate(parsed.observations):
        where = f"observations[{n}]"
        content = item.content.strip()
        if not content:
            faults.append(f"{where}.content: is empty")
        texts_check(f"{where}.content", content)
        if item.subject and item.subject not in SUBJECT_NAMES:
            faults.append(f'{where}.subject: {item.subject!r} is not one of {", ".join(SUBJECT_NAMES)} or ""')
        outside = [i for i in item.evidence if i not in customer]
        if outside:
            faults.append(
                f"{where}.evidence: {', '.join(map(str, outside))} "
                + ("is not the id" if len(outside) == 1 else "are not ids")
                + " of a customer message of this conversation"
            )
            continue
        evidence = tuple(dict.fromkeys(item.evidence))
        occurred_at = max(by_id[i].at for i in evidence)
        if item.occurredAt is not None:
            try:
                occurred_at = datetime.fromisoformat(item.occurredAt)
            except ValueError:
                faults.append(f"{where}.occurredAt: {item.occurredAt!r} is not an ISO 8601 time")
                continue
            if occurred_at.tzinfo is None:
                faults.append(f"{where}.occurredAt: {item.occurredAt!r} has no UTC offset")
                continue
            if not first <= occurred_at <= last:
                faults.append(
                    f"{where}.occurredAt: {item.occurredAt} is outside the conversation "
                    f"({first.isoformat()} to {last.isoformat()}); it is when the customer said it"
                )
                continue
        if content and not faults:
            candidates.append(Candidate(content, item.kind, evidence, occurred_at, item.subject))
    draft = None
    if parsed.summary is not None:
        summary = parsed.summary
        reason, outcome = summary.reason.strip(), summary.outcome.strip()
        follow_ups = tuple(f.strip() for f in summary.followUps if f.strip())
        if not reason:
            faults.append("summary.reason: is empty (use null for no summary)")
        texts_check("summary", reason, outcome, *follow_ups)
        outside = [i for i in summary.evidence if i not in by_id]
        if outside:
            faults.append(
                f"summary.evidence: {', '.join(map(str, outside))} "
                + ("is not the id" if len(outside) == 1 else "are not ids")
                + " of a message of this conversation"
            )
        draft = SummaryDraft(reason, outcome, follow_ups, tuple(dict.fromkeys(summary.evidence)))
    if faults:
        raise _Invalid("; ".join(faults[:5]) + (f" (and {len(faults) - 5} more)" if len(faults) > 5 else ""))
    return candidates, draft


def conversation_prompt(messages: Sequence[Message]) -> str:
    """The user message: the conversation as JSON, oldest first (`id`, `role`, `at` in ISO 8601 with
    its offset, `channel`, `text`)."""
    rows = [
        {"id": m.id, "role": m.role, "at": m.at.isoformat(), "channel": m.channel, "text": m.text} for m in messages
    ]
    return "The conversation, oldest message first:\n" + json.dumps(rows, ensure_ascii=False, indent=1)


def endpoint_host(base_url: str) -> str:
    """The host (and port) of `base_url`, without any credentials in it: what pages may show."""
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


class LLMExtractor:
    """Extraction by a chat-completions model. `base_url` is the API root the paths hang from (e.g.
    `https://api.openai.com/v1`, `http://localhost:11434/v1`); `api_key` may be empty for a local
    server (a placeholder is sent: the client never falls back to OPENAI_API_KEY); `timeout` is in
    seconds, per call (so at most twice that per extract()). `text_problem(text)` returns why a text
    cannot be stored, or None (the caller's text rule, so that a reply it would refuse is retried)."""

    name = "llm"
    version = "1.0"  # the prompt and reply shape's version

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        text_problem: Callable[[str], str | None] | None = None,
    ):
        if not base_url or not model:
            raise ValueError("the LLM extractor needs a base URL and a model")
        if timeout <= 0:
            raise ValueError("the timeout is a positive number of seconds")
        self.base_url, self.model, self.timeout = base_url, model, float(timeout)
        self.text_problem = text_problem
        import openai  # here, not at the top: the client costs ~0.7 s to import, and most installs never use it

        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=self.timeout, max_retries=0
        )

    def _call(self, chat: list[dict], *, json_mode: bool) -> str:
        openai = self._openai
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=chat,
                temperature=0,
                **({"response_format": {"type": "json_object"}} if json_mode else {}),
            )
        except openai.APITimeoutError:
            raise _Unavailable(f"no answer from {endpoint_host(self.base_url)} within {self.timeout:g} s") from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise _Unavailable(f"could not reach {endpoint_host(self.base_url)}: {_short(cause, 120)}") from None
        except openai.APIStatusError as error:
            refused = error.status_code == 400 and "response_format" in str(error.body or error.message)
            # The provider's own words stay in the server's log: they may name the operator's
            # organisation or a masked key, and the note is shown to every member of the store.
            logger.warning(
                "%s answered HTTP %s: %s", endpoint_host(self.base_url), error.status_code, _status_detail(error)
            )
            raise (_FormatRefused if refused and json_mode else _Unavailable)(
                f"{endpoint_host(self.base_url)} answered HTTP {error.status_code}"
            ) from None
        except openai.OpenAIError as error:
            logger.warning("The LLM endpoint's client failed: %s", error)
            raise _Unavailable(f"{endpoint_host(self.base_url)}: {type(error).__name__}") from None
        try:
            choice = completion.choices[0]
            content, finish = choice.message.content, choice.finish_reason
        except (AttributeError, IndexError, TypeError):
            raise _Unavailable(f"{endpoint_host(self.base_url)} did not answer with a chat completion") from None
        if finish == "length":
            raise _Invalid("the reply was cut off at the model's token limit")
        if not isinstance(content, str) or not content.strip():
            raise _Invalid("the reply was empty")
        return content

    def extract(self, messages: list[Message]) -> tuple[list[Candidate], SummaryDraft | None]:
        """Candidates and a summary for `messages` (see the module docstring), after at most two calls.

        Raises `ExtractorUnavailable` or `ExtractorOutputInvalid` when the second call fails too."""
        if not messages:
            return [], None
        chat: list[dict] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": conversation_prompt(messages)},
        ]
        failure: Exception | None = None
        json_mode = True
        for attempt in (1, 2):
            reply = None
            try:
                reply = self._call(chat, json_mode=json_mode)
                return reply_parse(reply, messages, text_problem=self.text_problem)
            except _Unavailable as error:
                failure = error
                json_mode = json_mode and not isinstance(error, _FormatRefused)
            except _Invalid as error:
                failure = error
                if attempt == 1:  # show the model its reply and what was wrong with it
                    chat += [
                        *([{"role": "assistant", "content": reply}] if reply is not None else []),
                        {
                            "role": "user",
                            "content": (
                                f"That reply is invalid: {error}. Answer again with only the corrected JSON "
                                f"object of the shape {REPLY_SHAPE}."
                            ),
                        },
                    ]
        if isinstance(failure, _Unavailable):
            raise ExtractorUnavailable(_short(f"{failure} (after a retry)"))
        raise ExtractorOutputInvalid(_short(f"invalid reply after a retry: {failure}"))
