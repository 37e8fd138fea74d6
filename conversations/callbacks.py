"""Status callbacks: each conversation created or updated (a status change: Inactive, Closed,
reopened) and each communication created is POSTed as JSON to the configuration's URLs by the
worker, signed, with retries and backoff; every delivery and its outcome is kept
(`CallbackDelivery`) and shown on the configuration's page.

What a receiver gets (README.md, "Status callbacks", shows how to verify it):

- body ``{"eventType": "conversation.created" | "conversation.updated" | "communication.created",
  "timestamp": ISO 8601 UTC, "data": {...}}``, the conversation as the API's `ConversationOut` or the
  communication as the API's `CommunicationOut`;
- ``X-Memory-Console-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``;
- ``X-Memory-Console-Delivery: <id>``, the same on every attempt of a delivery: receivers dedupe on it
  (delivery is at least once: a worker stopped mid-send sends again after `CLAIM_LEASE`).

Queueing (`status_callbacks_queue`) writes the deliveries in the caller's transaction and queues one
send task on commit; the per-minute schedule sends what is still due (retries). Sending claims rows
so that two workers never send the same attempt.
"""

import contextlib
import contextvars
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from memory_console.text import TextError, text_clean

from .models import CallbackDelivery, Communication, Conversation, ConversationConfiguration, DeliveryStatus

logger = logging.getLogger(__name__)

URLS_MAX = 20
URL_MAX_LENGTH = 2048
SIGNATURE_HEADER = "X-Memory-Console-Signature"
DELIVERY_HEADER = "X-Memory-Console-Delivery"
USER_AGENT = "MemoryConsole/1.0 (status callbacks)"
SEND_TASK = "conversations.tasks.status_callbacks_send_task"

CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
COMMUNICATION_CREATED = "communication.created"

MAX_ATTEMPTS = 8  # then `failed`
BACKOFF_CAP = timedelta(hours=1)
TIMEOUT_SECONDS = 5
SEND_MAX = 200  # deliveries per run of the sender; the next run (every minute) takes the rest
CLAIM_CHUNK = 20  # claimed, then sent in parallel
SENDERS = 8  # threads sending one claimed chunk
# A claimed delivery is not due again before this (a worker stopped mid-send: it is sent again).
CLAIM_LEASE = timedelta(minutes=5)
ERROR_MAX = 255


class CallbackUrlError(ValueError):
    """The status callback URLs cannot be stored; the message names the URL (by position)."""


def secret_new() -> str:
    """A new signing secret (256 random bits)."""
    return "mcsec_" + secrets.token_urlsafe(32)


def _shown(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."


def urls_clean(urls) -> list[str]:
    """The status callback URLs as stored: a list of at most `URLS_MAX` http(s) URLs, each text by
    the one text rule (NFC; no control character), trimmed, at most 2,048 characters, with a host and
    no user name or password in it, none twice. CallbackUrlError naming the URL otherwise."""
    if urls is None:
        return []
    if not isinstance(urls, list | tuple):
        raise CallbackUrlError("Status callbacks must be a list of URLs.")
    if len(urls) > URLS_MAX:
        raise CallbackUrlError(f"At most {URLS_MAX} status callback URLs: {len(urls)} were given.")
    cleaned: list[str] = []
    for number, url in enumerate(urls, start=1):
        if not isinstance(url, str):
            raise CallbackUrlError(f"Status callback URL {number} must be text.")
        try:
            url = text_clean(url, max_length=None).strip()
        except TextError as exc:
            raise CallbackUrlError(f"Status callback URL {number} {exc.reason}.") from None
        if len(url) > URL_MAX_LENGTH:
            raise CallbackUrlError(f"Status callback URL {number} is longer than {URL_MAX_LENGTH:,} characters.")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 -- ValueError when the port is not a number
        except ValueError:
            raise CallbackUrlError(f"Status callback URL {number} ({_shown(url)}) is not a valid URL.") from None
        if parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in url):
            raise CallbackUrlError(
                f"Status callback URL {number} ({_shown(url)}) must be an http:// or https:// URL with a host."
            )
        if parts.username is not None or parts.password is not None:
            raise CallbackUrlError(
                f"Status callback URL {number} holds a user name or password: the signature authenticates "
                "us to your receiver, leave credentials out of the URL."
            )
        if url in cleaned:
            raise CallbackUrlError(f"Status callback URL {number} ({_shown(url)}) is given twice.")
        cleaned.append(url)
    return cleaned


# -- events ------------------------------------------------------------------------------------


def conversation_data(c: Conversation) -> dict:
    """A conversation as the API's `ConversationOut` shows it."""
    return {
        "id": c.pk,
        "configuration_id": c.configuration_id,
        "status": c.status,
        "channel": c.channel,
        "customer_address": c.customer_address,
        "business_address": c.business_address,
        "profile_id": c.profile_id,
        "opened_at": c.opened_at,
        "last_customer_at": c.last_customer_at,
        "inactive_at": c.inactive_at,
        "closed_at": c.closed_at,
        "twilio_conversation_sid": c.twilio_conversation_sid,
    }


