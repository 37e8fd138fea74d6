"""Conversation configurations over the JSON API: list, create, get, patch, delete. The request
fields are `conversations.services.ConfigurationInput`'s (captures as ``[{"channel", "address"}]``);
answers carry each channel's effective timeout and why."""

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ConfigDict, Field, field_validator

from identity.models import Identifier
from identity.normalization import identifier_reference
from memory_console.errors import error_items
from memory_console.jsonvalues import loads
from memory_console.openapi import VALIDATION_SCHEMA
from memory_console.timestamps import TimestampError, timestamp_clean
from profiles.selectors import profile_resolve
from stores.api import api_store

from . import callbacks, memory_services, services
from . import recall as recall_reads
from .lifecycle import Channel, Grouping, Lifecycle
from .memory_selectors import observation_get, observations_page, summaries_page
from .models import Communication, Conversation, ConversationConfiguration, ConversationStatus
from .selectors import configuration_list, configuration_timeouts, conversation_agents, conversations_page

router = Router(tags=["Conversation configurations"])


class CaptureIO(Schema):
    channel: str
    address: str


class EffectiveTimeout(Schema):
    channel: str
    minutes: int | None
    text: str
    why: str


class ConfigurationOut(Schema):
    id: int
    name: str
    description: str
    lifecycle: str
    inactivity_minutes: int | None
    timeout_minutes: int | None
    grouping: str
    observations_enabled: bool
    captures: list[CaptureIO]
    effective_timeouts: list[EffectiveTimeout]
    twilio_auth_token_hint: str = Field(
        description="The Twilio auth token's last four characters (…ab12), empty while none is set: Twilio's "
        "webhooks to this configuration's addresses are refused until one is (PUT …/twilio-auth-token)"
    )

    status_callback_urls: list[str] = Field(description="Where status callbacks are POSTed (at most 20)")
    status_callback_secret_set: bool = Field(description="Whether a signing secret exists (it is never shown again)")

    @staticmethod
    def resolve_status_callback_secret_set(obj):
        return bool(obj.status_callback_secret)

    @staticmethod
    def resolve_captures(obj):
        return [{"channel": rule.channel, "address": rule.pattern} for rule in obj.captures.all()]

    @staticmethod
    def resolve_effective_timeouts(obj):
        return [
            {"channel": channel, "minutes": t.minutes, "text": t.text, "why": t.why}
            for channel, t in configuration_timeouts(configuration=obj).items()
        ]


class ConfigurationIn(Schema):
    name: str
    description: str = ""
    lifecycle: str = Lifecycle.BASIC.value
    inactivity_minutes: int | None = None
    timeout_minutes: int | None = None
    grouping: str = Grouping.ADDRESSES_CHANNEL.value
    observations_enabled: bool = False
    captures: list[CaptureIO] = []
    status_callback_urls: list[str] = Field(
        default=[], description="At most 20 http(s) URLs that get the status callbacks; the first brings a secret"
    )


class ConfigurationWithSecret(ConfigurationOut):
    status_callback_secret: str | None = Field(
        description="The status callbacks' signing secret, only in the answer that made it (else null): keep it"
    )

    @staticmethod
    def resolve_status_callback_secret(obj):
        return getattr(obj, "new_status_callback_secret", None)


class ConfigurationPatch(Schema):
    """Only the fields sent change; `captures`, when sent, replaces every capture rule."""

    name: str | None = None
    description: str | None = None
    lifecycle: str | None = None
    inactivity_minutes: int | None = None
    timeout_minutes: int | None = None
    grouping: str | None = None
    observations_enabled: bool | None = None
    captures: list[CaptureIO] | None = None
    status_callback_urls: list[str] | None = None


def _input(payload) -> services.ConfigurationInput:
    data = payload.dict()
    data["captures"] = [(c["channel"], c["address"]) for c in data["captures"]]
    return services.ConfigurationInput(**data)


