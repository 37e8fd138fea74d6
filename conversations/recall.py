"""Recall (issue 17): what an agent is told about a customer at the start of a conversation, read
from one profile only: its traits, its current observations (ranked by a query, else most recent
first), its conversation summaries (ranked by the query too, else newest first), the latest
communications of its current conversation, and all of it rendered as text ready to paste into a
prompt.

Ranking (docs/ARCHITECTURE.md, "Recall"), no model needed:

- PostgreSQL: full-text search (``websearch_to_tsquery`` over the stored ``content_search``
  tsvector, GIN-indexed, 'english' stemming; its terms OR-ed so one matching word is enough) finds
  the candidates, the best (3 per observation asked, 60 at least; 200 with embeddings) by terms
  then recency are scored with trigram similarity
  (pg_trgm ``word_similarity``), ``score = 0.55 × terms + 0.35 × trigram + 0.10 × recency``:
  `terms` is the share of the query's distinct stems the observation holds, `recency` halves every
  `HALF_LIFE_DAYS` days. When full-text search finds fewer than asked, pg_trgm's ``<%`` (its GIN
  index) adds the observations with words like the query's: misspellings.
- SQLite: FTS5 (porter stemmer, bm25) finds the candidates; ``terms`` is the candidate's bm25 over
  the best one's, trigram is replaced by rapidfuzz's token-set ratio.
- Meaning by subject, both databases: the subjects a query asks about
  (``subjects.query_subjects``: "where does the customer live" → location) add the profile's
  observations of those subjects to the candidates (SQL ``subject = ANY(...)``, index
  observation_profile_subject), and a subject match counts ``SUBJECT_SHARE`` (0.5) of a query
  word: ``terms = (held + 0.5 × subject) / (words + 0.5)``, below any observation holding the
  query's own words. Without subject words in the query, or with a negation (PostgreSQL), as above.
- Summaries are dated, ordered and bounded by ``beginDate``/``endDate`` by when their conversation
  happened (``conversation_at``: its last communication, else its close), not when written.
- Summaries, with a query: the newest ``SUMMARY_CANDIDATES`` holding a query word (SQL), scored
  ``0.55 × terms + 0.35 × rapidfuzz + 0.10 × recency`` in Python, best first; then the newest
  others with score 0 while the limit allows (none when ``relevance_threshold`` is above 0).
- With an embeddings endpoint (conversations.embeddings): the query is embedded and every current
  vector of the profile compared (cosine); ``score = 0.4 × lexical + 0.6 × max(cosine, 0)`` over
  the union of both candidate sets. An endpoint that fails leaves the lexical ranking, and
  ``meta["semantic"]`` says why.

Every score is in [0, 1]; ``relevance_threshold`` drops those below it. Only an observation's
current content is ever read (its revisions, the superseded contents, never are).
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from rapidfuzz import fuzz

from memory_console.jsonvalues import dumps
from memory_console.text import TextError, text_clean
from memory_console.timestamps import TimestampError, timestamp_clean

from . import embeddings
from .extraction.subjects import STOPWORDS, query_subjects, stem
from .models import Communication, Conversation, ConversationStatus, Observation, Summary

QUERY_MAX = 1024  # characters
OBSERVATIONS_DEFAULT, OBSERVATIONS_MAX = 20, 100
SUMMARIES_DEFAULT, SUMMARIES_MAX = 5, 50
COMMUNICATIONS_DEFAULT, COMMUNICATIONS_MAX = 10, 100
HALF_LIFE_DAYS = 90  # recency: an observation this old weighs half as much as one of today
CANDIDATES = 200  # lexical candidates fused with the semantic ones
POOL_FACTOR = 3  # without embeddings: this many lexical candidates per observation asked (60 at least)
WEIGHTS = {"terms": 0.55, "trigram": 0.35, "recency": 0.10}
SEMANTIC_WEIGHT = 0.6  # with embeddings: score = 0.4 × lexical + 0.6 × cosine
# Meaning by subject: an observation of a subject the query asks about (subjects.query_subjects)
# counts as holding this many of the query's words: terms = (stems held + 0.5) / (stems + 0.5).
SUBJECT_SHARE = 0.5
SUMMARY_CANDIDATES = 200  # with a query: summaries read (those holding a query word first), scored one by one
# A query's words that never count as matched for an observation ("how to contact": "to" and "how"
# match nothing): the extraction's STOPWORDS without the words that carry meaning in a question
# ("allergic", "live", "drive", "prefer"…), plus the question words PostgreSQL's 'english' drops.
_MEANINGFUL = "need want like prefer prefers preferred lives live living drives drive allergic allergy looking look"
_QUESTION = {"how", "what", "when", "where", "which", "who", "whom", "why"}
QUERY_STOPWORDS = (STOPWORDS - set(_MEANINGFUL.split())) | _QUESTION


@dataclass(frozen=True)
class RecalledObservation:
    id: int
    content: str
    kind: str
    subject: str
    source: str
    occurred_at: datetime
    updated_at: datetime
    evidence: list[int]  # the communications that support the current content
    score: float | None  # 0-1 when a query ranked it, else None


@dataclass(frozen=True)
class RecalledSummary:
    id: int
    conversation_id: int
    reason: str
    outcome: str
    follow_ups: list[str]
    content: str
    created_at: datetime  # when the summary was written
    score: float | None = None  # 0-1 when a query ranked it, else None
    # When its conversation happened: its last communication, else its close, else `created_at`.
    conversation_at: datetime | None = None


@dataclass(frozen=True)
class RecalledCommunication:
    id: int
    conversation_id: int
    channel: str
    direction: str
    author_name: str
    body: str
    occurred_at: datetime


@dataclass
class RecallResult:
    """What `recall` answers. `meta`: ``query_time`` (ms, float), ``ranking`` (how observations
    were ordered), ``semantic`` ("off", "used" or "failed: <why>"), ``conversation_id`` (the
    current conversation the communications come from, or None)."""

    profile_id: int
    traits: dict
    observations: list[RecalledObservation]
    summaries: list[RecalledSummary]
    communications: list[RecalledCommunication]
    text: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RecallOptions:
    query: str = ""
    observations_limit: int = OBSERVATIONS_DEFAULT
    summaries_limit: int = SUMMARIES_DEFAULT
    communications_limit: int = COMMUNICATIONS_DEFAULT
    begin: datetime | None = None
    end: datetime | None = None
    relevance_threshold: float = 0.0


def recall_options_clean(
    *,
    query=None,
    observations_limit=OBSERVATIONS_DEFAULT,
    summaries_limit=SUMMARIES_DEFAULT,
    communications_limit=COMMUNICATIONS_DEFAULT,
    begin_date=None,
    end_date=None,
    relevance_threshold=None,
) -> RecallOptions:
    """The options checked, or ValidationError naming each bad one by its API name (`query`,
    `observationsLimit`, `summariesLimit`, `communicationsLimit`, `beginDate`, `endDate`,
    `relevanceThreshold`). Limits are whole numbers from 0 (observations and communications at most
    100, summaries 50); dates ISO 8601 (UTC without an offset), `beginDate` inclusive, `endDate`
    exclusive and after it; the threshold a number from 0 to 1; the query text of at most 1,024
    characters (NFC, `memory_console.text.text_clean`), blank meaning none."""
    errors: dict[str, str] = {}

    def whole(name, value, default, top):
        if value is None or value == "":
            return default
        if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            errors[name] = f"The {name} must be a whole number from 0 to {top}."
            return default
        return value

    def moment(name, value):
        if value is None or value == "":
            return None
        try:
            return timestamp_clean(value)
        except TimestampError as error:
            errors[name] = f"The {name} {error.reason}"
            return None

    text = ""
    if query is not None:
        if not isinstance(query, str):
            errors["query"] = "The query must be text."
        else:
            try:
                text = text_clean(query, multiline=True, max_length=QUERY_MAX).strip()
            except TextError as error:
                errors["query"] = f"The query {error}."
    options = {
        "observations_limit": whole("observationsLimit", observations_limit, OBSERVATIONS_DEFAULT, OBSERVATIONS_MAX),
        "summaries_limit": whole("summariesLimit", summaries_limit, SUMMARIES_DEFAULT, SUMMARIES_MAX),
        "communications_limit": whole(
            "communicationsLimit", communications_limit, COMMUNICATIONS_DEFAULT, COMMUNICATIONS_MAX
        ),
        "begin": moment("beginDate", begin_date),
        "end": moment("endDate", end_date),
    }
    if options["begin"] and options["end"] and options["end"] <= options["begin"]:
        errors["endDate"] = "The endDate must be after the beginDate."
    threshold = 0.0
    if relevance_threshold not in (None, ""):
        try:
            if isinstance(relevance_threshold, bool):
                raise ValueError
            threshold = float(relevance_threshold)
            if not 0.0 <= threshold <= 1.0:  # NaN fails this too
                raise ValueError
        except (TypeError, ValueError):
            errors["relevanceThreshold"] = "The relevanceThreshold must be a number from 0 to 1."
            threshold = 0.0
    if errors:
        raise ValidationError(errors)
    return RecallOptions(query=text, relevance_threshold=threshold, **options)


def recall(*, profile, options: RecallOptions | None = None, count: bool = True, now=None) -> RecallResult:
    """Recall for `profile` (a live profile; resolve merged-away ids first). `options`: from
    `recall_options_clean` (defaults without). `count`: add one to the returned observations'
    `recall_count` and stamp `last_recalled_at` (one UPDATE; the console's preview does not count).
    Raises nothing for an unreachable embeddings endpoint: the answer is lexical and
    ``meta["semantic"]`` says why."""
    started = time.perf_counter()
    options = options or RecallOptions()
    now = now or timezone.now()
    meta = {"ranking": "recency", "semantic": "off", "conversation_id": None}
    rows = Observation.objects.filter(profile_id=profile.pk).defer("embedding")  # vectors only when ranking
    if options.begin:
        rows = rows.filter(occurred_at__gte=options.begin)
    if options.end:
        rows = rows.filter(occurred_at__lt=options.end)

    scores: dict[int, float] = {}
    if options.query and options.observations_limit:
        config = embeddings.embeddings_config()
        wanted = CANDIDATES if config is not None else max(POOL_FACTOR * options.observations_limit, 60)
        asked: list[str] = []  # the subjects the ranking counted (none for a negated query)
        lexical = _lexical(profile.pk, options, now, limit=wanted, asked=asked)
        meta["ranking"] = _RANKING.get(connection.vendor, "lexical")
        if connection.vendor == "postgresql" and not _has_trigram():
            meta["ranking"] = "postgresql full-text search + recency (pg_trgm is not installed)"
        if asked:
            meta["ranking"] += f" + subjects ({', '.join(asked)})"
        scores = lexical
        if config is not None:
            try:
                (vector,) = embeddings.embed([options.query], config=config)
            except embeddings.EmbeddingsError as error:
                meta["semantic"] = f"failed: {error}"
            else:
                scores = _fuse(lexical, _semantic(rows, vector, config.model))
                meta["semantic"] = "used"
                meta["ranking"] += f" fused with {config.model} embeddings"
        scores = {pk: round(min(max(score, 0.0), 1.0), 4) for pk, score in scores.items()}  # as answered
        ranked = sorted(
            ((pk, score) for pk, score in scores.items() if score >= options.relevance_threshold and score > 0),
            key=lambda item: -item[1],
        )
        by_id = {o.pk: o for o in rows.filter(pk__in=[pk for pk, _ in ranked[: options.observations_limit * 2]])}
        chosen = [by_id[pk] for pk, _ in ranked if pk in by_id]
        chosen.sort(key=lambda o: (-scores[o.pk], -o.occurred_at.timestamp(), -o.pk))
        chosen = chosen[: options.observations_limit]
    else:
        chosen = list(rows.order_by("-occurred_at", "-id")[: options.observations_limit])

    evidence: dict[int, list[int]] = {o.pk: [] for o in chosen}
    if chosen:
        through = Observation.evidence.through.objects.filter(observation_id__in=list(evidence)).order_by(
            "communication_id"
        )
        for observation_id, communication_id in through.values_list("observation_id", "communication_id"):
            evidence[observation_id].append(communication_id)
    observations = [
        RecalledObservation(
            id=o.pk,
            content=o.content,
            kind=o.kind,
            subject=o.subject,
            source=o.source,
            occurred_at=o.occurred_at,
            updated_at=o.updated_at,
            evidence=evidence[o.pk],
            score=scores.get(o.pk),
        )
        for o in chosen
    ]

    summaries_rows = Summary.objects.filter(profile_id=profile.pk).annotate(conversation_at=_conversation_at())
    if options.begin:
        summaries_rows = summaries_rows.filter(conversation_at__gte=options.begin)
    if options.end:
        summaries_rows = summaries_rows.filter(conversation_at__lt=options.end)
    summary_scores: dict[int, float] = {}
    if options.query and options.summaries_limit:
        summary_rows, summary_scores = _summaries_ranked(summaries_rows, options, now)
    else:
        summary_rows = list(summaries_rows.order_by("-conversation_at", "-id")[: options.summaries_limit])
    summaries = [
        RecalledSummary(
            s.pk,
            s.conversation_id,
            s.reason,
            s.outcome,
            list(s.follow_ups),
            s.content,
            s.created_at,
            summary_scores.get(s.pk),
            conversation_at=s.conversation_at,
        )
        for s in summary_rows
    ]

    communications: list[RecalledCommunication] = []
    current = (
        Conversation.objects.filter(
            profile_id=profile.pk, status__in=[ConversationStatus.OPEN, ConversationStatus.INACTIVE]
        )
        .order_by("-opened_at", "-id")
        .values("pk")[:1]
    )
    if options.communications_limit:  # one statement: the current conversation's latest messages
        latest = Communication.objects.filter(conversation_id=Subquery(current))
        if options.begin:
            latest = latest.filter(occurred_at__gte=options.begin)
        if options.end:
            latest = latest.filter(occurred_at__lt=options.end)
        latest = list(latest.order_by("-occurred_at", "-id")[: options.communications_limit])
        communications = [
            RecalledCommunication(c.pk, c.conversation_id, c.channel, c.direction, c.author_name, c.body, c.occurred_at)
            for c in reversed(latest)  # oldest first, as the conversation reads
        ]
        meta["conversation_id"] = latest[0].conversation_id if latest else None
    if meta["conversation_id"] is None:
        meta["conversation_id"] = current.values_list("pk", flat=True).first()

    if count and observations:
        _count(observations, now)
    result = RecallResult(
        profile_id=profile.pk,
        traits=profile.traits,
        observations=observations,
        summaries=summaries,
        communications=communications,
        text="",
        meta=meta,
    )
    result.text = recall_text(result, ranked=bool(options.query))
    meta["query_time"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _count(observations, now) -> None:
    """One UPDATE: the returned observations' `recall_count` + 1 and `last_recalled_at`. On
    PostgreSQL without waiting for the WAL flush (synchronous_commit off for this transaction):
    a count lost in a crash costs a little pruning order, while waiting costs every recall a disk
    flush."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        Observation.objects.filter(pk__in=[o.id for o in observations]).update(
            recall_count=F("recall_count") + 1, last_recalled_at=now
        )


