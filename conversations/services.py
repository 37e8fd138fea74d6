"""Write paths for conversation configurations (`ConversationConfiguration`, `CaptureRule`):
create, update, delete; transactional and audited. Rules: `conversations.lifecycle` (timeouts),
`conversations.capture` (addresses)."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.services import audit_record
from memory_console.text import TextError, description_clean, display_name_clean

from .capture import CaptureError, capture_pattern
from .lifecycle import MAX_MINUTES, Grouping, Lifecycle, effective_timeouts
from .models import CaptureRule, ConversationConfiguration

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
    for channel, raw in data.captures:
        try:
            pair = (channel, capture_pattern(channel, raw, region=store.default_region))
        except CaptureError as exc:
            problems.append(str(exc))
            continue
        if pair not in captures:
            captures.append(pair)
    if problems:
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
    if data.lifecycle == Lifecycle.INACTIVE and "inactivity_minutes" not in errors:
        if inactivity is None:
            errors["inactivity_minutes"] = "Set the inactivity period: how long without traffic before Inactive."
        elif captures and "captures" not in errors:
            timeouts = effective_timeouts(channels=[c for c, _ in captures], timeout_minutes=timeout)
            shortest = min((t.minutes for t in timeouts.values() if t.minutes is not None), default=None)
            if shortest is not None and inactivity >= shortest:
                errors["inactivity_minutes"] = (
                    f"The inactivity period ({inactivity:,} min) must be shorter than the conversation timeout "
                    f"({shortest:,} min): a conversation goes Inactive before it is Closed."
                )
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
    observations_enabled, captures)."""
    fields, captures = _cleaned(store=store, data=data)
    configuration = ConversationConfiguration.objects.create(store=store, **fields)
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
    configuration.save()
    _captures_save(configuration, captures)
    audit_record(
        account=store.account,
        actor=actor,
        action="conversation_configuration.update",
        store_id=store.pk,
        summary=f"Updated conversation configuration {configuration.name}",
    )
    return configuration


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
