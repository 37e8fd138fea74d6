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
Source: Twilio's webhook security docs (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
"""

import logging

from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from .capture import WILDCARD, CaptureError, address_normalize, matches, specificity
from .lifecycle import Channel
from .models import CaptureRule
from .services import communication_ingest, conversation_call_end

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10  # Twilio sends at most 10 media per message


def _twiml(status: int = 200) -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml", status=status)


def _candidates(channel: str, to: str):
    """Per store, the configuration capturing `to` (the most specific rule), if it has a token."""
    best = {}
    rules = CaptureRule.objects.filter(channel=channel, pattern__in=_patterns_taking(to))
    for rule in rules.select_related("configuration", "configuration__store"):
        if not matches(rule.pattern, to) or not rule.configuration.twilio_auth_token:
            continue
        held = best.get(rule.store_id)
        if held is None or specificity(rule.pattern) > specificity(held.pattern):
            best[rule.store_id] = rule
    return [rule.configuration for rule in best.values()]


def _patterns_taking(address: str) -> list[str]:
    """Every pattern that can take `address` (`conversations.capture.matches`): the address, `*`,
    and each of its beginnings then `*`; so the query reads only the rules that can match, not all
    of the channel's rules in every store."""
    return [address, WILDCARD, *(address[:end] + WILDCARD for end in range(1, len(address) + 1))]


def _signed_configuration(request, channel: str, raw_to: str):
    """(configuration, None) for a request signed by the auth token of a configuration capturing
    `raw_to` on `channel`; (None, answer) otherwise: 200 empty TwiML when nobody captures it (logged),
    403 for a missing or wrong signature."""
    signature = request.headers.get("X-Twilio-Signature", "")
    try:
        to = address_normalize(channel, raw_to)
    except CaptureError:
        to = None
    configurations = _candidates(channel, to) if to else []
    if not configurations:
        logger.warning("Twilio webhook for %r (%s): no configuration captures it; not stored", raw_to, channel)
        return None, _twiml()
    url = request.build_absolute_uri()
    for configuration in configurations:
        if signature and RequestValidator(configuration.twilio_auth_token).validate(url, request.POST, signature):
            return configuration, None
    return None, HttpResponseForbidden("The X-Twilio-Signature header is missing or does not match.")


def _refused(exc: ValidationError) -> HttpResponse:
    fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    return HttpResponse(fields, status=400, content_type="text/plain")


@csrf_exempt
@require_POST
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
    media = [form.get(f"MediaUrl{n}", "") for n in range(min(max(media_count, 0), MAX_MEDIA))]
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
    if form.get("CallStatus", "").lower() in CALL_ENDED:
        conversation_call_end(conversation=call.conversation, at=now)
    return _twiml()
