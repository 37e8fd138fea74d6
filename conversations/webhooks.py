"""Twilio-compatible webhooks: a Twilio number's messaging webhook can point here unchanged.

`POST /webhooks/twilio/messaging` takes Twilio's form fields (`MessageSid`, `From`, `To`, `Body`,
`NumMedia`, `MediaUrl0`..., `ProfileName`; WhatsApp addresses as `whatsapp:+E164`) and answers empty
TwiML. Authentication is Twilio's: `X-Twilio-Signature`, checked with the `twilio` package's
`RequestValidator` against the auth token of a configuration that captures `To` (a number may be
captured in several stores: the configuration whose token validates the signature takes it). A bad
or missing signature answers 403 and stores nothing. A status callback (`MessageStatus` without a
`Body`) and a message to an address no configuration captures are answered 200 with empty TwiML
and not stored (so Twilio does not retry them forever). The URL checked is the one Twilio called:
behind a proxy, Django's `USE_X_FORWARDED_HOST` and `SECURE_PROXY_SSL_HEADER` settings make it so.
`POST /webhooks/twilio/voice` takes a call (`CallSid`) and its status callbacks (`twilio_voice`).
`POST /webhooks/twilio/conversations` takes a Twilio Conversations service's post-event webhook
(`onMessageAdded`, `onConversationStateUpdated`; `twilio_conversations` gives the fields, the rules
and their sources).
Sources: Twilio's webhook security docs (https://www.twilio.com/docs/usage/webhooks/webhooks-security),
Conversations webhooks (https://www.twilio.com/docs/conversations/conversations-webhooks).
"""

import functools
import json
import logging
import re

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, ValidationError
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from memory_console import rawsql
from stores.models import Store

from .capture import WILDCARD, CaptureError, address_normalize, matches, specificity
from .lifecycle import Channel
from .models import CaptureRule, ConversationConfiguration
from .services import (
    MEDIA_MAX,
    TWILIO_SYSTEM_AUTHOR,
    communication_ingest,
    conversation_call_end,
    twilio_conversation_message_ingest,
    twilio_conversation_state_apply,
)

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _readable_form(view):
    """The form body read first: one over Django's limits (`DATA_UPLOAD_MAX_MEMORY_SIZE`, the
    number of fields) is a plain 413 naming the limit, not the framework's error page."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            request.POST  # noqa: B018 (parses the body now)
        except (RequestDataTooBig, TooManyFieldsSent) as exc:
            return HttpResponse(f"The request body is too large: {exc}", status=413, content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapped


def _twiml(status: int = 200) -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml", status=status)


def _candidates(channel: str, to: str):
    """Per store, the configuration capturing `to` (its most specific rule, as
    `configuration_capturing` chooses), in store order. One without a Twilio auth token yet stays
    in the list (`_signed_by` answers 403 saying so): a broader rule of another configuration must
    never take its address instead."""
    best = {}
    patterns = _patterns_taking(to)
    # Every webhook runs this: written by hand (`memory_console.rawsql` says why).
    rows = rawsql.fetch(
        f"SELECT r.pattern, r.store_id, {rawsql.columns(ConversationConfiguration, 'c')}, {rawsql.columns(Store, 's')} "
        f"FROM {CaptureRule._meta.db_table} r "
        f"JOIN {ConversationConfiguration._meta.db_table} c ON c.id = r.configuration_id "
        f"JOIN {Store._meta.db_table} s ON s.id = c.store_id "
        f"WHERE r.channel = %s AND r.pattern IN ({', '.join(['%s'] * len(patterns))}) ORDER BY r.store_id, r.id",
        [channel, *patterns],
        [ConversationConfiguration, Store],
        leading=2,
    )
    for pattern, store_id, configuration, store in rows:
        if not matches(pattern, to):
            continue
        held = best.get(store_id)
        if held is None or specificity(pattern) > specificity(held[0]):
            configuration.store = store
            best[store_id] = (pattern, configuration)
    return [configuration for _, configuration in best.values()]


def _patterns_taking(address: str) -> list[str]:
    """Every pattern that can take `address` (`conversations.capture.matches`): the address, `*`,
    and each of its beginnings then `*`; so the query reads only the rules that can match, not all
    of the channel's rules in every store."""
    return [address, WILDCARD, *(address[:end] + WILDCARD for end in range(1, len(address) + 1))]