_RANKING = {
    "postgresql": "postgresql full-text search + trigram similarity + recency",
    "sqlite": "sqlite fts5 (bm25) + rapidfuzz similarity + recency",
}

# The query read once by PostgreSQL: websearch_to_tsquery's form (to see a negation) and its
# distinct stems ('english': "allergies" -> "allergi").
_PG_TERMS = (
    "SELECT websearch_to_tsquery('english', %s)::text, "
    "array(SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', %s)) ORDER BY 1)"
)
TERMS_MAX = 16  # stems of a query counted one by one (a longer query: its first 16)

# Full-text candidates (the GIN index on content_search, or the profile's rows when they are
# few): the query's stems OR-ed (websearch_to_tsquery ANDs them: one matching word is enough to
# be a candidate, more words score higher), or, with a negation (-word), its AND form. `held` is
# how many of the stems the content holds, each one a `@@` on the stored tsvector. When the query
# asks about subjects (and has no negation), the profile's observations of those subjects join the
# pool (index observation_profile_subject, newest first) and count SUBJECT_SHARE of a stem more:
# terms = (held + 0.5 × subject) / (stems + 0.5). The best few are scored with the trigram
# similarity and recency (word_similarity costs ~15 µs a row: only the pool pays it).
_PG_MATCHED = """(
    SELECT o.id, o.content, o.occurred_at, o.subject, ({terms})::float8 AS held
    FROM conversations_observation o
    WHERE o.profile_id = %(profile)s {dates} AND o.content_search @@ %(any)s::tsquery
    ORDER BY held DESC, o.occurred_at DESC, o.id DESC
    LIMIT %(pool)s
)"""
_PG_SUBJECT = """(
    SELECT o.id, o.content, o.occurred_at, o.subject, 0::float8 AS held
    FROM conversations_observation o
    WHERE o.profile_id = %(profile)s {dates} AND o.subject = ANY(%(subjects)s::varchar[]) {unmatched}
    ORDER BY o.occurred_at DESC, o.id DESC
    LIMIT %(pool)s
)"""
_PG_FULL_TEXT = """
WITH pool AS ({pool})
SELECT id, {w_terms} * (held + {share} * (subject = ANY(%(subjects)s::varchar[]))::int) / {count}
    + {w_trigram} * {similarity} + {w_recency} * {recency} AS score
FROM pool
ORDER BY score DESC, occurred_at DESC, id DESC
LIMIT %(limit)s
"""
# Misspellings: when full-text search found fewer than asked, the profile's observations whose
# words are like the query's, as typed (pg_trgm's <% operator, word_similarity >= 0.6; the trigram
# GIN index, or the profile's rows when they are few).
_PG_TRIGRAM = """
SELECT o.id, {w_trigram} * word_similarity(%(phrase)s, o.content) + {w_recency} * {recency} AS score
FROM conversations_observation o
WHERE o.profile_id = %(profile)s {dates} AND %(phrase)s <%% o.content AND NOT (o.id = ANY(%(seen)s))
ORDER BY score DESC, o.occurred_at DESC, o.id DESC
LIMIT %(limit)s
"""
_PG_RECENCY = "power(0.5::float8, greatest(extract(epoch FROM (%(now)s - {t}.occurred_at))::float8, 0) / %(half_life)s)"