def communication_data(c: Communication) -> dict:
    """A communication as the API's `CommunicationOut` shows it."""
    return {
        "id": c.pk,
        "conversation_id": c.conversation_id,
        "channel": c.channel,
        "direction": c.direction,
        "from": c.from_address,
        "to": c.to_address,
        "author_name": c.author_name,
        "body": c.body,
        "media": c.media,
        "external_id": c.external_id,
        "timestamp": c.occurred_at,
    }


def events_of(pairs) -> list[tuple[str, dict]]:
    """[(event type, data)] of [(event type, conversation or communication)]."""
    return [
        (event, conversation_data(obj) if isinstance(obj, Conversation) else communication_data(obj))
        for event, obj in pairs
    ]


def conversations_updated_queue(*, configuration: ConversationConfiguration, ids: list[int], now) -> None:
    """`conversation.updated` for each conversation of `ids` (moved by the lifecycle worker, in its
    transaction): one query for their new state, one to write the deliveries."""
    if not configuration.status_callback_urls or not ids:
        return
    moved = Conversation.objects.filter(pk__in=ids).order_by("pk")
    status_callbacks_queue(
        configuration=configuration, events=[(CONVERSATION_UPDATED, conversation_data(c)) for c in moved], now=now
    )


def event_body(event_type: str, data: dict, at) -> str:
    """The JSON a receiver gets, serialized once: what is stored is what is signed and sent."""
    payload = {"eventType": event_type, "timestamp": at, "data": data}
    return orjson.dumps(payload, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC).decode()


def status_callbacks_queue(*, configuration: ConversationConfiguration, events: list[tuple[str, dict]], now=None):
    """Write one pending delivery per event and URL of `configuration` (in the caller's transaction:
    rolled back with it) and queue one send task once it commits. Nothing, and no query, when the
    configuration has no URLs. `events`: [(event type, data)] in order."""
    urls = configuration.status_callback_urls
    if not urls or not events:
        return
    now = now or timezone.now()
    deliveries = []
    for event_type, data in events:
        body = event_body(event_type, data, now)
        deliveries += [
            CallbackDelivery(
                store_id=configuration.store_id,
                configuration_id=configuration.pk,
                url=url,
                event_type=event_type,
                body=body,
                next_attempt_at=now,
                created_at=now,
            )
            for url in urls
        ]
    CallbackDelivery.objects.bulk_create(deliveries)
    transaction.on_commit(_send_task_queue)


_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("status_callbacks_batch", default=None)


@contextlib.contextmanager
def status_callbacks_batch():
    """Within it (a batch of writes, each in its own transaction, e.g. the API's 1,000
    communications), the send task is queued once, at the end, instead of once per write."""
    token = _batch.set([])
    try:
        yield
    finally:
        wanted = _batch.get()
        _batch.reset(token)
        if wanted:
            _send_task_queue()


def _send_task_queue():
    """Runs after the commit: a queue that cannot take the task must not fail the write that is
    already stored (the per-minute schedule sends the deliveries then)."""
    from django_q.tasks import async_task

    batch = _batch.get()
    if batch is not None:
        batch.append(True)  # `status_callbacks_batch` queues it once, at its end
        return

    try:
        async_task(SEND_TASK, task_name=f"status-callbacks-{secrets.token_hex(4)}")
    except Exception:
        logger.warning("Could not queue the status callbacks task; the schedule sends them", exc_info=True)


# -- sending -----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: str) -> str:
    """The `X-Memory-Console-Signature` value of `body` sent at unix time `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(attempts: int) -> timedelta:
    """The wait after failed attempt number `attempts` (1, 2, 4, 8... minutes, at most an hour)."""
    return min(timedelta(minutes=2 ** (attempts - 1)), BACKOFF_CAP)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx: never followed (it could lead anywhere)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class _Outcome:
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _error_text(text: str) -> str:
    """What a receiver or the network said, as storable short text: what does not print (NUL, a
    control character a reason phrase or Location may carry) as "?", at most `ERROR_MAX`."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))[:ERROR_MAX]


def _address_refused(url: str) -> str:
    """Why `url` may not be sent to, or "": with `STATUS_CALLBACKS_PRIVATE_ADDRESSES` off, a host
    that is or resolves to a non-public address (loopback, private, link-local, reserved). Checked
    just before sending; a DNS answer that changes in between is not caught."""
    if getattr(settings, "STATUS_CALLBACKS_PRIVATE_ADDRESSES", True):
        return ""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        found = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError, UnicodeError) as exc:
        return f"Not sent: {parts.hostname} cannot be resolved ({exc})"
    for address in sorted(found):
        if not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
            return f"Not sent: {parts.hostname} is a non-public address ({address}), refused by this console's settings"
    return ""