def _configuration(request, store_id, configuration_id) -> ConversationConfiguration:
    return get_object_or_404(
        ConversationConfiguration.objects.prefetch_related("captures"),
        pk=configuration_id,
        store=api_store(request, store_id),
    )


@router.get(
    "/{store_id}/conversation-configurations",
    response=list[ConfigurationOut],
    summary="List conversation configurations",
)
def list_configurations(request, store_id: int):
    return list(configuration_list(store=api_store(request, store_id)))


@router.post(
    "/{store_id}/conversation-configurations",
    response={201: ConfigurationWithSecret},
    summary="Create a conversation configuration",
)
def create_configuration(request, store_id: int, payload: ConfigurationIn):
    store = api_store(request, store_id)
    configuration = services.conversation_configuration_create(store=store, actor=request.auth, data=_input(payload))
    return Status(201, configuration)


@router.get(
    "/{store_id}/conversation-configurations/{configuration_id}",
    response=ConfigurationOut,
    summary="Get a conversation configuration",
)
def get_configuration(request, store_id: int, configuration_id: int):
    return _configuration(request, store_id, configuration_id)


@router.patch(
    "/{store_id}/conversation-configurations/{configuration_id}",
    response=ConfigurationWithSecret,
    summary="Change a conversation configuration (observations may be turned on or off at any time)",
)
def update_configuration(request, store_id: int, configuration_id: int, payload: ConfigurationPatch):
    configuration = _configuration(request, store_id, configuration_id)
    current = services.ConfigurationInput.of(configuration)
    sent = payload.dict(exclude_unset=True)
    for name in ("captures", "status_callback_urls", "name", "lifecycle", "grouping", "observations_enabled"):
        if name in sent and sent[name] is None:  # null is not "remove them all" nor "the default": say so
            raise ValidationError({name: f"{name} cannot be null: leave it out to keep it, or send a value."})
    for name, value in sent.items():
        if name == "captures":
            value = [(c["channel"], c["address"]) for c in value]
        setattr(current, name, value)
    if current.lifecycle != Lifecycle.INACTIVE and "inactivity_minutes" not in sent:
        current.inactivity_minutes = None  # turning the Inactive state off drops its period with it
    updated = services.conversation_configuration_update(configuration=configuration, actor=request.auth, data=current)
    answer = _configuration(request, store_id, configuration_id)
    answer.new_status_callback_secret = updated.new_status_callback_secret  # the first URL's, once
    return answer


class SecretOut(Schema):
    status_callback_secret: str = Field(description="The new signing secret: shown this once, keep it")


@router.post(
    "/{store_id}/conversation-configurations/{configuration_id}/status-callback-secret",
    response=SecretOut,
    summary="Rotate the status callbacks' signing secret (the new one is in this answer only)",
)
def rotate_callback_secret(request, store_id: int, configuration_id: int):
    configuration = _configuration(request, store_id, configuration_id)
    return {
        "status_callback_secret": services.status_callback_secret_rotate(
            configuration=configuration, actor=request.auth
        )
    }


class DeliveryOut(Schema):
    id: int = Field(description="Sent as X-Memory-Console-Delivery, the same on every attempt")
    event_type: str
    url: str
    status: str = Field(description="`pending` (to be sent or retried), `delivered` (2xx) or `failed` (8 attempts)")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    body: str = Field(description="The JSON sent, exactly as signed")


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page; null on the last")


DELIVERIES_PAGE = 50


@router.get(
    "/{store_id}/conversation-configurations/{configuration_id}/deliveries",
    response=DeliveryPage,
    summary="The configuration's status callback deliveries and their outcomes, newest first",
)
def list_deliveries(request, store_id: int, configuration_id: int, before_id: int | None = None):
    configuration = get_object_or_404(
        ConversationConfiguration, pk=configuration_id, store=api_store(request, store_id)
    )
    rows = callbacks.deliveries_latest(
        configuration=configuration, size=DELIVERIES_PAGE + 1, before_id=before_id, with_body=True
    )
    items = rows[:DELIVERIES_PAGE]
    return {"items": items, "next_before_id": items[-1].pk if len(rows) > DELIVERIES_PAGE else None}