_trigram: dict[str, bool] = {}


def _has_trigram() -> bool:
    """Whether pg_trgm is installed in this database (asked once per process and database)."""
    name = connection.settings_dict["NAME"]
    if name not in _trigram:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            _trigram[name] = cursor.fetchone() is not None
    return _trigram[name]


def _lexical(profile_id: int, options: RecallOptions, now, *, limit: int, asked: list[str]) -> dict[int, float]:
    """{observation id: lexical score 0-1} of the best `limit` candidates; `asked` gets the subjects
    the ranking counted (`subjects.query_subjects`; none for a negated query on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return _lexical_postgres(profile_id, options, now, limit=limit, asked=asked)
    if connection.vendor == "sqlite":
        return _lexical_sqlite(profile_id, options, now, limit=limit, asked=asked)
    return _lexical_python(profile_id, options, now, limit=limit, asked=asked)


def _tsquery_term(lexeme: str) -> str:
    """A stem as a tsquery operand: quoted, its quotes and backslashes escaped."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _lexical_postgres(profile_id, options, now, *, limit, asked) -> dict[int, float]:
    trigram = _has_trigram()
    weights = dict(WEIGHTS)
    if not trigram:  # the trigram share goes to the terms
        weights = {"terms": WEIGHTS["terms"] + WEIGHTS["trigram"], "trigram": 0.0, "recency": WEIGHTS["recency"]}
    dates = ""
    if options.begin:
        dates += " AND o.occurred_at >= %(begin)s"
    if options.end:
        dates += " AND o.occurred_at < %(end)s"
    params = {
        "q": " ".join(_content_tokens(options.query)),  # the candidates' trigram similarity: stop words out
        # Misspellings: the whole phrase, as typed ("movng to Denvr" is like "Moving to Denver" whole).
        "phrase": options.query,
        "now": now,
        "half_life": HALF_LIFE_DAYS * 86400.0,
        "profile": profile_id,
        "begin": options.begin,
        "end": options.end,
        "limit": limit,
        "pool": limit,
    }
    scores: dict[int, float] = {}
    with connection.cursor() as cursor:
        cursor.execute(_PG_TERMS, [options.query, options.query])
        strict, lexemes = cursor.fetchone()
        lexemes = list(lexemes or [])[:TERMS_MAX]
        negated = "!" in (strict or "")
        subjects = [] if negated else list(query_subjects(options.query))  # "-dog" is no question about pets
        params["subjects"] = subjects
        asked += subjects
        parts = []
        if lexemes:
            params["any"] = strict if negated else " | ".join(_tsquery_term(lexeme) for lexeme in lexemes)
            for n, lexeme in enumerate(lexemes):
                params[f"l{n}"] = _tsquery_term(lexeme)
            terms = " + ".join(f"(o.content_search @@ %(l{n})s::tsquery)::int" for n in range(len(lexemes)))
            parts.append(_PG_MATCHED.format(terms=terms, dates=dates))
        if subjects:
            unmatched = "AND NOT (o.content_search @@ %(any)s::tsquery)" if lexemes else ""
            parts.append(_PG_SUBJECT.format(dates=dates, unmatched=unmatched))
        if parts:
            sql = _PG_FULL_TEXT.format(
                pool="\n    UNION ALL\n    ".join(parts),
                share=SUBJECT_SHARE,
                count=len(lexemes) + (SUBJECT_SHARE if subjects else 0),
                w_terms=weights["terms"],
                w_trigram=weights["trigram"],
                w_recency=weights["recency"],
                similarity="word_similarity(%(q)s, pool.content)" if trigram and params["q"] else "0",
                recency=_PG_RECENCY.format(t="pool"),
            )
            cursor.execute(sql, params)
            scores = {pk: float(score) for pk, score in cursor.fetchall()}
        if trigram and params["q"] and not negated and len(scores) < options.observations_limit:
            params["seen"] = list(scores)
            sql = _PG_TRIGRAM.format(
                dates=dates,
                w_trigram=weights["trigram"],
                w_recency=weights["recency"],
                recency=_PG_RECENCY.format(t="o"),
            )
            cursor.execute(sql, params)
            scores.update({pk: float(score) for pk, score in cursor.fetchall()})
    return scores


