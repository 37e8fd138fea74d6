"""Write paths of conversations: configurations (`ConversationConfiguration`, `CaptureRule`:
create, update, delete; transactional and audited) and communications (`communication_ingest`).
Rules: `conversations.lifecycle` (timeouts), `conversations.capture` (addresses)."""

import contextlib
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.services import audit_record
from identity.services import profile_identify
from memory_console import rawsql
from memory_console.text import TextError, description_clean, display_name_clean, text_clean
from memory_console.timestamps import TimestampError, timestamp_clean

from . import callbacks
from .capture import IDENTIFIER_KIND, CaptureError, address_normalize, capture_pattern
from .lifecycle import (
    CALL_MAX_MINUTES,
    DEFAULT_TIMEOUT_MINUTES,
    MAX_MINUTES,
    Channel,
    Grouping,
    Lifecycle,
    Timeout,
    effective_timeouts,
)
from .memory import extraction_tasks_queue
from .models import (
    CaptureRule,
    Communication,
    Conversation,
    ConversationConfiguration,
    ConversationStatus,
    Direction,
    ExtractionRequest,
    LifecycleEvent,
    LifecycleEventKind,
)
from .selectors import configuration_capturing, configuration_timeouts

logger = logging.getLogger(__name__)

MEDIA_MAX = 10  # media a communication carries at most: Twilio's limit for an MMS
# Characters a communication's body holds at most: far above a message's (Twilio: 1,600 for SMS, 4,096
# for WhatsApp) and a voice turn's transcript, and what memory extraction reads in well under a second.
BODY_MAX = 32_768
CAPTURES_MAX = 100  # capture rules a configuration has at most (a `*` pattern covers ranges)
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ: a communication may be dated this far ahead
NAME_MAX = 32  # the seed's friendly name
DESCRIPTION_MAX = ConversationConfiguration._meta.get_field("description").max_length


@dataclass
class ConfigurationInput:
    """What a person (the wizard, the edit page) or an API client sets on a configuration.
    `captures`: [(channel, address or pattern as typed)]; minutes are whole numbers or None."""

    name: str
    description: str = ""
    lifecycle: str = Lifecycle.BASIC
    inactivity_minutes: int | None = None
    timeout_minutes: int | None = None
    grouping: str = Grouping.ADDRESSES_CHANNEL
    observations_enabled: bool = False
    captures: list[tuple[str, str]] = field(default_factory=list)
    status_callback_urls: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, configuration: ConversationConfiguration) -> "ConfigurationInput":
        """A stored configuration's settings, as an edit starts from them."""
        return cls(
            name=configuration.name,
            description=configuration.description,
            lifecycle=configuration.lifecycle,
            inactivity_minutes=configuration.inactivity_minutes,
            timeout_minutes=configuration.timeout_minutes,
            grouping=configuration.grouping,
            observations_enabled=configuration.observations_enabled,
            captures=[(rule.channel, rule.pattern) for rule in configuration.captures.all()],
            status_callback_urls=list(configuration.status_callback_urls),
        )


def _minutes(value, field_name: str, label: str, errors: dict) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field_name] = f"The {label} must be a whole number of minutes."
        return None
    if not 1 <= value <= MAX_MINUTES:
        errors[field_name] = f"The {label} must be between 1 and {MAX_MINUTES:,} minutes (30 days)."
        return None
    return value


