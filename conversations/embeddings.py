"""Semantic recall's vectors (issue 17): observations embedded by an OpenAI-compatible embeddings
endpoint, only when one is configured by environment:

- ``MEMORY_EMBEDDINGS_BASE_URL`` (e.g. ``http://127.0.0.1:11434/v1``) and ``MEMORY_EMBEDDINGS_MODEL``
  (both required to turn it on), ``MEMORY_EMBEDDINGS_API_KEY`` (optional; many local servers
  want none).

The official `openai` client (``OpenAI(base_url=..., api_key=...).embeddings.create``) speaks the
protocol. A vector is stored on its observation (`Observation.embedding`) scaled to length 1, as
little-endian float32, so cosine similarity is a dot product; it is current while
``embedded_at >= updated_at`` (an updated content waits for the next pass). The worker embeds what
is missing or stale after each extraction (`conversations.tasks.extraction_process_task`); the
``embeddings_backfill`` command does the same for everything already stored.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from dataclasses import dataclass

from django.db.models import F, Q
from django.utils import timezone

from .models import Observation

logger = logging.getLogger(__name__)

BATCH = 64  # contents sent in one embeddings request
TIMEOUT = 10.0  # seconds for one request (recall waits at most this long before ranking lexically)


class EmbeddingsError(Exception):
    """The endpoint could not give the vectors (unreachable, an error status, an answer of the
    wrong shape); the message says which."""


@dataclass(frozen=True)
class EmbeddingsConfig:
    base_url: str
    model: str
    api_key: str


def embeddings_config() -> EmbeddingsConfig | None:
    """The configured endpoint, or None when semantic recall is off (base URL or model unset)."""
    base_url = os.environ.get("MEMORY_EMBEDDINGS_BASE_URL", "").strip()
    model = os.environ.get("MEMORY_EMBEDDINGS_MODEL", "").strip()
    if not base_url or not model:
        return None
    # The client refuses to start without a key; a local server ignores it.
    return EmbeddingsConfig(base_url, model, os.environ.get("MEMORY_EMBEDDINGS_API_KEY", "").strip() or "none")


def embed(texts: list[str], *, config: EmbeddingsConfig, timeout: float = TIMEOUT) -> list[list[float]]:
    """One vector per text, in order, scaled to length 1. Raises EmbeddingsError on any failure
    (no retries: recall must answer fast, and the worker's next pass tries again)."""
    from openai import OpenAI

    client = OpenAI(base_url=config.base_url, api_key=config.api_key, timeout=timeout, max_retries=0)
    try:
        answer = client.embeddings.create(model=config.model, input=texts, encoding_format="float")
        data = sorted(answer.data, key=lambda item: item.index)
        vectors = [list(item.embedding) for item in data]
    except Exception as error:  # the client's errors, and an answer it could not read
        # The provider's own words stay in the server's log (they may name the operator's
        # organisation or a masked key); recall's `meta.semantic`, which every API client reads,
        # gets the kind of failure and the HTTP status.
        logger.warning("The embeddings endpoint failed: %s", error)
        status = getattr(error, "status_code", None)
        raise EmbeddingsError(
            f"{type(error).__name__}" + (f" (HTTP {status})" if isinstance(status, int) else "")
        ) from error
    if len(vectors) != len(texts) or any(not v or not all(isinstance(x, int | float) for x in v) for v in vectors):
        raise EmbeddingsError(f"the endpoint answered {len(vectors)} vectors for {len(texts)} texts")
    return [unit(v) for v in vectors]


def unit(vector: list[float]) -> list[float]:
    """`vector` scaled to length 1 (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else [0.0] * len(vector)


def pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(data: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(data) // 4}f", bytes(data))


def cosine(a, b) -> float:
    """The cosine similarity of two unit vectors of the same length (their dot product); 0.0 when
    the lengths differ (vectors of another model)."""
    if len(a) != len(b):
        return 0.0
    return math.fsum(map(float.__mul__, a, b))


def observations_embed_pending(*, limit: int = 2000, profile_id: int | None = None) -> dict:
    """Embed up to `limit` observations without a current vector (never embedded, updated since,
    or embedded by another model), `BATCH` a request. Answers ``{"embedded": n, "error": text}``;
    does nothing (``{"embedded": 0, "error": "not configured"}``) without an endpoint. A failed
    request stops the pass (the rest wait for the next one)."""
    config = embeddings_config()
    if config is None:
        return {"embedded": 0, "error": "not configured"}
    stale = Observation.objects.filter(
        Q(embedded_at__isnull=True) | Q(embedded_at__lt=F("updated_at")) | ~Q(embedding_model=config.model)
    )
    if profile_id is not None:
        stale = stale.filter(profile_id=profile_id)
    rows = list(stale.order_by("id").values_list("pk", "content", "updated_at")[:limit])
    done = 0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        try:
            vectors = embed([content for _, content, _ in chunk], config=config)
        except EmbeddingsError as error:
            logger.warning("Embedding observations failed: %s", error)
            return {"embedded": done, "error": str(error)}
        now = timezone.now()
        for (pk, _, updated_at), vector in zip(chunk, vectors, strict=True):
            # Only if the content is still the one embedded (a concurrent update waits for the next pass).
            done += Observation.objects.filter(pk=pk, updated_at=updated_at).update(
                embedding=pack(vector), embedding_model=config.model, embedded_at=max(now, updated_at)
            )
    return {"embedded": done, "error": ""}
