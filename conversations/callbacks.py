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
send task on commit; the per-minute schedule sends what is still due (retries) and prunes old
finished deliveries. Sending claims rows so that two workers never send the same attempt; each
request is bounded in time (`DEADLINE_SECONDS`) and in bytes read (`RESPONSE_MAX`), and goes to
public addresses only unless `STATUS_CALLBACKS_PRIVATE_ADDRESSES`.
"""

import contextlib
import contextvars
import functools
import hashlib
import hmac
import http.client
import io
import ipaddress
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
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
TIMEOUT_SECONDS = 5  # per socket operation (connecting, each read)
# Per request, all of it: a receiver trickling its answer a byte at a time is cut off there, and a
# chunk never waits longer for its sends (so a run of `SEND_MAX` ends well within `CLAIM_LEASE`).
DEADLINE_SECONDS = 10
RESPONSE_MAX = 64 * 1024  # bytes read of an answer, headers included; more is a failed attempt
SEND_MAX = 200  # deliveries per run of the sender; the next run (every minute) takes the rest
CLAIM_CHUNK = 20  # claimed, then sent in parallel
SENDERS = CLAIM_CHUNK  # one thread per delivery of a chunk: all start at once, within one deadline
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
    configuration has no URLs. `events`: [(event type, data)] in order. `now`: when the events
    happened (the body's `timestamp`; the server's time when None). The deliveries are always
    created and scheduled on the server's clock, whatever `now` says (a pass's time may come from
    Twilio or a test: a future one must not put the first attempt off)."""
    urls = configuration.status_callback_urls
    if not urls or not events:
        return
    scheduled = timezone.now()
    now = now or scheduled
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
                next_attempt_at=scheduled,
                created_at=scheduled,
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

    try:  # sends only: the per-minute schedule (no arguments) also prunes
        async_task(SEND_TASK, prune=False, task_name=f"status-callbacks-{secrets.token_hex(4)}")
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


class _NotSent(OSError):
    """The connection was refused by this console's settings (a non-public address)."""


class _NoAnswer(TimeoutError):
    """The request's deadline passed."""


@dataclass
class _Limits:
    """One request's bounds: its deadline (`time.monotonic()`), the per-operation timeout, and
    whether non-public addresses are refused (checked on each connection it makes)."""

    url: str
    deadline: float
    seconds: float
    timeout: float
    refuse_private: bool

    def timeout_now(self) -> float:
        """The socket timeout for the next operation: the per-operation one, or what is left."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _NoAnswer(_no_answer(self.seconds))
        return min(self.timeout, left)


def _no_answer(seconds: float) -> str:
    return f"No answer within {seconds:g} s"


class _BoundedReader(io.RawIOBase):
    """The answer's bytes: each read waits at most what is left of the deadline, and at most
    `RESPONSE_MAX` bytes are read in all."""

    def __init__(self, bounded):
        super().__init__()
        self._bounded, self._read = bounded, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = RESPONSE_MAX - self._read
        if left <= 0:
            raise OSError(f"Answer longer than {RESPONSE_MAX // 1024} KiB: not read further")
        sock, limits = self._bounded.sock, self._bounded.limits
        sock.settimeout(limits.timeout_now())
        try:
            count = sock.recv_into(memoryview(buffer)[:left])
        except TimeoutError:
            if time.monotonic() >= limits.deadline:
                raise _NoAnswer(_no_answer(limits.seconds)) from None
            raise
        self._read += count
        return count

    def close(self) -> None:
        if not self.closed:
            super().close()
            if self._bounded.closed:  # the connection let go of the socket first (urllib does)
                self._bounded.sock.close()


class _BoundedSocket:
    """A connected socket (plain or TLS) whose sends and reads keep to the request's `_Limits`.
    Closed when both the connection and the answer's reader have let go of it, as a socket's
    `makefile` would."""

    def __init__(self, sock, limits: _Limits):
        self.sock, self.limits, self.closed, self._reader = sock, limits, False, None

    def makefile(self, mode="rb", *args, **kwargs):
        if mode != "rb":
            raise ValueError(f"Unsupported mode {mode!r}")
        self._reader = _BoundedReader(self)
        return io.BufferedReader(self._reader)

    def sendall(self, data) -> None:
        self.sock.settimeout(self.limits.timeout_now())  # sendall: the timeout bounds it all
        self.sock.sendall(data)

    def close(self) -> None:
        self.closed = True
        if self._reader is None or self._reader.closed:
            self.sock.close()

    def __getattr__(self, name):
        return getattr(self.sock, name)


def _refused_message(host: str, address: str) -> str:
    return (
        f"Not sent: {host} is a private or local address ({address}); this console sends status callbacks "
        "to public addresses only (its setting STATUS_CALLBACKS_PRIVATE_ADDRESSES)"
    )


class _LimitedConnection:
    """Mixed into http.client's connections: each connection it opens is checked (non-public
    addresses refused unless allowed: the address connected to is the one checked, so a DNS answer
    that changes in between cannot slip one through) and its socket keeps to the request's limits."""

    def __init__(self, *args, limits: _Limits, **kwargs):
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._create_connection = self._connection_open

    def _connection_open(self, address, timeout=None, source_address=None):
        host, port = address
        timeout = self._limits.timeout_now()
        if not self._limits.refuse_private:
            return socket.create_connection(address, timeout, source_address)
        target = urlsplit(self._limits.url).hostname
        if host != target:  # a proxy of the environment's: it connects, the URL's host is checked by name
            refused = _address_refused(self._limits.url)
            if refused:
                raise _NotSent(refused)
            return socket.create_connection(address, timeout, source_address)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise _NotSent(f"Not sent: {host} cannot be resolved ({exc})") from None
        for info in infos:
            found = info[4][0]
            if not ipaddress.ip_address(found.split("%", 1)[0]).is_global:
                raise _NotSent(_refused_message(host, found))
        error: OSError = OSError(f"{host} has no address")
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    def connect(self):
        super().connect()
        self.sock = _BoundedSocket(self.sock, self._limits)