def _tokens(query: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"\w+", query.lower())))


def _recency(occurred_at, now) -> float:
    age = max((now - occurred_at).total_seconds(), 0.0)
    return 0.5 ** (age / (HALF_LIFE_DAYS * 86400.0))


def _blend(terms: float, similar: float, occurred_at, now) -> float:
    return WEIGHTS["terms"] * terms + WEIGHTS["trigram"] * similar + WEIGHTS["recency"] * _recency(occurred_at, now)


_fts_checked: set[str] = set()


def _sqlite_fts_ensure() -> None:
    """The FTS5 triggers of migration 0012, put back (and the index rebuilt) if a later migration
    dropped them: Django rebuilds a table on SQLite for most column changes, and dropping the old
    table drops its triggers. Checked once per process and database."""
    name = str(connection.settings_dict["NAME"])
    if name in _fts_checked:
        return
    migration = importlib.import_module("conversations.migrations.0012_recall")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'conversations_observation_fts_%'"
        )
        if cursor.fetchone()[0] < len(migration.SQLITE_TRIGGERS):
            for sql in migration.SQLITE_TRIGGERS:
                cursor.execute(sql.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1))
            fts = "conversations_observation_fts"
            cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    _fts_checked.add(name)


def _with_subject(terms: float, words: int, subject: bool, asked: bool) -> float:
    """`terms` (0-1 over `words` query words) with a subject match counted as SUBJECT_SHARE of a word
    when the query asks about a subject (`asked`); unchanged when it does not."""
    if not asked:
        return terms
    return (terms * words + SUBJECT_SHARE * subject) / (words + SUBJECT_SHARE)