@router.delete(
    "/{store_id}/conversation-configurations/{configuration_id}",
    response={204: None},
    summary="Delete a conversation configuration",
)
def delete_configuration(request, store_id: int, configuration_id: int):
    configuration = _configuration(request, store_id, configuration_id)
    services.conversation_configuration_delete(configuration=configuration, actor=request.auth)
    return Status(204, None)


class TwilioTokenIn(Schema):
    token: str = Field(max_length=64, description="The Twilio account's auth token: 32 hexadecimal characters")


@router.put(
    "/{store_id}/conversation-configurations/{configuration_id}/twilio-auth-token",
    response={204: None},
    summary="Set or replace (rotate) the Twilio auth token that signs webhooks to this configuration's addresses; "
    "it is never returned",
)
def set_twilio_auth_token(request, store_id: int, configuration_id: int, payload: TwilioTokenIn):
    configuration = _configuration(request, store_id, configuration_id)
    services.twilio_auth_token_set(configuration=configuration, actor=request.auth, token=payload.token)
    return Status(204, None)


# -- conversational memory: a profile's observations and summaries (issue 17) -------------------
# (conversations.memory_services writes; conversations.memory_selectors reads; the console's pages
# are conversations.memory_views)

MEMORY_PAGE = 50
_MEMORY_ID_MAX = 2**63 - 1
_MEMORY_TAGS = ["Conversational memory"]


class EvidenceOut(Schema):
    communication_id: int = Field(description="A customer message that supports it")
    conversation_id: int


class RevisionOut(Schema):
    content: str
    at: datetime
    decision: str = Field(description="`added` or `updated` (by extraction), or `edited` (by a person: `actor`)")
    reason: str = Field(description="Why, in one line")
    actor: str = Field(description="Who edited it (an email, API key “NAME”); empty for extraction")
    evidence: list[int] = Field(description="The communication ids that supported this content")

    @staticmethod
    def resolve_evidence(obj):
        return [c.pk for c in obj.evidence.all()]


class ObservationOut(Schema):
    id: int
    profile_id: int
    content: str = Field(description="The current statement (at most 4,096 characters)")
    kind: str = Field(description="`preference`, `plan`, `identity`, `problem` or `constraint`")
    subject: str
    source: str = Field(description="The extractor that drew it (`builtin`, ...)")
    source_version: str
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
    decision: str = Field(description="The latest revision's decision: `added`, `updated` or `edited`")
    evidence: list[EvidenceOut]
    revisions: list[RevisionOut] = Field(description="Every content it has had, newest first (the current one too)")

    @staticmethod
    def resolve_decision(obj):
        latest = next(iter(obj.revisions.all()), None)
        return latest.decision if latest is not None else ""

    @staticmethod
    def resolve_evidence(obj):
        return [{"communication_id": c.pk, "conversation_id": c.conversation_id} for c in obj.evidence.all()]

    @staticmethod
    def resolve_revisions(obj):
        return list(obj.revisions.all())


class ObservationPage(Schema):
    items: list[ObservationOut]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page; null on the last")


def _unknown_fields_refuse(request, schema, hint: str) -> None:
    """422 naming each field of the JSON body that `schema` does not have. Called by a route once
    the tenant wall has let the request by (another account's ids answer 404 whatever the body)."""
    unknown = sorted(set(loads(request.body or b"{}")) - set(schema.model_fields))  # the parser read an object
    if unknown:
        raise NinjaValidationError([{"loc": ["body", name], "msg": f"Unknown field: {hint}."} for name in unknown])


class ObservationPatch(Schema):
    """Any other field is refused (422 naming it), once the tenant wall has let the request by."""

    content: str = Field(description="The new statement: text, at most 4,096 characters; kept as an `edited` revision")