def _cleaned(*, store, data: ConfigurationInput, exclude_pk: int | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """The configuration's fields and its (channel, pattern) captures, or ValidationError naming
    every field that is wrong."""
    errors: dict[str, str] = {}
    fields: dict = {}
    try:
        fields["name"] = display_name_clean(data.name, max_length=NAME_MAX)
    except TextError as exc:
        errors["name"] = f"The friendly name {exc.reason}."
    try:
        fields["description"] = description_clean(data.description, max_length=DESCRIPTION_MAX)
    except TextError as exc:
        errors["description"] = f"The description {exc.reason}."
    if data.lifecycle not in Lifecycle.values:
        errors["lifecycle"] = f"The lifecycle must be one of {', '.join(Lifecycle.values)}."
    if data.grouping not in Grouping.values:
        errors["grouping"] = f"The grouping must be one of {', '.join(Grouping.values)}."
    if not isinstance(data.observations_enabled, bool):
        errors["observations_enabled"] = "Observations and summaries must be on (true) or off (false)."
    timeout = _minutes(data.timeout_minutes, "timeout_minutes", "conversation timeout", errors)
    inactivity = _minutes(data.inactivity_minutes, "inactivity_minutes", "inactivity period", errors)
    captures: list[tuple[str, str]] = []
    problems = []
    for channel, raw in data.captures[: CAPTURES_MAX + 1]:  # more is refused below, unread
        try:
            pair = (channel, capture_pattern(channel, raw, region=store.default_region))
        except CaptureError as exc:
            problems.append(str(exc))
            continue
        if pair not in captures:
            captures.append(pair)
    if len(data.captures) > CAPTURES_MAX:
        errors["captures"] = f"A configuration captures at most {CAPTURES_MAX} addresses; use a * pattern for a range."
    elif problems:
        errors["captures"] = " ".join(problems)
    elif not captures:
        errors["captures"] = "Select at least one address to capture communications from."
    else:
        taken = CaptureRule.objects.filter(store=store).select_related("configuration")
        if exclude_pk is not None:
            taken = taken.exclude(configuration_id=exclude_pk)
        held = {(rule.channel, rule.pattern): rule.configuration.name for rule in taken}
        clashes = [
            f"{pattern} ({channel}) is captured by “{held[(channel, pattern)]}”"
            for channel, pattern in captures
            if (channel, pattern) in held
        ]
        if clashes:
            errors["captures"] = "An address is captured by one configuration at most: " + "; ".join(clashes) + "."
    if data.lifecycle != Lifecycle.INACTIVE and inactivity is not None and "lifecycle" not in errors:
        errors["inactivity_minutes"] = (
            "An inactivity period needs the lifecycle with the Inactive state (lifecycle: inactive); "
            "leave it out for a Basic lifecycle."
        )
    if data.lifecycle == Lifecycle.INACTIVE and "inactivity_minutes" not in errors:
        if inactivity is None:
            errors["inactivity_minutes"] = "Set the inactivity period: how long without traffic before Inactive."
        elif timeout is not None or (captures and "captures" not in errors):
            # A set timeout applies to every channel: compared at once, before any address is chosen
            # (the wizard's lifecycle step); without one, the channels' defaults decide.
            shortest = timeout
            if shortest is None:
                timeouts = effective_timeouts(channels=[c for c, _ in captures], timeout_minutes=None)
                shortest = min((t.minutes for t in timeouts.values() if t.minutes is not None), default=None)
            if shortest is not None and inactivity >= shortest:
                errors["inactivity_minutes"] = (
                    f"The inactivity period ({inactivity:,} min) must be shorter than the conversation timeout "
                    f"({shortest:,} min): a conversation goes Inactive before it is Closed."
                )
    try:
        fields["status_callback_urls"] = callbacks.urls_clean(data.status_callback_urls)
    except callbacks.CallbackUrlError as exc:
        errors["status_callback_urls"] = str(exc)
    if errors:
        raise ValidationError(errors)
    fields.update(
        lifecycle=data.lifecycle,
        inactivity_minutes=inactivity if data.lifecycle == Lifecycle.INACTIVE else None,
        timeout_minutes=timeout,
        grouping=data.grouping,
        observations_enabled=data.observations_enabled,
    )
    return fields, captures


def conversation_configuration_check(*, store, data: ConfigurationInput, exclude_pk: int | None = None) -> None:
    """Check a configuration's settings without saving (the wizard's steps): ValidationError naming
    every wrong field, as `conversation_configuration_create` would raise. `exclude_pk`: the
    configuration being edited (its own addresses are not a clash)."""
    _cleaned(store=store, data=data, exclude_pk=exclude_pk)


def _captures_save(configuration: ConversationConfiguration, captures: list[tuple[str, str]]) -> None:
    CaptureRule.objects.filter(configuration=configuration).delete()
    try:
        with transaction.atomic():
            CaptureRule.objects.bulk_create(
                [
                    CaptureRule(
                        store_id=configuration.store_id, configuration=configuration, channel=channel, pattern=pattern
                    )
                    for channel, pattern in captures
                ]
            )
    except IntegrityError:  # another configuration took one of the addresses meanwhile
        raise ValidationError(
            {"captures": "Another configuration has just taken one of these addresses: reload and try again."}
        ) from None


@transaction.atomic
def conversation_configuration_create(*, store, actor, data: ConfigurationInput) -> ConversationConfiguration:
    """Create a configuration and its capture rules, all or nothing. Raises ValidationError naming
    each wrong field (name, description, lifecycle, inactivity_minutes, timeout_minutes, grouping,
    observations_enabled, captures, status_callback_urls). The first status callback URL brings a
    signing secret, in `new_status_callback_secret` of the answer only."""
    fields, captures = _cleaned(store=store, data=data)
    configuration = ConversationConfiguration(store=store, **fields)
    _callback_secret_ensure(configuration)
    configuration.save()
    _captures_save(configuration, captures)
    audit_record(
        account=store.account,
        actor=actor,
        action="conversation_configuration.create",
        store_id=store.pk,
        summary=f"Created conversation configuration {configuration.name}",
    )
    return configuration


@transaction.atomic
def conversation_configuration_update(
    *, configuration: ConversationConfiguration, actor, data: ConfigurationInput
) -> ConversationConfiguration:
    """Replace a configuration's settings and capture rules (observations may be turned on or off
    at any time). Raises ValidationError as `conversation_configuration_create`."""
    store = configuration.store
    fields, captures = _cleaned(store=store, data=data, exclude_pk=configuration.pk)
    for name, value in fields.items():
        setattr(configuration, name, value)
    _callback_secret_ensure(configuration)
    configuration.save()
    callbacks.deliveries_cancel_removed(configuration=configuration)  # never sent to a URL removed
    _captures_save(configuration, captures)
    audit_record(
        account=store.account,
        actor=actor,
        action="conversation_configuration.update",
        store_id=store.pk,
        summary=f"Updated conversation configuration {configuration.name}",
    )
    return configuration


def _callback_secret_ensure(configuration: ConversationConfiguration) -> None:
    """The first status callback URL brings a signing secret (saved by the caller), kept in
    `configuration.new_status_callback_secret` for the answer that shows it once."""
    configuration.new_status_callback_secret = None
    if configuration.status_callback_urls and not configuration.status_callback_secret:
        configuration.status_callback_secret = configuration.new_status_callback_secret = callbacks.secret_new()


@transaction.atomic
def status_callback_secret_rotate(*, configuration: ConversationConfiguration, actor) -> str:
    """Replace the secret that signs the configuration's status callbacks and return it (shown
    once). Deliveries still pending are signed with the new one. Audited without the secret."""
    configuration.status_callback_secret = configuration.new_status_callback_secret = callbacks.secret_new()
    configuration.save(update_fields=["status_callback_secret", "updated_at"])
    audit_record(
        account=configuration.store.account,
        actor=actor,
        action="conversation_configuration.status_callback_secret",
        store_id=configuration.store_id,
        summary=f"Rotated the status callback secret of conversation configuration {configuration.name}",
    )
    return configuration.status_callback_secret


@transaction.atomic
def conversation_configuration_delete(*, configuration: ConversationConfiguration, actor) -> None:
    store, name = configuration.store, configuration.name
    configuration.delete()
    audit_record(
        account=store.account,
        actor=actor,
        action="conversation_configuration.delete",
        store_id=store.pk,
        summary=f"Deleted conversation configuration {name}",
    )


@dataclass
class CommunicationInfo:
    """What `communication_ingest` did: the communication (new, or the one already stored under its
    external id), its conversation, the customer's profile, and whether anything was stored."""

    communication: Communication
    conversation: Conversation
    profile: object | None
    created: bool


def _group_key(configuration: ConversationConfiguration, channel: str, business: str, customer: str, profile) -> str:
    """Which conversation a communication joins (the configuration's grouping)."""
    if configuration.grouping == Grouping.PROFILE and profile is not None:
        return f"{configuration.pk}|profile|{profile.pk}"
    if configuration.grouping == Grouping.ADDRESSES:
        return f"{configuration.pk}|{business}|{customer}"
    return f"{configuration.pk}|{channel}|{business}|{customer}"


def communication_ingest(
    *,
    store,
    channel: str,
    direction: str,
    from_address,
    to_address,
    body: str = "",
    occurred_at=None,
    external_id: str = "",
    author_name: str = "",
    media=(),
    configuration: ConversationConfiguration | None = None,
    into: Conversation | None = None,
) -> CommunicationInfo:
    """Store one communication: find the configuration capturing the business address (`to` for an
    inbound message, `from` for an outbound one), resolve the customer's address to a profile with
    identity resolution (SMS, RCS, Voice: phone; WhatsApp: whatsappid; Chat: chat; the business
    address never becomes a profile), and join the live conversation of its group or open one
    (an Inactive one is reopened by the customer; a Closed one is final). A redelivered message
    (same non-empty `external_id`) is stored once and changes nothing (`created` False).

    `occurred_at`: a datetime or ISO 8601 text (`memory_console.timestamps.timestamp_clean`, the one
    rule for timestamps), None for now. `media`: http(s) URLs. `configuration`: the one a webhook's
    signature already chose (it must capture the business address). `into`: the conversation a
    communication belongs to whatever its state (a call's transcript, sent after the call ended).

    Raises ValidationError naming the field: `channel`, `direction`, `from`/`to` (an address that is
    not one of its kind, or the customer's the same as the business's), `to`/`from` (no
    configuration captures the business address), `body` (over BODY_MAX characters),
    `timestamp`, `external_id`, `author_name`, `media`.
    """
    errors: dict[str, str] = {}
    if channel not in Channel.values:
        raise ValidationError({"channel": f"The channel must be one of {', '.join(Channel.values)}."})
    if direction not in Direction.values:
        raise ValidationError({"direction": "The direction must be inbound or outbound."})
    region = store.default_region
    addresses = {}
    for name, raw in (("from", from_address), ("to", to_address)):
        try:
            addresses[name] = address_normalize(channel, raw, region=region)
        except CaptureError as exc:
            errors[name] = str(exc)
    try:
        author_name = text_clean(author_name or "", max_length=255)
    except TextError as exc:
        errors["author_name"] = f"The author name {exc.reason}."
    body, occurred_at, external_id, media = _content_clean(body, occurred_at, external_id, media, errors)
    if errors:
        raise ValidationError(errors)
    inbound = direction == Direction.INBOUND
    business_field = "to" if inbound else "from"
    business = addresses[business_field]
    customer = addresses["from" if inbound else "to"]
    if customer == business:  # the business writing to itself would become its own customer's profile
        customer_field = "from" if inbound else "to"
        raise ValidationError(
            {customer_field: f"{customer} is this communication's business address: it cannot be the customer too."}
        )
    if configuration is None or configuration.store_id != store.pk:
        configuration = configuration_capturing(store=store, channel=channel, address=business)
    if configuration is None:
        raise ValidationError(
            {business_field: f"No conversation configuration of this store captures {business} ({channel})."}
        )
    same = {"channel": channel, "direction": direction, "from": addresses["from"], "to": addresses["to"], "body": body}
    if external_id:
        stored = _stored(store, external_id, same)
        if stored is not None:
            return stored
    profile = _customer_profile(store, configuration, channel, customer)
    key = _group_key(configuration, channel, business, customer, profile)
    message = _Message(
        channel, direction, addresses, business, customer, occurred_at, body, external_id, author_name, media
    )
    for attempt in (1, 2):
        try:
            if attempt == 1 and into is None:
                saved = _communication_save_at_once(store, configuration, key, profile, message)
                if saved is not None:
                    return saved
            return _communication_save(store, configuration, key, profile, message, into)
        except IntegrityError:
            # A delivery of the same message won a race: theirs stands. Or the group's first message
            # opened the conversation meanwhile: the second attempt joins it.
            stored = _stored(store, external_id, same) if external_id else None
            if stored is not None:
                return stored
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _customer_profile(store, configuration, channel: str, customer: str):
    """The customer's profile by identity resolution (`profile_identify` with the channel's
    identifier kind, `IDENTIFIER_KIND`), or None when the store's identity rules refuse it (no rule
    for the kind, a blocked value, a limit): the communication is still stored, its conversation
    without a profile, which the conversation page explains; logged."""
    try:
        result = profile_identify(
            store=store, identifiers=[(IDENTIFIER_KIND[channel], customer)], source=f"conversation:{configuration.pk}"
        )
        result.profile.created_now = result.created  # a new customer: no conversation of theirs to look for
        return result.profile
    except ValidationError as exc:
        logger.warning("Conversation customer %s (%s) has no profile: %s", customer, channel, " ".join(exc.messages))
        return None


@dataclass(frozen=True)
class _Message:
    """A communication's checked values, as `communication_ingest` stores them."""

    channel: str
    direction: str
    addresses: dict  # {"from": ..., "to": ...}, stored forms
    business: str
    customer: str
    occurred_at: object
    body: str
    external_id: str
    author_name: str
    media: list

    def communication(self, store, conversation=None) -> Communication:
        """The unsaved `Communication` of this message (in `conversation`, when known)."""
        return Communication(
            store=store,
            conversation=conversation,
            channel=self.channel,
            direction=self.direction,
            from_address=self.addresses["from"],
            to_address=self.addresses["to"],
            author_name=self.author_name,
            body=self.body,
            media=list(self.media),
            external_id=self.external_id,
            occurred_at=self.occurred_at,
        )


def _content_clean(body, occurred_at, external_id, media, errors: dict) -> tuple:
    """A communication's body (multi-line text), time (`timestamp_clean`; None: now), external id
    and media URLs by their one rule each: (body, occurred_at, external_id, media), with what is
    wrong added to `errors` under `body`, `timestamp`, `external_id`, `media`."""
    try:
        body = text_clean(body or "", multiline=True, max_length=BODY_MAX)
    except TextError as exc:
        errors["body"] = f"The body {exc.reason}."
    now = timezone.now()
    try:
        occurred_at = now if occurred_at is None else timestamp_clean(occurred_at)
    except TimestampError as exc:
        errors["timestamp"] = f"The timestamp {exc.reason}"
    else:
        if occurred_at > now + FUTURE_TOLERANCE:
            # A communication has happened: one dated ahead would hold its conversation open until then.
            errors["timestamp"] = (
                "The timestamp is when the communication happened: it must not be more than "
                f"{FUTURE_TOLERANCE.seconds // 60} minutes ahead of the server's clock ({now:%Y-%m-%dT%H:%M:%SZ})."
            )
    try:
        external_id = text_clean(external_id or "", max_length=255)
    except TextError as exc:
        errors["external_id"] = f"The external id {exc.reason}."
    return body, occurred_at, external_id, _media_clean(media, errors)


def _media_clean(media, errors: dict) -> list[str]:
    """Media URLs: a list of http(s) URLs, each text by the one text rule, at most 2,048 characters."""
    if not isinstance(media, list | tuple):
        errors["media"] = "Media must be a list of URLs."
        return []
    if len(media) > MEDIA_MAX:
        errors["media"] = f"A communication has at most {MEDIA_MAX} media (Twilio's limit for a message)."
        return []
    urls = []
    for url in media:
        try:
            url = text_clean(url, max_length=2048) if isinstance(url, str) else None
        except TextError as exc:
            errors["media"] = f"A media URL {exc.reason}."
            return []
        if url is None or not url.lower().startswith(("https://", "http://")):
            errors["media"] = "Media must be http(s) URLs."
            return []
        urls.append(url)
    return urls


def _communication_save(store, configuration, key, profile, m: _Message, into) -> CommunicationInfo:
    with transaction.atomic():
        if into is not None and into.store_id == store.pk:
            conversation = Conversation.objects.select_for_update().get(pk=into.pk)
            # Opened by the caller in this transaction (a Twilio conversation's first message): its
            # conversation.created goes with this communication, once.
            conversation.opened_now, into.opened_now = getattr(into, "opened_now", False), False
        else:
            kind = "A call" if m.channel == Channel.VOICE else "A message"
            opened = f"{kind} from the customer" if m.direction == Direction.INBOUND else f"{kind} to the customer"
            conversation = _live_conversation(
                store,
                configuration,
                key,
                m.channel,
                m.business,
                m.customer,
                profile,
                m.occurred_at,
                opened,
                last_customer_at=m.occurred_at if m.direction == Direction.INBOUND else None,
            )
        events = [(callbacks.CONVERSATION_CREATED, conversation)] if getattr(conversation, "opened_now", False) else []
        conversation.opened_now = False  # said once (a call's transcript joins this same object later)
        if m.direction == Direction.INBOUND and conversation.status != ConversationStatus.CLOSED:
            changed = []
            if conversation.status == ConversationStatus.INACTIVE:
                conversation.status, conversation.inactive_at = ConversationStatus.OPEN, None
                changed += ["status", "inactive_at"]
                events.append((callbacks.CONVERSATION_UPDATED, conversation))
                rawsql.insert(
                    LifecycleEvent(
                        store=store,
                        conversation=conversation,
                        kind=LifecycleEventKind.REOPENED,
                        at=m.occurred_at,
                        reason="The customer wrote again",
                    )
                )
            if conversation.last_customer_at is None or m.occurred_at > conversation.last_customer_at:
                conversation.last_customer_at = m.occurred_at
                changed.append("last_customer_at")
            if changed:  # an earlier-dated message (delivered late) changes nothing
                rawsql.update(conversation, changed)
        # The webhook's hot path: hand-written statements (`memory_console.rawsql`, its docstring says why).
        communication = rawsql.insert(m.communication(store, conversation))
        if conversation.status == ConversationStatus.CLOSED and conversation.configuration.observations_enabled:
            # Joined after Closed (`into`: a call's transcript, sent after the call ended): the
            # extraction the closing asked for did not cover it, so it gets its own, once.
            _extractions_request([(conversation.pk, store.pk)], ConversationStatus.CLOSED, timezone.now())
        if configuration.status_callback_urls:  # no work (and no query) without URLs
            events.append((callbacks.COMMUNICATION_CREATED, communication))
            callbacks.status_callbacks_queue(configuration=configuration, events=callbacks.events_of(events))
    return CommunicationInfo(communication, conversation, profile, created=True)


def _communication_save_at_once(store, configuration, key, profile, m: _Message) -> CommunicationInfo | None:
    """The two commonest cases of a customer's message, each in one statement on PostgreSQL (a
    data-modifying WITH: atomic without BEGIN and COMMIT, the webhook's hot path): joining the
    group's Open conversation (its `last_customer_at` moved, the communication inserted), or, for
    a customer whose profile this message created, opening the group's conversation with its
    history and the communication. None when neither applies (SQLite, an outbound message, status
    callback URLs to queue, an Inactive or no live conversation, a profile known before): the
    caller saves it the general way (`_communication_save`). A redelivery or a race lost fails the
    statement as a whole with IntegrityError (nothing is written), as the general way's would."""
    if connection.vendor != "postgresql" or m.direction != Direction.INBOUND or configuration.status_callback_urls:
        return None
    insert_communication, communication_params = rawsql.insert_returning(
        m.communication(store), links={"conversation_id": "c.id"}, source="c"
    )
    if profile is not None and getattr(profile, "created_now", False):
        kind = "A call" if m.channel == Channel.VOICE else "A message"
        conversation = Conversation(
            store=store,
            configuration=configuration,
            channel=m.channel,
            customer_address=m.customer,
            business_address=m.business,
            group_key=key,
            profile=profile,
            opened_at=m.occurred_at,
            last_customer_at=m.occurred_at,
        )
        event = LifecycleEvent(
            store=store, kind=LifecycleEventKind.OPENED, at=m.occurred_at, reason=f"{kind} from the customer"
        )
        insert_conversation, conversation_params = rawsql.insert_returning(conversation)
        insert_event, event_params = rawsql.insert_returning(event, links={"conversation_id": "c.id"}, source="c")
        sql = f"WITH c AS ({insert_conversation}), e AS ({insert_event}), i AS ({insert_communication}) "
        params = [*conversation_params, *event_params, *communication_params]
    else:
        where, params = "store_id = %s AND status <> %s", [store.pk, ConversationStatus.CLOSED]
        if configuration.grouping == Grouping.PROFILE and profile is not None:
            where += " AND configuration_id = %s AND profile_id = %s"
            params += [configuration.pk, profile.pk]
        else:
            where += " AND group_key = %s"
            params.append(key)
        # The group's first live conversation, if it is Open (`status` checked again on the locked
        # row: one the lifecycle pass moved meanwhile is left to the general way, which reopens it).
        sql = (
            f"WITH c AS (UPDATE {_CONVERSATIONS} SET last_customer_at = CASE WHEN last_customer_at IS NULL "
            "OR last_customer_at < %s THEN %s ELSE last_customer_at END "
            f"WHERE id = (SELECT id FROM {_CONVERSATIONS} WHERE {where} ORDER BY id LIMIT 1) AND status = %s "
            f"RETURNING *), i AS ({insert_communication}) "
        )
        params = [m.occurred_at, m.occurred_at, *params, ConversationStatus.OPEN, *communication_params]
    sql += f"SELECT {rawsql.columns(Conversation, 'c')}, {rawsql.columns(Communication, 'i')} FROM c, i"
    # Inside a caller's transaction, a savepoint: a failure must not abort the caller's work.
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        rows = rawsql.fetch(sql, params, [Conversation, Communication])
    if not rows:
        return None
    conversation, communication = rows[0]
    communication.conversation = conversation
    return CommunicationInfo(communication, conversation, profile, created=True)


def _stored(store, external_id: str, same: dict | None = None) -> CommunicationInfo | None:
    """The communication already stored under `external_id` (a redelivery: `created` False), or
    None. `same`: the new one's channel, direction, addresses and body; a stored one that differs is
    another message reusing the id: ValidationError naming `external_id` (never answered as a
    duplicate of someone else's message)."""
    info = _stored_lookup(store, external_id)
    if info is not None and same is not None:
        c = info.communication
        stored = {"channel": c.channel, "direction": c.direction, "from": c.from_address, "to": c.to_address}
        if {**stored, "body": c.body} != same:
            raise ValidationError(
                {"external_id": f"The external id {external_id} already names another communication (#{c.pk})."}
            )
    return info


def _stored_lookup(store, external_id: str) -> CommunicationInfo | None:
    # Nearly always a new message: probe the unique index alone (no joins to plan, no ordering,
    # no queryset to compile), then load the redelivered one with its conversation and profile.
    probe = f"SELECT 1 FROM {_COMMUNICATIONS} WHERE store_id = %s AND external_id = %s LIMIT 1"
    if rawsql.scalar(probe, [store.pk, external_id]) is None:
        return None
    found = Communication.objects.filter(store=store, external_id=external_id)
    existing = found.select_related("conversation", "conversation__profile").first()
    if existing is None:
        return None
    return CommunicationInfo(existing, existing.conversation, existing.conversation.profile, created=False)


_COMMUNICATIONS = Communication._meta.db_table
_CONVERSATIONS = Conversation._meta.db_table


def _live_conversation(
    store, configuration, key, channel, business, customer, profile, at, reason, last_customer_at=None
) -> Conversation:
    """The group's Open or Inactive conversation, locked; or a new Open one. Grouped by profile, the
    profile decides (a conversation follows its profile into a merge, its key does not)."""
    where, params = "c.store_id = %s AND c.status <> %s", [store.pk, ConversationStatus.CLOSED]
    if configuration.grouping == Grouping.PROFILE and profile is not None:
        where += " AND c.configuration_id = %s AND c.profile_id = %s"
        params += [configuration.pk, profile.pk]
    else:
        where += " AND c.group_key = %s"
        params.append(key)
    live = rawsql.fetch(
        f"SELECT {rawsql.columns(Conversation, 'c')} FROM {_CONVERSATIONS} c WHERE {where} "
        f"ORDER BY c.id LIMIT 1{rawsql.for_update()}",
        params,
        [Conversation],
    )
    if live:
        return live[0][0]
    conversation = Conversation(
        store=store,
        configuration=configuration,
        channel=channel,
        customer_address=customer,
        business_address=business,
        group_key=key,
        profile=profile,
        opened_at=at,
        last_customer_at=last_customer_at,  # a customer's first message: set now, not by an UPDATE after
    )
    rawsql.insert(conversation)
    rawsql.insert(
        LifecycleEvent(store=store, conversation=conversation, kind=LifecycleEventKind.OPENED, at=at, reason=reason)
    )
    conversation.opened_now = True  # for the conversation.created status callback
    return conversation


TWILIO_SYSTEM_AUTHOR = "system"  # Twilio Conversations' author of a message no participant wrote


def twilio_conversation_message_ingest(
    *,
    configuration: ConversationConfiguration,
    conversation_sid: str,
    service_sid: str,
    channel: str,
    author: str,
    from_customer: bool,
    body: str = "",
    occurred_at=None,
    external_id: str = "",
    media=(),
) -> CommunicationInfo:
    """Store one message of a Twilio Conversations conversation (`conversation_sid`, CH...) of the
    Conversation Service `service_sid` (IS..., the business address; `configuration` captures it on
    Chat and its token signed the webhook). Every message of one Twilio conversation joins one live
    conversation of ours (group key `<configuration>|twilio|<CH...>`, whatever the configuration's
    grouping), which keeps the SID in `twilio_conversation_sid`; once ours is Closed (final), the
    next message opens another with the same SID.

    `from_customer`: the author is the customer, `author` their address on `channel` (a phone number
    on SMS, `whatsapp:+E164` on WhatsApp, the chat identity on Chat), resolved to a profile as
    `communication_ingest` does; the message is inbound (it reopens an Inactive conversation and
    moves `last_customer_at`), and the first customer message fixes the conversation's customer
    (its address, profile and channel). Otherwise `author` (an agent's identity, or `system`) is the
    author name of an outbound message and never a profile; an agent writing before any customer
    opens the conversation with its customer unknown (empty address, no profile) until one writes.

    `occurred_at`: a datetime or ISO 8601 text, None for now; `media`: http(s) URLs. Idempotent by
    `external_id` (the MessageSid): a redelivery returns the stored message (`created` False).
    Raises ValidationError naming `channel`, `author`, `body`, `timestamp`, `external_id`, `media`.
    """
    if channel not in Channel.values:
        raise ValidationError({"channel": f"The channel must be one of {', '.join(Channel.values)}."})
    store = configuration.store
    errors: dict[str, str] = {}
    customer = author_name = ""
    if from_customer:
        try:
            customer = address_normalize(channel, author, region=store.default_region)
        except CaptureError as exc:
            errors["author"] = str(exc)
    else:
        try:
            author_name = text_clean(author or TWILIO_SYSTEM_AUTHOR, max_length=255)
        except TextError as exc:
            errors["author"] = f"The author {exc.reason}."
    body, occurred_at, external_id, media = _content_clean(body, occurred_at, external_id, media, errors)
    if errors:
        raise ValidationError(errors)
    if external_id:
        stored = _stored(store, external_id)
        if stored is not None:
            return stored
    profile = None
    if from_customer:
        profile = _customer_profile(store, configuration, channel, customer)
    direction = Direction.INBOUND if from_customer else Direction.OUTBOUND
    key = f"{configuration.pk}|twilio|{conversation_sid}"
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                opened = "A message from the customer" if from_customer else "A message to the customer"
                conversation = _live_conversation(  # its customer is set below, by the first customer message
                    store, configuration, key, channel, service_sid, "", None, occurred_at, opened
                )
                changed = []
                if conversation.twilio_conversation_sid != conversation_sid:
                    conversation.twilio_conversation_sid = conversation_sid
                    changed.append("twilio_conversation_sid")
                if from_customer and not conversation.customer_address:
                    conversation.customer_address, conversation.profile, conversation.channel = (
                        customer,
                        profile,
                        channel,
                    )
                    changed += ["customer_address", "profile", "channel"]
                if changed:
                    conversation.save(update_fields=changed)
                addresses = {"from": service_sid, "to": conversation.customer_address}
                if from_customer:
                    addresses = {"from": customer, "to": service_sid}
                message = _Message(
                    channel,
                    direction,
                    addresses,
                    service_sid,
                    conversation.customer_address,
                    occurred_at,
                    body,
                    external_id,
                    author_name,
                    media,
                )
                customer_profile = profile if from_customer else conversation.profile
                return _communication_save(store, configuration, key, customer_profile, message, conversation)
        except IntegrityError:
            # As in `communication_ingest`: a redelivery won a race (theirs stands), or the Twilio
            # conversation's first message opened ours meanwhile (the second attempt joins it).
            stored = _stored(store, external_id) if external_id else None
            if stored is not None:
                return stored
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


TWILIO_STATE_REASONS = {
    ConversationStatus.CLOSED: "Closed in Twilio Conversations",
    ConversationStatus.INACTIVE: "Inactive in Twilio Conversations",
}


def twilio_conversation_state_apply(
    *, configuration: ConversationConfiguration, conversation_sid: str, state: str, at=None
) -> int:
    """Twilio Conversations moved its conversation `conversation_sid` to `state` (`StateTo` of
    onConversationStateUpdated: active, inactive or closed); our live conversation of it follows,
    through `_transitions_apply` (history with the reason "Closed in Twilio Conversations" /
    "Inactive in Twilio Conversations" and, with observations on, one extraction request):
    closed: Open or Inactive -> Closed; inactive: Open -> Inactive when the configuration's
    lifecycle has the Inactive state (a Basic configuration's conversations go Open -> Closed only,
    so they stay Open); active: nothing (a customer message reopens ours, as on every channel).
    A repeated update moves nothing. `at`: a datetime or ISO 8601 text, None for now. How many
    conversations moved; ValidationError naming `state` or `timestamp`."""
    if state not in {"active", "inactive", "closed"}:
        raise ValidationError({"state": "The state must be active, inactive or closed."})
    try:
        at = timezone.now() if at is None else min(timestamp_clean(at), timezone.now())  # never ahead of us
    except TimestampError as exc:
        raise ValidationError({"timestamp": f"The timestamp {exc.reason}"}) from None
    ours = Conversation.objects.filter(
        store_id=configuration.store_id, configuration=configuration, twilio_conversation_sid=conversation_sid
    )
    if state == ConversationStatus.CLOSED:
        due = ours.filter(status__in=LIVE)
    elif state == ConversationStatus.INACTIVE and configuration.lifecycle == Lifecycle.INACTIVE:
        due = ours.filter(status=ConversationStatus.OPEN)
    else:
        return 0
    moved, _ = _transitions_apply(due, state, at, TWILIO_STATE_REASONS[state], configuration)
    return moved


@dataclass
class AdvanceCounts:
    """What one pass of the lifecycle worker did."""

    inactive: int = 0
    closed: int = 0
    extractions: int = 0


LIVE = (ConversationStatus.OPEN, ConversationStatus.INACTIVE)
ADVANCE_CHUNK = 5000  # conversations moved per transaction (about 0.3 s of locks on PostgreSQL)


def conversations_advance(*, now=None) -> AdvanceCounts:
    """Move live conversations on by their configuration's lifecycle (the worker's schedule, every
    minute; `now` injectable for tests): Open or Inactive -> Closed once the channel's effective
    timeout has passed since the last customer communication (`effective_timeouts`; the set
    timeout, else the channel's default when the channel is no longer captured; a Voice
    conversation without a timer closes when its call ends instead), else Open -> Inactive once the
    inactivity period has (`inactive` lifecycle). Each such transition is recorded in the
    conversation's history and, with observations on, asks for one `ExtractionRequest` over the
    communications not yet covered, exactly once.

    Set-based: a few queries per configuration and channel with live conversations, then the moves
    in transactions of `ADVANCE_CHUNK` conversations (docs/PERFORMANCE.md has its figures)."""
    now = now or timezone.now()
    counts = AdvanceCounts()
    live_pairs = Conversation.objects.filter(status__in=LIVE).values_list("configuration_id", "channel")
    pairs = set(live_pairs.order_by().distinct())  # unordered: the ordering's columns would join the DISTINCT
    configurations = ConversationConfiguration.objects.filter(pk__in={c for c, _ in pairs}).prefetch_related("captures")
    for configuration in configurations:
        timeouts = configuration_timeouts(configuration=configuration)
        for channel in sorted(ch for c, ch in pairs if c == configuration.pk):
            timeout = timeouts.get(channel)
            if timeout is None:  # its channel is no longer captured
                minutes = configuration.timeout_minutes or DEFAULT_TIMEOUT_MINUTES[channel]
                timeout = Timeout(minutes, "the channel's default")
            live = Conversation.objects.filter(configuration=configuration, channel=channel).annotate(
                since=Coalesce("last_customer_at", "opened_at")
            )
            timeout_minutes, inactivity_minutes = timeout.minutes, configuration.inactivity_minutes
            if channel == Channel.VOICE:  # a call sends nothing while it lasts: never timed out during one
                timeout_minutes = None if timeout_minutes is None else max(timeout_minutes, CALL_MAX_MINUTES)
                inactivity_minutes = None if inactivity_minutes is None else max(inactivity_minutes, CALL_MAX_MINUTES)
            if timeout_minutes is not None:
                due = live.filter(status__in=LIVE, since__lte=now - timedelta(minutes=timeout_minutes))
                reason = f"No customer communication for {_minutes_text(timeout_minutes)} (the conversation timeout)"
                moved, extracted = _transitions_apply(due, ConversationStatus.CLOSED, now, reason, configuration)
                counts.closed += moved
                counts.extractions += extracted
            if configuration.lifecycle == Lifecycle.INACTIVE and inactivity_minutes is not None:
                quiet = live.filter(
                    status=ConversationStatus.OPEN, since__lte=now - timedelta(minutes=inactivity_minutes)
                )
                reason = f"No customer communication for {_minutes_text(inactivity_minutes)}"
                moved, extracted = _transitions_apply(quiet, ConversationStatus.INACTIVE, now, reason, configuration)
                counts.inactive += moved
                counts.extractions += extracted
    return counts


def _minutes_text(minutes: int) -> str:
    return "1 minute" if minutes == 1 else f"{minutes:,} minutes"


def _transitions_apply(due, target: str, now, reason: str, configuration) -> tuple[int, int]:
    """Move the conversations of queryset `due` to `target` (Inactive or Closed), in transactions
    of `ADVANCE_CHUNK`: each locked and re-checked first (a customer message may have reopened or
    bumped it meanwhile: then it no longer matches `due` and stays), its history recorded and,
    with observations on, its extraction request over the communications not yet covered.
    (moved, extraction requests)."""
    stamp = {"closed_at": now} if target == ConversationStatus.CLOSED else {"inactive_at": now}
    moved = extracted = 0
    after = 0  # keyset: each chunk starts after the last one, not rescanning the rows just moved
    while True:
        with transaction.atomic():
            chunk = due.filter(pk__gt=after).select_for_update().values_list("pk", "store_id").order_by("pk")
            rows = list(chunk[:ADVANCE_CHUNK])
            if not rows:
                return moved, extracted
            ids = [pk for pk, _ in rows]
            after = ids[-1]
            _move_and_record(ids, target, stamp, now, reason)
            if configuration.observations_enabled:
                extracted += _extractions_request(rows, target, now)
            if configuration.status_callback_urls:
                callbacks.conversations_updated_queue(configuration=configuration, ids=ids, now=now)
            moved += len(rows)
        if len(rows) < ADVANCE_CHUNK:
            return moved, extracted


def _move_and_record(ids: list[int], status: str, stamp: dict, at, reason: str) -> None:
    """Set `status` and the `stamp` field ({"closed_at" or "inactive_at": at}) of the (locked)
    conversations `ids` and record one `LifecycleEvent` (`status`, `at`, `reason`) each. On
    PostgreSQL one statement (UPDATE ... RETURNING feeding the INSERT, ids as one array); elsewhere
    an UPDATE and an INSERT ... SELECT. Objects built in Python cost a second per 100,000
    (docs/PERFORMANCE.md)."""
    (column,) = stamp
    conversations, history = Conversation._meta.db_table, LifecycleEvent._meta.db_table
    when = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""
                WITH moved AS (
                    UPDATE {conversations} SET status = %s, {column} = %s WHERE id = ANY(%s) RETURNING id, store_id
                )
                INSERT INTO {history} (store_id, conversation_id, kind, at, reason)
                SELECT store_id, id, %s, %s, %s FROM moved
                """,
                [status, when, ids, status, when, reason],
            )
            return
        Conversation.objects.filter(pk__in=ids).update(status=status, **stamp)
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(
            f"""
            INSERT INTO {history} (store_id, conversation_id, kind, at, reason)
            SELECT store_id, id, %s, %s, %s FROM {conversations} WHERE id IN ({marks})
            """,
            [status, when, reason, *ids],
        )


def _extractions_request(rows, target: str, now) -> int:
    """One `ExtractionRequest` per conversation of `rows` ([(id, store id)]) that has communications
    no earlier lifecycle request covered (a reopened conversation's earlier ones are never extracted
    twice; an Administrator's re-run does not count, so a conversation re-run while Open still gets
    its Closed request and summary); on Closed always one, so that the conversation gets its summary
    even when nothing was said since its Inactive request (that request then covers no message, and
    the summary the whole conversation),
    and the worker's task for each queued when the transaction commits (`memory.extraction_tasks_queue`).

    One INSERT ... SELECT in the database: built as objects in Python, a chunk's requests cost
    more than the rest of the pass (docs/PERFORMANCE.md, the lifecycle pass)."""
    ids = [pk for pk, _ in rows]
    marks = ", ".join(["%s"] * len(ids))
    requests = ExtractionRequest._meta.db_table
    sql = f"""
        INSERT INTO {requests}
            (store_id, conversation_id, transition, after_communication_id, last_communication_id, requested_at,
             status, note)
        SELECT conversation.store_id, last.conversation_id, %s, COALESCE(covered.upto, 0), last.upto, %s,
               'pending', ''
        FROM (
            SELECT conversation_id, MAX(id) AS upto FROM {Communication._meta.db_table}
            WHERE conversation_id IN ({marks}) GROUP BY conversation_id
        ) AS last
        JOIN {Conversation._meta.db_table} AS conversation ON conversation.id = last.conversation_id
        LEFT JOIN (
            SELECT conversation_id, MAX(last_communication_id) AS upto FROM {requests}
            WHERE conversation_id IN ({marks}) AND requested_by = '' GROUP BY conversation_id
        ) AS covered ON covered.conversation_id = last.conversation_id
        WHERE last.upto > COALESCE(covered.upto, 0) OR %s = 'closed'
        RETURNING id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [target, connection.ops.adapt_datetimefield_value(now), *ids, *ids, target])
        made = [pk for (pk,) in cursor.fetchall()]
    extraction_tasks_queue(made)  # the worker processes them once this commits
    return len(made)