def _dated(rows, options):
    if options.begin:
        rows = rows.filter(occurred_at__gte=options.begin)
    if options.end:
        rows = rows.filter(occurred_at__lt=options.end)
    return rows


def _lexical_sqlite(profile_id, options, now, *, limit, asked) -> dict[int, float]:
    """FTS5 candidates (`terms`: bm25 over the best one's) and, when the query asks about subjects,
    the newest observations of those subjects (`terms` 0, plus the subject's share)."""
    tokens = _content_tokens(options.query)  # stop words never count as matched ("to")
    subjects = query_subjects(options.query)
    if not tokens and not subjects:
        return {}
    asked += subjects
    words = max(len(tokens), 1)
    ranks: dict[int, float] = {}
    if tokens:
        _sqlite_fts_ensure()
        match = " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)  # every word as a plain term
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT f.rowid, bm25(conversations_observation_fts) FROM conversations_observation_fts f "
                "JOIN conversations_observation o ON o.id = f.rowid "
                "WHERE conversations_observation_fts MATCH %s AND o.profile_id = %s "
                "ORDER BY bm25(conversations_observation_fts) LIMIT %s",
                [match, profile_id, limit * 4],
            )
            ranks = dict(cursor.fetchall())
    rows = list(
        _dated(Observation.objects.filter(pk__in=list(ranks), profile_id=profile_id), options).values_list(
            "pk", "content", "occurred_at", "subject"
        )
    )
    if subjects:  # the index observation_profile_subject, newest first
        by_subject = _dated(Observation.objects.filter(profile_id=profile_id, subject__in=subjects), options)
        by_subject = by_subject.exclude(pk__in=list(ranks)).order_by("-occurred_at", "-id")[:limit]
        rows += list(by_subject.values_list("pk", "content", "occurred_at", "subject"))
    if not rows:
        return {}
    best = min(ranks.values(), default=-1.0) or -1.0  # bm25 is negative, the best the lowest
    scores = {
        pk: _blend(
            _with_subject(ranks[pk] / best if pk in ranks else 0.0, words, subject in subjects, bool(subjects)),
            _similar_words(options.query, content),
            occurred_at,
            now,
        )
        for pk, content, occurred_at, subject in rows
    }
    return dict(sorted(scores.items(), key=lambda item: -item[1])[:limit])