class SummaryOut(Schema):
    id: int
    profile_id: int
    conversation_id: int
    reason: str = Field(description="Why the customer got in touch")
    outcome: str = Field(description="How it ended")
    follow_ups: list[str] = Field(description="What is still open")
    content: str = Field(description="The summary as one text")
    source: str
    created_at: datetime
    evidence: list[int] = Field(description="The communication ids it draws on")

    @staticmethod
    def resolve_evidence(obj):
        return [c.pk for c in obj.evidence.all()]


class SummaryPage(Schema):
    items: list[SummaryOut]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page; null on the last")


def _memory_profile(request, store_id: int, profile_id: int):
    """The live profile (a merged-away id resolves to the one it was merged into); 404 otherwise."""
    profile = profile_resolve(store=api_store(request, store_id), profile_id=profile_id)
    if profile is None:
        raise Http404("No such profile in this memory store.")
    return profile


def _memory_observation(request, store_id: int, profile_id: int, observation_id: int):
    profile = _memory_profile(request, store_id, profile_id)
    observation = observation_get(store=profile.store, profile_id=profile.pk, observation_id=observation_id)
    if observation is None:
        raise Http404("No such observation on this profile.")
    return observation


_BEFORE_ID = Query(None, ge=1, le=_MEMORY_ID_MAX, description="From `next_before_id` of the page before")


@router.get(
    "/{store_id}/profiles/{profile_id}/observations",
    response=ObservationPage,
    tags=_MEMORY_TAGS,
    summary="A profile's observations, newest first, with their evidence and revision history",
)
def observation_list(request, store_id: int, profile_id: int, before_id: int | None = _BEFORE_ID):
    profile = _memory_profile(request, store_id, profile_id)
    rows = observations_page(profile=profile, before_id=before_id, size=MEMORY_PAGE + 1)
    items = rows[:MEMORY_PAGE]
    return {"items": items, "next_before_id": items[-1].pk if len(rows) > MEMORY_PAGE else None}


@router.patch(
    "/{store_id}/profiles/{profile_id}/observations/{observation_id}",
    response=ObservationOut,
    tags=_MEMORY_TAGS,
    summary="Edit an observation's content (kept as an `edited` revision naming the API key)",
)
def observation_patch(request, store_id: int, profile_id: int, observation_id: int, payload: ObservationPatch):
    observation = _memory_observation(request, store_id, profile_id, observation_id)
    _unknown_fields_refuse(request, ObservationPatch, "only content can be changed")
    memory_services.observation_update(observation=observation, content=payload.content, actor=request.auth)
    (answer,) = observations_page(profile=observation.profile, before_id=observation.pk + 1, size=1)
    return answer


@router.delete(
    "/{store_id}/profiles/{profile_id}/observations/{observation_id}",
    response={204: None},
    tags=_MEMORY_TAGS,
    summary="Delete an observation with its history",
)
def observation_remove(request, store_id: int, profile_id: int, observation_id: int):
    observation = _memory_observation(request, store_id, profile_id, observation_id)
    memory_services.observation_delete(observation=observation, actor=request.auth)
    return Status(204, None)


@router.get(
    "/{store_id}/profiles/{profile_id}/summaries",
    response=SummaryPage,
    tags=_MEMORY_TAGS,
    summary="A profile's conversation summaries, newest first",
)
def summary_list(request, store_id: int, profile_id: int, before_id: int | None = _BEFORE_ID):
    profile = _memory_profile(request, store_id, profile_id)
    rows = summaries_page(profile=profile, before_id=before_id, size=MEMORY_PAGE + 1)
    items = rows[:MEMORY_PAGE]
    return {"items": items, "next_before_id": items[-1].pk if len(rows) > MEMORY_PAGE else None}


# -- communications and conversations ---------------------------------------------------------

communications_router = Router(tags=["Conversations"])
ID_MAX = 2**63 - 1  # the largest id a database holds: a bigger one is a 422 naming the parameter
BATCH_MAX = 1000