def twilio_auth_token_set(*, configuration: ConversationConfiguration, actor, token: str) -> None:
    """Store (or replace: rotate) the Twilio auth token that signs webhooks to this configuration's
    addresses. A Twilio auth token is 32 hexadecimal characters; ValidationError naming `token`
    otherwise. Audited without the token."""
    token = (token or "").strip()
    if not re.fullmatch(r"[0-9a-fA-F]{32}", token):
        raise ValidationError({"token": "A Twilio auth token is 32 hexadecimal characters (Twilio Console > Account)."})
    configuration.twilio_auth_token = token
    configuration.save(update_fields=["twilio_auth_token", "updated_at"])
    audit_record(
        account=configuration.store.account,
        actor=actor,
        action="conversation_configuration.twilio_token",
        store_id=configuration.store_id,
        summary=f"Set the Twilio auth token of conversation configuration {configuration.name} (…{token[-4:]})",
    )


def conversation_call_end(*, conversation: Conversation, at) -> bool:
    """A Voice call ended: its conversation is Closed (Voice has no timer), with its history and the
    extraction request its configuration's observations ask for. False if it was closed already."""
    due = Conversation.objects.filter(pk=conversation.pk, status__in=LIVE)
    moved, _ = _transitions_apply(due, ConversationStatus.CLOSED, at, "The call ended", conversation.configuration)
    return bool(moved)