def _similar(query: str, content: str) -> float:
    return fuzz.token_set_ratio(query.lower(), content.lower()) / 100.0


def _content_tokens(query: str) -> list[str]:
    """The query's distinct words, lower case, `QUERY_STOPWORDS` out: those an observation's terms
    and similarity are counted against."""
    return [token for token in _tokens(query) if token not in QUERY_STOPWORDS]


def _similar_words(query: str, content: str) -> float:
    """rapidfuzz's token-set ratio of the query's words, stop words out (`_content_tokens`), to
    `content`, 0-1; 0 for a query of stop words only."""
    words = " ".join(_content_tokens(query))
    return _similar(words, content) if words else 0.0


def _lexical_python(profile_id, options, now, *, limit, asked) -> dict[int, float]:
    """Another database: the terms in plain Python (no stemming) over the profile's observations."""
    tokens = set(_content_tokens(options.query))
    subjects = query_subjects(options.query)
    asked += subjects
    scores = {}
    rows = Observation.objects.filter(profile_id=profile_id)
    for pk, content, occurred_at, subject in rows.values_list("pk", "content", "occurred_at", "subject"):
        share = len(tokens & set(_tokens(content))) / len(tokens) if tokens else 0.0
        if share or subject in subjects:
            terms = _with_subject(share, len(tokens), subject in subjects, bool(subjects))
            scores[pk] = _blend(terms, _similar_words(options.query, content), occurred_at, now)
    return dict(sorted(scores.items(), key=lambda item: -item[1])[:limit])