class CommunicationIn(Schema):
    """One message or call from any source. `from`/`to` in the channel's address form (phone numbers
    in any common notation, `whatsapp:+E164`, a chat channel id); `direction` inbound (from the
    customer) or outbound (to the customer); `timestamp` ISO 8601 (UTC when no offset; now when left
    out); `external_id` the source's id, which makes redelivery harmless."""

    model_config = ConfigDict(populate_by_name=True)

    channel: str
    from_: str = Field(alias="from")
    to: str
    direction: str
    body: str = ""
    timestamp: str | None = None
    external_id: str = ""
    author_name: str = ""
    media: list[str] = []


class CommunicationOut(Schema):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    conversation_id: int
    channel: str
    direction: str
    from_: str = Field(alias="from")
    to: str
    author_name: str
    body: str
    media: list[str]
    external_id: str
    timestamp: datetime


class IngestOut(Schema):
    created: bool = Field(description="False: a communication with this external_id was stored before; nothing changed")
    profile_id: int | None = Field(description="The customer's profile")
    communication: CommunicationOut


class BatchIn(Schema):
    items: list[CommunicationIn] = Field(max_length=BATCH_MAX, description=f"At most {BATCH_MAX:,}, handled in order")


class BatchItemError(Schema):
    """One problem of one item: the shape of a 422's `detail` items and of identify-batch's."""

    loc: list[str | int] = Field(
        description='Where: `["body", "items", index, field]`, e.g. `["body", "items", 2, "to"]`'
    )
    msg: str


class BatchItemOut(Schema):
    index: int
    status: str = Field(description="`created`, `duplicate` (stored before) or `error` (see `errors`; nothing stored)")
    result: IngestOut | None = None
    errors: list[BatchItemError] = Field([], description="With `error`: every problem of this item")


class BatchOut(Schema):
    results: list[BatchItemOut]


def _communication(c: Communication) -> dict:
    return callbacks.communication_data(c)  # the status callbacks send the same


def _ingest(store, item: CommunicationIn) -> dict:
    info = services.communication_ingest(
        store=store,
        channel=item.channel,
        direction=item.direction,
        from_address=item.from_,
        to_address=item.to,
        body=item.body,
        occurred_at=item.timestamp,
        external_id=item.external_id,
        author_name=item.author_name,
        media=item.media,
    )
    return {
        "created": info.created,
        "profile_id": info.profile.pk if info.profile is not None else None,
        "communication": _communication(info.communication),
    }


@communications_router.post(
    "/{store_id}/communications",
    response={201: IngestOut, 200: IngestOut},
    summary="Add a communication (201), or find the one stored under its external_id (200)",
    by_alias=True,
)
def communication_add(request, store_id: int, payload: CommunicationIn):
    out = _ingest(api_store(request, store_id), payload)
    return Status(201 if out["created"] else 200, out)


BATCH_REFUSED = (
    "The batch is refused as a whole, nothing stored, when its body is not well formed: `detail` lists every "
    'problem of every item at once, each at `["body", "items", index, field]` (a missing or mistyped '
    'field, a string holding NUL or a lone surrogate), or `["body", "items"]` for more than '
    f"{BATCH_MAX:,} items."
)


@communications_router.post(
    "/{store_id}/communications/batch",
    response=BatchOut,
    summary=f"Add up to {BATCH_MAX:,} communications in order, each on its own",
    by_alias=True,
    openapi_extra={
        "responses": {
            422: {
                "description": BATCH_REFUSED,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{VALIDATION_SCHEMA}"}}},
            }
        }
    },
)
def communication_batch(request, store_id: int, payload: BatchIn):
    """Each item is handled on its own, in order, as `POST .../communications` would: `created`,
    `duplicate` (stored before under its `external_id`) or `error` with every problem of the item
    in `errors`, each at `["body", "items", index, field]` as identify-batch and the 422 answers
    name them (an address no configuration captures, a timestamp out of range, ...); the other items
    are stored. A batch whose body is not well formed is refused with one 422 listing every bad
    item (see the 422 response)."""
    store = api_store(request, store_id)
    results = []
    with callbacks.status_callbacks_batch():  # one send task for the batch's status callbacks
        for index, item in enumerate(payload.items):
            try:
                out = _ingest(store, item)
            except ValidationError as exc:
                errors = [{"loc": ["body", "items", index, *e["loc"]], "msg": e["msg"]} for e in error_items(exc)]
                results.append({"index": index, "status": "error", "errors": errors})
                continue
            results.append({"index": index, "status": "created" if out["created"] else "duplicate", "result": out})
    return {"results": results}