def _signed_configuration(request, channel: str, raw_to: str):
    """(configuration, None) for a request signed by the auth token of a configuration capturing
    `raw_to` on `channel`; (None, answer) otherwise: 200 empty TwiML when nobody captures it (logged),
    403 for a missing or wrong signature."""
    try:
        to = address_normalize(channel, raw_to)
    except CaptureError:
        to = None
    configurations = _candidates(channel, to) if to else []
    if not configurations:
        logger.warning("Twilio webhook for %r (%s): no configuration captures it; not stored", raw_to, channel)
        return None, _twiml()
    return _signed_by(request, configurations)


def _signed_by(request, configurations):
    """(the configuration whose Twilio auth token validates the request's `X-Twilio-Signature` on
    the URL Twilio called, None), or (None, 403) when none does, the header is missing, or the
    capturing configurations have no auth token yet (the answer names them; logged)."""
    signature = request.headers.get("X-Twilio-Signature", "")
    url = request.build_absolute_uri()
    tokened = [configuration for configuration in configurations if configuration.twilio_auth_token]
    for configuration in tokened:
        if signature and RequestValidator(configuration.twilio_auth_token).validate(url, request.POST, signature):
            return configuration, None
    if not tokened:
        names = ", ".join(f"“{configuration.name}”" for configuration in configurations)
        logger.warning("Twilio webhook refused: %s captures it but has no Twilio auth token yet", names)
        return None, HttpResponseForbidden(
            f"The conversation configuration {names} captures this address but has no Twilio auth token yet: "
            "set it on the configuration's page (Connect Twilio)."
        )
    return None, HttpResponseForbidden("The X-Twilio-Signature header is missing or does not match.")


def _refused(exc: ValidationError) -> HttpResponse:
    if not hasattr(exc, "error_dict"):
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    return HttpResponse(fields, status=400, content_type="text/plain")


@csrf_exempt
@require_POST
@_readable_form
def twilio_messaging(request):
    """Twilio's incoming-message webhook (SMS, MMS, WhatsApp). See the module docstring."""
    form = request.POST
    raw_to, raw_from = form.get("To", ""), form.get("From", "")
    channel = Channel.WHATSAPP if raw_from.lower().startswith("whatsapp:") else Channel.SMS
    configuration, answer = _signed_configuration(request, channel, raw_to)
    if configuration is None:
        return answer
    if form.get("MessageStatus") and "Body" not in form:
        return _twiml()  # a status callback sent to the incoming URL: nothing to store
    try:
        media_count = int(form.get("NumMedia") or 0)
    except ValueError:
        return HttpResponse("NumMedia must be a whole number.", status=400, content_type="text/plain")
    media = [form.get(f"MediaUrl{n}", "") for n in range(min(max(media_count, 0), MEDIA_MAX))]
    try:
        communication_ingest(
            store=configuration.store,
            channel=channel,
            direction="inbound",
            from_address=raw_from,
            to_address=raw_to,
            body=form.get("Body", ""),
            occurred_at=timezone.now(),
            external_id=form.get("MessageSid", ""),
            author_name=form.get("ProfileName", ""),
            media=[url for url in media if url],
            configuration=configuration,
        )
    except ValidationError as exc:
        return _refused(exc)
    return _twiml()


CALL_ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}