def _needle(word: str) -> str:
    """What a query word is looked for as in a summary: its stem, the last letter off a long one
    ("allergies" → "allergy" → "allerg", which "allergic" holds too)."""
    stemmed = stem(word)
    return stemmed[:-1] if len(stemmed) > 5 else stemmed


def _conversation_at():
    """When a summary's conversation happened, as an annotation: its last communication's
    `occurred_at`, else the conversation's `closed_at`, else the summary's `created_at`."""
    last = (
        Communication.objects.filter(conversation_id=OuterRef("conversation_id"))
        .order_by("-occurred_at", "-id")
        .values("occurred_at")[:1]
    )
    return Coalesce(Subquery(last), F("conversation__closed_at"), F("created_at"))


def _summaries_ranked(rows, options: RecallOptions, now) -> tuple[list, dict[int, float]]:
    """The summaries of `rows` ranked by the query, in one statement: the newest SUMMARY_CANDIDATES,
    those holding one of its words (case-insensitive containment) first. Each of those is scored as
    an observation is on SQLite, ``0.55 × terms + 0.35 × similarity + 0.10 × recency`` (`terms`:
    the share of the query's words, stop words aside, that start a word of the content;
    `similarity`: rapidfuzz's token-set ratio; `recency` of `conversation_at`, when its conversation happened), best
    first (equals: the newer conversation first). Below them,
    while the limit allows, the newest others with score 0: a previous conversation is context even
    when the query names none of its words (a `relevanceThreshold` above 0 leaves them out, as it
    leaves out matches scored below it). Returns (summaries, {summary id: score})."""
    needles = list(dict.fromkeys(_needle(w) for w in _tokens(options.query) if w not in STOPWORDS and len(w) > 1))
    hit = Value(0, output_field=IntegerField())
    if needles:  # one statement: those holding a query word first (newest first), then the newest others
        anywhere = Q()
        for needle in needles:
            anywhere |= Q(content__icontains=needle)
        hit = Case(When(anywhere, then=Value(1)), default=Value(0), output_field=IntegerField())
    candidates = list(rows.annotate(hit=hit).order_by("-hit", "-conversation_at", "-id")[:SUMMARY_CANDIDATES])
    patterns = [re.compile(r"(?<!\w)" + re.escape(needle), re.IGNORECASE) for needle in needles]
    scores: dict[int, float] = {}
    for s in candidates:
        # A query of stop words or punctuation only ("the", "?") holds no word to look for: no match.
        held = sum(1 for pattern in patterns if pattern.search(s.content)) / len(patterns) if patterns else 0
        if held:
            blended = _blend(held, _similar(options.query, s.content), s.conversation_at, now)
            score = round(min(max(blended, 0.0), 1.0), 4)
            if score >= options.relevance_threshold and score > 0:
                scores[s.pk] = score
    ranked = sorted(
        (s for s in candidates if s.pk in scores),
        key=lambda s: (-scores[s.pk], -s.conversation_at.timestamp(), -s.pk),
    )[: options.summaries_limit]
    if options.relevance_threshold == 0:
        others = [s for s in candidates if s.pk not in scores]
        others.sort(key=lambda s: (-s.conversation_at.timestamp(), -s.pk))
        others = others[: options.summaries_limit - len(ranked)]
        scores |= {s.pk: 0.0 for s in others}
        ranked += others
    return ranked, scores