class ConversationOut(Schema):
    id: int
    configuration_id: int
    status: str
    channel: str
    customer_address: str
    business_address: str
    profile_id: int | None
    opened_at: datetime
    last_customer_at: datetime | None
    inactive_at: datetime | None
    closed_at: datetime | None
    twilio_conversation_sid: str = Field(
        description="Twilio Conversations' id (CH...) when it came from there, else empty"
    )


class LifecycleEventOut(Schema):
    kind: str = Field(description="`opened`, `inactive`, `reopened` or `closed`")
    at: datetime
    reason: str


class ParticipantOut(Schema):
    role: str = Field(description="`customer` (resolved to `profile_id`), `business` (a captured address) or `agent`")
    address: str = Field(description="The address; an agent's name for `agent`")
    profile_id: int | None = None


class ConversationPage(Schema):
    items: list[ConversationOut]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page; null on the last")


class ConversationDetail(ConversationOut):
    participants: list[ParticipantOut]
    history: list[LifecycleEventOut] = Field(description="The lifecycle history, oldest first")
    communications: list[CommunicationOut] = Field(description="The first 1,000, oldest first")
    communications_total: int = Field(description="How many it has in all")


PAGE_SIZE = 50


@communications_router.get(
    "/{store_id}/conversations", response=ConversationPage, summary="Conversations, newest first, filtered"
)
def conversation_list(
    request,
    store_id: int,
    status: Literal[tuple(ConversationStatus.values)] | None = None,
    channel: Literal[tuple(Channel.values)] | None = None,
    configuration_id: int | None = Query(None, ge=1, le=ID_MAX, description="Only this configuration's"),
    opened_after: str | None = Query(None, description="Opened at or after this time (ISO 8601; no offset: UTC)"),
    opened_before: str | None = Query(None, description="Opened before this time (ISO 8601; no offset: UTC)"),
    before_id: int | None = Query(None, ge=1, le=ID_MAX, description="From `next_before_id` of the page before"),
):
    bounds = {}
    for name, value in (("opened_after", opened_after), ("opened_before", opened_before)):
        try:
            bounds[name] = timestamp_clean(value) if value is not None else None
        except TimestampError as exc:
            raise NinjaValidationError([{"loc": ["query", name], "msg": f"The {name} {exc.reason}"}]) from None
    rows = conversations_page(
        store=api_store(request, store_id),
        status=status,
        channel=channel,
        configuration_id=configuration_id,
        opened_from=bounds["opened_after"],
        opened_before=bounds["opened_before"],
        before_id=before_id,
        size=PAGE_SIZE + 1,
    )
    items = rows[:PAGE_SIZE]
    return {"items": items, "next_before_id": items[-1].pk if len(rows) > PAGE_SIZE else None}


@communications_router.get(
    "/{store_id}/conversations/{conversation_id}",
    response=ConversationDetail,
    summary="A conversation: its communications, participants and lifecycle history",
    by_alias=True,
)
def conversation_detail(request, store_id: int, conversation_id: int):
    conversation = get_object_or_404(Conversation, pk=conversation_id, store=api_store(request, store_id))
    data = ConversationOut.from_orm(conversation).dict()
    data["communications"] = [_communication(c) for c in conversation.communications.all()[:1000]]
    data["communications_total"] = conversation.communications.count()
    data["participants"] = [
        {"role": "customer", "address": conversation.customer_address, "profile_id": conversation.profile_id},
        {"role": "business", "address": conversation.business_address},
        *({"role": "agent", "address": name} for name in conversation_agents(conversation=conversation)),
    ]
    data["history"] = list(conversation.history.all())
    return data