@csrf_exempt
@require_POST
@_readable_form
def twilio_voice(request):
    """Twilio's voice webhook and call status callback: the call (`CallSid`) is a communication of
    a Voice conversation, a transcript (`TranscriptionText`, `TranscriptionSid`) another, and a
    `CallStatus` that ends the call (completed, busy, failed, no-answer, canceled) closes the
    conversation (Voice has no timer: `conversations.lifecycle`). Authenticated as the messaging
    webhook; answers empty TwiML."""
    form = request.POST
    raw_to, raw_from = form.get("To", ""), form.get("From", "")
    configuration, answer = _signed_configuration(request, Channel.VOICE, raw_to)
    if configuration is None:
        return answer
    missing = [name for name in ("CallSid",) if not form.get(name)]
    if form.get("TranscriptionText") and not form.get("TranscriptionSid"):
        missing.append("TranscriptionSid")
    if missing:  # Twilio always sends them; without one a retry would be stored again
        return HttpResponse(f"{missing[0]} is missing.", status=400, content_type="text/plain")
    now = timezone.now()
    try:
        call = communication_ingest(
            store=configuration.store,
            channel=Channel.VOICE,
            direction="inbound",
            from_address=raw_from,
            to_address=raw_to,
            occurred_at=now,
            external_id=form.get("CallSid", ""),
            configuration=configuration,
        )
        if form.get("TranscriptionText"):
            communication_ingest(
                store=configuration.store,
                channel=Channel.VOICE,
                direction="inbound",
                from_address=raw_from,
                to_address=raw_to,
                body=form.get("TranscriptionText", ""),
                occurred_at=now,
                external_id=form.get("TranscriptionSid", ""),
                configuration=configuration,
                into=call.conversation,  # Twilio sends it after the call ended: the call's conversation
            )
    except ValidationError as exc:
        return _refused(exc)
    if form.get("CallStatus", "").lower() in CALL_ENDED and call.conversation.channel == Channel.VOICE:
        # A call that joined another channel's conversation (grouping by addresses or by profile)
        # does not close it: its own timer does.
        conversation_call_end(conversation=call.conversation, at=now)
    return _twiml()


# Twilio Conversations (post-event webhooks of a Conversation Service) -----------------------------

# SIDs are two letters and 32 hexadecimal digits (Twilio's API reference gives each pattern).
_SIDS = {"ChatServiceSid": "IS", "ConversationSid": "CH", "MessageSid": "IM"}
_MEDIA_SID = re.compile(r"ME[0-9a-fA-F]{32}")
# Messages over a messaging binding: their `Source` and the channel they are stored on; any other
# source (SDK, API, ...) is Chat.
_BINDING_CHANNELS = {"SMS": Channel.SMS, "WHATSAPP": Channel.WHATSAPP}
MAX_JSON_CHARS = 32_768  # Attributes and Media: Twilio's own limit on attributes is 16 KiB
# The Media Content Service URL of a Conversations medium (Twilio's Media resource: fetching it, with
# the account's credentials, gives the temporary content link).
MCS_MEDIA_URL = "https://mcs.us1.twilio.com/v1/Services/{service}/Media/{media}"
# What `twilio_conversation_message_ingest` names, as the form field that carried it.
_FORM_FIELDS = {
    "channel": "Source",
    "author": "Author",
    "body": "Body",
    "timestamp": "DateCreated",
    "external_id": "MessageSid",
    "media": "Media",
}


def _empty() -> HttpResponse:
    return HttpResponse(b"", content_type="text/plain")


def _refused_fields(errors: dict[str, str]) -> HttpResponse:
    return HttpResponse(
        "; ".join(f"{name}: {text}" for name, text in errors.items()), status=400, content_type="text/plain"
    )


def _conversations_sids(form) -> tuple[dict[str, str], dict[str, str]]:
    """The SIDs present in the form ({field: sid}, "" when absent) and the errors of malformed ones."""
    sids, errors = {}, {}
    for name, prefix in _SIDS.items():
        value = form.get(name, "")
        if value and not re.fullmatch(rf"{prefix}[0-9a-fA-F]{{32}}", value):
            errors[name] = f"A {name} is {prefix} and 32 hexadecimal characters."
            value = ""
        sids[name] = value
    return sids, errors


def _conversations_signed(request, service_sid: str, conversation_sid: str):
    """(configuration, None) for a request signed by the auth token of the configuration capturing
    the Conversation Service `service_sid` on Chat (per store, its most specific rule), or, when none
    does, of a configuration holding a conversation of `conversation_sid` already (a conversation
    keeps taking its messages and state updates); (None, answer) otherwise: 200 empty when nobody
    takes it (logged), 403 for a missing or wrong signature."""
    configurations = _candidates(Channel.CHAT, service_sid) if service_sid else []
    if not configurations and conversation_sid:
        configurations = list(
            ConversationConfiguration.objects.filter(conversations__twilio_conversation_sid=conversation_sid)
            .exclude(twilio_auth_token="")
            .select_related("store")
            .distinct()
        )
    if not configurations:
        logger.warning(
            "Twilio Conversations webhook for service %r, conversation %r: no configuration captures it; not stored",
            service_sid,
            conversation_sid,
        )
        return None, _empty()
    return _signed_by(request, configurations)