class _HTTPConnection(_LimitedConnection, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_LimitedConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(functools.partial(_HTTPConnection, limits=req.limits), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(functools.partial(_HTTPSConnection, limits=req.limits), req, context=self._context)


_opener = urllib.request.build_opener(_NoRedirect, _HTTPHandler, _HTTPSHandler)


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
    """Why `url`'s host may not be sent to, or "": a host that is or resolves to a non-public address
    (loopback, private, link-local, reserved). Used when the environment's proxy connects for us:
    otherwise each connection checks the address it connects to."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        found = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError, UnicodeError) as exc:
        return f"Not sent: {parts.hostname} cannot be resolved ({exc})"
    for address in sorted(found):
        if not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
            return _refused_message(parts.hostname, address)
    return ""


def _post(url: str, body: bytes, headers: dict, timeout: float, deadline: float = DEADLINE_SECONDS) -> _Outcome:
    """POST `body`: each socket operation within `timeout` seconds, all of it within `deadline`
    (connecting, sending, the answer's headers and its first KiB), at most `RESPONSE_MAX` bytes read."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):  # never another scheme, whatever is stored
        return _Outcome(None, "Not an http(s) URL: not sent")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    request.limits = _Limits(
        url=url,
        deadline=time.monotonic() + deadline,
        seconds=deadline,
        timeout=timeout,
        refuse_private=not getattr(settings, "STATUS_CALLBACKS_PRIVATE_ADDRESSES", False),
    )
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
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, _NotSent | _NoAnswer):
            return _Outcome(None, _error_text(str(reason)))
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


def status_callbacks_send(
    *, now=None, limit: int = SEND_MAX, timeout: float = TIMEOUT_SECONDS, deadline: float | None = None
) -> SendCounts:
    """Send the due pending deliveries, oldest first, at most `limit` (the worker's task and its
    per-minute schedule; `now` injectable for tests). A 2xx answer: delivered. Anything else
    (another status, a redirect, no answer within `timeout` seconds for one socket operation or
    within `deadline` seconds, `DEADLINE_SECONDS`, for the whole request): the error is kept and
    the next attempt waits `backoff(attempts)`; after `MAX_ATTEMPTS`, failed.

    Each chunk waits for its sends at most `deadline` (and a second): a send still running then is
    recorded as no answer and left behind (its thread ends at its socket deadline, or its connect
    or DNS timeout), so a stuck receiver never holds the chunk and the rest of the run."""
    now = now or timezone.now()
    deadline = deadline or DEADLINE_SECONDS
    counts = SendCounts()
    sent, stamp = 0, int(now.timestamp())
    while sent < limit:
        chunk = _claim(now, min(CLAIM_CHUNK, limit - sent))
        if not chunk:
            break
        sent += len(chunk)
        pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="status-callbacks")
        try:
            futures = [pool.submit(_post, d.url, d.body.encode(), _headers(d, stamp), timeout, deadline) for d in chunk]
            wait(futures, timeout=deadline + 1)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # never waits for a stuck thread
        for delivery, future in zip(chunk, futures, strict=True):
            _record(delivery, _outcome_of(future, deadline), now, counts)
    return counts


def _outcome_of(future, deadline: float) -> _Outcome:
    if not future.done() or future.cancelled():
        return _Outcome(None, _no_answer(deadline))
    if future.exception() is not None:
        exc = future.exception()
        return _Outcome(None, _error_text(f"{type(exc).__name__}: {exc}"))
    return future.result()


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
PRUNE_MAX = 5000  # per run of the per-minute schedule
URL_REMOVED = "URL removed from the configuration"


def deliveries_cancel_removed(*, configuration: ConversationConfiguration) -> int:
    """The configuration's pending deliveries to URLs it no longer lists are never sent: marked
    failed with `URL_REMOVED` (kept, so the page shows what was not sent and why, and pruned with
    the other finished ones). A send already under way finishes. How many."""
    return (
        CallbackDelivery.objects.filter(configuration=configuration, status=DeliveryStatus.PENDING)
        .exclude(url__in=configuration.status_callback_urls)
        .update(status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=URL_REMOVED)
    )


def deliveries_prune(*, now=None, limit: int = PRUNE_MAX) -> int:
    """Delete delivered and failed deliveries older than `KEEP_DAYS`, at most `limit` a run (the
    per-minute schedule only, not each send task; the partial index `callback_delivery_finished` on
    `created_at` serves it). How many were deleted."""
    now = now or timezone.now()
    old = CallbackDelivery.objects.filter(
        status__in=(DeliveryStatus.DELIVERED, DeliveryStatus.FAILED), created_at__lt=now - timedelta(days=KEEP_DAYS)
    )
    ids = list(old.order_by("created_at").values_list("pk", flat=True)[:limit])
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