# -- recall (issue 17) ------------------------------------------------------------------------


class RecallIn(Schema):
    """What to recall. Every field is optional; an empty object answers the defaults; any other
    field is refused (422 naming it) once the tenant wall has let the request by."""

    model_config = ConfigDict(populate_by_name=True)

    query: str | None = Field(
        None,
        max_length=recall_reads.QUERY_MAX,
        description=(
            "Ranks the observations and summaries by relevance (each gets a `score`; an observation of a subject"
            " the query asks about, e.g. `location` for 'where does the customer live', matches too); blank or"
            " left out: most recent first"
        ),
    )
    observationsLimit: int = Field(recall_reads.OBSERVATIONS_DEFAULT, ge=0, le=recall_reads.OBSERVATIONS_MAX)
    summariesLimit: int = Field(recall_reads.SUMMARIES_DEFAULT, ge=0, le=recall_reads.SUMMARIES_MAX)
    communicationsLimit: int = Field(
        recall_reads.COMMUNICATIONS_DEFAULT,
        ge=0,
        le=recall_reads.COMMUNICATIONS_MAX,
        description="The latest communications of the profile's current (open or inactive) conversation",
    )
    beginDate: str | None = Field(None, description="ISO 8601, inclusive (UTC without an offset)")
    endDate: str | None = Field(None, description="ISO 8601, exclusive (UTC without an offset)")
    relevanceThreshold: float = Field(
        0.0, ge=0, le=1, description="With a query: leave out observations and summaries scored below it"
    )

    @field_validator("observationsLimit", "summariesLimit", "communicationsLimit", "relevanceThreshold", mode="before")
    @classmethod
    def _a_number(cls, value):
        """A JSON number only: not true/false, not "20" (pydantic would read both)."""
        if isinstance(value, bool | str):
            raise ValueError("must be a number")
        return value


class RecalledObservationOut(Schema):
    id: int
    content: str = Field(description="The current content (superseded ones are never returned)")
    kind: str
    subject: str
    source: str
    occurredAt: datetime
    updatedAt: datetime
    evidence: list[int] = Field(description="The ids of the communications that support it")
    score: float | None = Field(description="0-1 when a query ranked it, else null")


class RecalledSummaryOut(Schema):
    id: int
    conversationId: int
    reason: str
    outcome: str
    followUps: list[str]
    content: str
    createdAt: datetime = Field(description="When the summary was written")
    conversationAt: datetime = Field(
        description="When its conversation happened: its last communication, else its close; summaries are "
        "newest first by it, and beginDate/endDate bound it"
    )
    score: float | None = Field(description="0-1 when a query ranked it, else null")


class RecalledCommunicationOut(Schema):
    id: int
    conversationId: int
    channel: str
    direction: str
    authorName: str
    body: str
    occurredAt: datetime


class RecallMeta(Schema):
    queryTime: float = Field(description="Milliseconds spent recalling (the database and the ranking)")
    ranking: str = Field(description="How the observations were ordered (summaries: by the same terms)")
    semantic: str = Field(description="`off` (no embeddings endpoint), `used`, or `failed: <why>` (ranked lexically)")
    conversationId: int | None = Field(description="The current conversation the communications come from")


class RecallOut(Schema):
    profileId: int = Field(description="The live profile (a merged-away id answers its primary's)")
    traits: dict[str, dict[str, Any]]
    observations: list[RecalledObservationOut]
    summaries: list[RecalledSummaryOut]
    communications: list[RecalledCommunicationOut] = Field(description="Oldest first")
    text: str = Field(description="All of the above as plain text, ready to paste into a prompt")
    meta: RecallMeta