def _named(exc: ValidationError, fields: dict[str, str]) -> dict[str, str]:
    """A service's errors, each under the form field that carried the value."""
    if not hasattr(exc, "error_dict"):
        return {"request": " ".join(exc.messages)}
    return {fields.get(name, name): " ".join(messages) for name, messages in exc.message_dict.items()}


def _service_of(configuration, conversation_sid: str) -> str:
    """The Conversation Service of a conversation already ours (a request without ChatServiceSid)."""
    ours = configuration.conversations.filter(twilio_conversation_sid=conversation_sid).order_by("-id")
    return ours.values_list("business_address", flat=True).first() or ""


def _json_field(form, name: str, default, errors: dict):
    """A form field holding JSON (Twilio sends `Attributes` and `Media` so), `default` when absent."""
    raw = form.get(name, "")
    if not raw.strip():
        return default
    if len(raw) > MAX_JSON_CHARS:
        errors[name] = f"{name} is longer than {MAX_JSON_CHARS:,} characters."
        return default
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        errors[name] = f"{name} must be JSON."
        return default


def _media_urls(media, service_sid: str, errors: dict) -> list[str]:
    """The Media Content Service URLs of a message's media: `Media` is a JSON array of objects, each
    with its media SID (`Sid`; Event Streams call it `MediaSid`), `Filename`, `ContentType`, `Size`."""
    if media is None:
        return []
    if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
        errors["Media"] = "Media must be a JSON array of objects."
        return []
    if len(media) > MEDIA_MAX:
        errors["Media"] = f"A message has at most {MEDIA_MAX} media."
        return []
    sids = [item.get("Sid", item.get("MediaSid")) for item in media]
    if not all(isinstance(sid, str) and _MEDIA_SID.fullmatch(sid) for sid in sids):
        errors["Media"] = "Each medium has a Sid: ME and 32 hexadecimal characters."
        return []
    if sids and not service_sid:
        logger.warning("Twilio Conversations message without ChatServiceSid: its %d media are not linked", len(sids))
        return []
    return [MCS_MEDIA_URL.format(service=service_sid, media=sid) for sid in sids]


def _author_is_customer(author: str, source: str, attributes) -> bool:
    """Whether a message's author is the customer (the rule the `twilio_conversations` docstring
    gives): never `system`; else the message's Attributes `role` ("customer" or "agent") if it says;
    else whether it came over a messaging binding (Source SMS or WHATSAPP)."""
    if author.strip().lower() in ("", TWILIO_SYSTEM_AUTHOR):
        return False
    role = attributes.get("role") if isinstance(attributes, dict) else None
    if role in ("customer", "agent"):
        return role == "customer"
    return source in _BINDING_CHANNELS