def _post(url: str, body: bytes, headers: dict, timeout: float) -> _Outcome:
    if urlsplit(url).scheme.lower() not in ("http", "https"):  # never another scheme, whatever is stored
        return _Outcome(None, "Not an http(s) URL: not sent")
    refused = _address_refused(url)
    if refused:
        return _Outcome(None, _error_text(refused))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
            return _Outcome(response.status, "")
    except urllib.error.HTTPError as exc:
        code = exc.code
        location = exc.headers.get("Location", "") if exc.headers else ""
        exc.close()
        if 300 <= code < 400:
            return _Outcome(code, _error_text(f"Redirect to {location or 'elsewhere'} not followed"))
        return _Outcome(code, _error_text(f"HTTP {code} {exc.reason}"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return _Outcome(None, _error_text(f"{type(exc).__name__}: {reason}"))


@dataclass
class SendCounts:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def _due(now):
    return CallbackDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "id"
    )


def _claim(now, size: int) -> list[CallbackDelivery]:
    """Up to `size` due deliveries, oldest first, taken by this worker: their next attempt moved
    `CLAIM_LEASE` on, so another worker passes them by. PostgreSQL: locked rows skipped; SQLite
    (one writer at a time): a conditional UPDATE per row, which only one worker wins."""
    lease = now + CLAIM_LEASE
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(_due(now).select_for_update(skip_locked=True).values_list("pk", flat=True)[:size])
            CallbackDelivery.objects.filter(pk__in=ids).update(next_attempt_at=lease)
    else:
        ids = [
            pk
            for pk, seen in _due(now).values_list("pk", "next_attempt_at")[:size]
            if CallbackDelivery.objects.filter(pk=pk, status=DeliveryStatus.PENDING, next_attempt_at=seen).update(
                next_attempt_at=lease
            )
        ]
    return list(
        CallbackDelivery.objects.filter(pk__in=ids).select_related("configuration").order_by("created_at", "id")
    )


def status_callbacks_send(*, now=None, limit: int = SEND_MAX, timeout: float = TIMEOUT_SECONDS) -> SendCounts:
    """Send the due pending deliveries, oldest first, at most `limit` (the worker's task and its
    per-minute schedule; `now` injectable for tests). A 2xx answer: delivered. Anything else
    (another status, a redirect, no answer within `timeout` seconds): the error is kept and the next
    attempt waits `backoff(attempts)`; after `MAX_ATTEMPTS`, failed."""
    now = now or timezone.now()
    counts = SendCounts()
    sent, stamp = 0, int(now.timestamp())
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        while sent < limit:
            chunk = _claim(now, min(CLAIM_CHUNK, limit - sent))
            if not chunk:
                break
            sent += len(chunk)
            outcomes = pool.map(lambda d: _post(d.url, d.body.encode(), _headers(d, stamp), timeout), chunk)
            for delivery, outcome in zip(chunk, outcomes, strict=True):
                _record(delivery, outcome, now, counts)
    return counts


def _headers(delivery: CallbackDelivery, stamp: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: signature(delivery.configuration.status_callback_secret, stamp, delivery.body),
    }


def _record(delivery: CallbackDelivery, outcome: _Outcome, now, counts: SendCounts) -> None:
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.ok:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        counts.delivered += 1
    elif attempts >= MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        counts.failed += 1
    else:
        fields.update(next_attempt_at=now + backoff(attempts))
        counts.retrying += 1
    # Only while still ours: pending with the attempts we read (a duplicate claim after a lease
    # ran out changes nothing twice).
    CallbackDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts).update(
        **fields
    )


KEEP_DAYS = 30  # delivered and failed deliveries are kept this long
PRUNE_MAX = 5000  # per run of the sender


def deliveries_prune(*, now=None, limit: int = PRUNE_MAX) -> int:
    """Delete delivered and failed deliveries older than `KEEP_DAYS`, at most `limit` a run (the
    oldest come first in id order, so the scan stops early). How many were deleted."""
    now = now or timezone.now()
    old = CallbackDelivery.objects.filter(
        status__in=(DeliveryStatus.DELIVERED, DeliveryStatus.FAILED), created_at__lt=now - timedelta(days=KEEP_DAYS)
    )
    ids = list(old.order_by("id").values_list("pk", flat=True)[:limit])
    return CallbackDelivery.objects.filter(pk__in=ids).delete()[0] if ids else 0


# -- reading -----------------------------------------------------------------------------------


def deliveries_latest(
    *, configuration: ConversationConfiguration, size: int = 50, before_id: int | None = None, with_body: bool = False
):
    """The configuration's deliveries, newest first (`before_id`: keyset page)."""
    rows = CallbackDelivery.objects.filter(configuration=configuration).order_by("-id")
    if not with_body:
        rows = rows.defer("body")
    if before_id is not None:
        rows = rows.filter(pk__lt=min(before_id, 2**63 - 1))  # a bigger one is no error, the first page
    return list(rows[:size])