def _path_error(message: str) -> NinjaValidationError:
    return NinjaValidationError([{"loc": ["path", "profile_id"], "msg": message}])


def _recall_profile(store, ref: str):
    """The live profile for a path's `profile_id`: a numeric id (a merged-away one resolves to its
    primary) or an identifier `kind:value` (normalised as identify stores it). 404 when none."""
    if ref.isascii() and ref.isdigit():
        if int(ref) > ID_MAX or int(ref) < 1:
            raise _path_error(f"The profile id must be from 1 to {ID_MAX}.")
        profile = profile_resolve(store=store, profile_id=int(ref))
    else:
        try:
            kind, value = identifier_reference(ref, region=store.default_region)
        except ValueError as error:
            raise _path_error(f"Give a profile id or an identifier as kind:value: {error}") from None
        found = (
            Identifier.objects.filter(store=store, kind=kind, value=value).values_list("profile_id", flat=True).first()
        )
        profile = profile_resolve(store=store, profile_id=found) if found else None
    if profile is None:
        raise Http404("No such profile in this memory store.")
    return profile


def _recall_out(result) -> dict:
    return {
        "profileId": result.profile_id,
        "traits": result.traits,
        "observations": [
            {
                "id": o.id,
                "content": o.content,
                "kind": o.kind,
                "subject": o.subject,
                "source": o.source,
                "occurredAt": o.occurred_at,
                "updatedAt": o.updated_at,
                "evidence": o.evidence,
                "score": o.score,
            }
            for o in result.observations
        ],
        "summaries": [
            {
                "id": s.id,
                "conversationId": s.conversation_id,
                "reason": s.reason,
                "outcome": s.outcome,
                "followUps": s.follow_ups,
                "content": s.content,
                "createdAt": s.created_at,
                "conversationAt": s.conversation_at,
                "score": s.score,
            }
            for s in result.summaries
        ],
        "communications": [
            {
                "id": c.id,
                "conversationId": c.conversation_id,
                "channel": c.channel,
                "direction": c.direction,
                "authorName": c.author_name,
                "body": c.body,
                "occurredAt": c.occurred_at,
            }
            for c in result.communications
        ],
        "text": result.text,
        "meta": {
            "queryTime": result.meta["query_time"],
            "ranking": result.meta["ranking"],
            "semantic": result.meta["semantic"],
            "conversationId": result.meta["conversation_id"],
        },
    }


@communications_router.post(  # mounted at /stores with the conversations' routes
    "/{store_id}/profiles/{profile_id}/recall",
    response=RecallOut,
    tags=["Recall"],
    summary="Recall what is known about a customer (by profile id or identifier kind:value), for an agent's prompt",
)
def recall_profile(request, response: HttpResponse, store_id: int, profile_id: str, payload: RecallIn):
    """Traits, current observations (ranked by `query`, else most recent first), summaries (newest
    first) and the current conversation's latest communications, with a `text` rendering.
    `profile_id`: a number, or an identifier such as `phone:+14155550100` or `email:ada@example.com`.
    A merged-away id answers its primary profile, named in the `Canonical-Profile-Id` header.
    The returned observations count as recalled (pruning keeps the most recalled longest)."""
    store = api_store(request, store_id)
    profile = _recall_profile(store, profile_id)
    _unknown_fields_refuse(request, RecallIn, "see the request body's fields in the API reference")
    options = recall_reads.recall_options_clean(
        query=payload.query,
        observations_limit=payload.observationsLimit,
        summaries_limit=payload.summariesLimit,
        communications_limit=payload.communicationsLimit,
        begin_date=payload.beginDate,
        end_date=payload.endDate,
        relevance_threshold=payload.relevanceThreshold,
    )
    if profile_id.isdigit() and int(profile_id) != profile.pk:
        response["Canonical-Profile-Id"] = str(profile.pk)
    return _recall_out(recall_reads.recall(profile=profile, options=options))