def _semantic(rows, vector, model: str) -> dict[int, float]:
    """{observation id: max(cosine, 0)} over the profile's current vectors of `model`."""
    current = rows.filter(embedding_model=model, embedded_at__gte=F("updated_at")).exclude(embedding=None)
    return {
        pk: max(embeddings.cosine(vector, embeddings.unpack(data)), 0.0)
        for pk, data in current.values_list("pk", "embedding")
    }


def _fuse(lexical: dict[int, float], semantic: dict[int, float]) -> dict[int, float]:
    return {
        pk: (1 - SEMANTIC_WEIGHT) * lexical.get(pk, 0.0) + SEMANTIC_WEIGHT * semantic.get(pk, 0.0)
        for pk in lexical.keys() | semantic.keys()
    }


def _value(value) -> str:
    return value if isinstance(value, str) else dumps(value)


def recall_text(result: RecallResult, *, ranked: bool) -> str:
    """The answer as plain text for a prompt: traits, observations (with their scores when
    ranked), summaries, then the current conversation's latest messages; dates in UTC."""
    lines = [f"Customer profile #{result.profile_id}"]
    traits = [
        f"- {group}.{name}: {_value(value)}"
        for group, values in sorted(result.traits.items())
        if isinstance(values, dict)
        for name, value in sorted(values.items())
    ]
    lines += ["", "Traits:", *(traits or ["- (none)"])]
    heading = "Observations (most relevant first):" if ranked else "Observations (most recent first):"
    lines += ["", heading]
    for o in result.observations:
        score = f" (score {o.score:.2f})" if o.score is not None else ""
        lines.append(f"- [{o.occurred_at:%Y-%m-%d}] {o.content}{score}")
    if not result.observations:
        lines.append("- (none)")
    lines += ["", "Previous conversations (most relevant first):" if ranked else "Previous conversations:"]
    for s in result.summaries:
        score = f" (score {s.score:.2f})" if s.score is not None else ""
        lines.append(f"- [{(s.conversation_at or s.created_at):%Y-%m-%d}] {s.content}{score}")
    if not result.summaries:
        lines.append("- (none)")
    if result.communications:
        lines += ["", "Current conversation (latest messages):"]
        for c in result.communications:
            who = "Customer" if c.direction == "inbound" else (c.author_name or "Agent")
            lines.append(f"- [{c.occurred_at:%Y-%m-%d %H:%M}] {who}: {c.body}")
    return "\n".join(lines)