@csrf_exempt
@require_POST
@_readable_form
def twilio_conversations(request):
    """Twilio Conversations' post-event webhook of a Conversation Service (Console > Conversations >
    Services > Webhooks, or the service's webhook resource: Post-Event URL
    `https://<console>/webhooks/twilio/conversations`, method POST, events onMessageAdded and
    onConversationStateUpdated). Answers 200 with an empty body; any other `EventType` is ignored
    (logged). Form fields (application/x-www-form-urlencoded):

    - every event: `EventType`, `AccountSid`, `ChatServiceSid` (IS...), `ConversationSid` (CH...),
      `Source` (SMS, WHATSAPP, SDK, API, ...), `ClientIdentity` (SDK events), `RetryCount`.
    - onMessageAdded: `MessageSid` (IM...), `Index`, `Body`, `Author`, `ParticipantSid` (empty for
      a `system` message), `DateCreated` (ISO 8601), `Attributes` (JSON), `Media` (a JSON array of
      `{Sid, Filename, ContentType, Size}`), `MessagingServiceSid`.
    - onConversationStateUpdated: `StateFrom`, `StateTo` (active, inactive, closed), `Reason` (API,
      TIMER, EVENT), `DateUpdated` (Event Streams call it `StateUpdated`; either is read).

    Which configuration: the one capturing the Conversation Service SID (`ChatServiceSid`) as a
    Chat address, per store; its Twilio auth token must validate `X-Twilio-Signature` (several
    stores may capture a service: the one whose token validates takes it; bad or missing: 403,
    nothing stored). A request without a captured service reaches a configuration already holding
    its conversation (`ConversationSid`), else is answered 200 and not stored (logged).

    Who wrote a message (onMessageAdded): `Author` `system` (or empty) is never the customer; else
    the message's `Attributes` decide when they hold `"role": "customer"` or `"role": "agent"` (what
    a web chat or agent client sets); else the author is the customer exactly when the message came
    over a messaging binding (`Source` SMS or WHATSAPP: `Author` is then their `+E164` or
    `whatsapp:+E164`), and an agent for SDK or API messages (Flex and agent desktops write so).
    The customer is resolved to a profile and the message is inbound; an agent's or system message
    is outbound with the author as its author name and never a profile. The channel is `Source`'s
    (SMS, WhatsApp, else Chat); `MessageSid` the external id (stored once); `DateCreated` when it
    happened; media are linked by their Media Content Service URL (`MCS_MEDIA_URL`, fetched with
    the account's credentials) when `ChatServiceSid` is given. The grouping, the conversation's
    customer and an agent writing first: `services.twilio_conversation_message_ingest`.

    onConversationStateUpdated: `StateTo` closed closes ours, inactive makes it Inactive
    (`services.twilio_conversation_state_apply`).

    Refused with 400 naming the field: a malformed SID, a missing `ConversationSid` or `MessageSid`,
    `Attributes` or `Media` not JSON (or over 32,768 characters, or media not as above), an author
    address, body or author name that is not storable text, a `DateCreated`/`DateUpdated` that is not
    a timestamp, an unknown `StateTo`.

    Sources: Twilio's Conversations webhooks reference
    (https://www.twilio.com/docs/conversations/conversations-webhooks), the Conversation Message
    resource (https://www.twilio.com/docs/conversations/api/conversation-message-resource: author
    defaults to `system`, media objects, attributes JSON), the Event Streams schemas of the same
    events (https://www.twilio.com/docs/events/event-types/conversations/message and
    .../conversation-state), the Media resource (https://www.twilio.com/docs/conversations/api/media-resource:
    `https://mcs.us1.twilio.com/v1/Services/{ChatServiceSid}/Media/{Sid}`), and a captured
    onMessageAdded body (Source SMS, Author `+44...`, Attributes `{}`, RetryCount).
    """
    form = request.POST
    sids, errors = _conversations_sids(form)
    if errors:
        return _refused_fields(errors)
    service_sid, conversation_sid = sids["ChatServiceSid"], sids["ConversationSid"]
    configuration, answer = _conversations_signed(request, service_sid, conversation_sid)
    if configuration is None:
        return answer
    event = form.get("EventType", "")
    if event not in ("onMessageAdded", "onConversationStateUpdated"):
        logger.info("Twilio Conversations webhook %r: not an event we take; ignored", event[:64])
        return _empty()
    if not conversation_sid:
        return _refused_fields({"ConversationSid": f"{event} carries the conversation's SID (CH...)."})
    if event == "onConversationStateUpdated":
        try:
            twilio_conversation_state_apply(
                configuration=configuration,
                conversation_sid=conversation_sid,
                state=form.get("StateTo", ""),
                at=form.get("DateUpdated") or form.get("StateUpdated") or None,
            )
        except ValidationError as exc:
            return _refused_fields(_named(exc, {"state": "StateTo", "timestamp": "DateUpdated"}))
        return _empty()
    if not sids["MessageSid"]:
        return _refused_fields({"MessageSid": "onMessageAdded carries the message's SID (IM...)."})
    source = form.get("Source", "").strip().upper()
    attributes = _json_field(form, "Attributes", {}, errors)
    media = _media_urls(_json_field(form, "Media", None, errors), service_sid, errors)
    if errors:
        return _refused_fields(errors)
    author = form.get("Author", "")
    try:
        twilio_conversation_message_ingest(
            configuration=configuration,
            conversation_sid=conversation_sid,
            service_sid=service_sid or _service_of(configuration, conversation_sid),
            channel=_BINDING_CHANNELS.get(source, Channel.CHAT),
            author=author,
            from_customer=_author_is_customer(author, source, attributes),
            body=form.get("Body", ""),
            occurred_at=form.get("DateCreated") or None,
            external_id=sids["MessageSid"],
            media=media,
        )
    except ValidationError as exc:
        return _refused_fields(_named(exc, _FORM_FIELDS))
    return _empty()
