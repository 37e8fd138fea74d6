"""Conversation configurations over the JSON API: list, create, get, patch, delete. The request
fields are `conversations.services.ConfigurationInput`'s (captures as ``[{"channel", "address"}]``);
answers carry each channel's effective timeout and why."""

from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from stores.api import api_store

from . import services
from .lifecycle import Grouping, Lifecycle
from .models import ConversationConfiguration
from .selectors import configuration_list, configuration_timeouts

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
    response={201: ConfigurationOut},
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
    response=ConfigurationOut,
    summary="Change a conversation configuration (observations may be turned on or off at any time)",
)
def update_configuration(request, store_id: int, configuration_id: int, payload: ConfigurationPatch):
    configuration = _configuration(request, store_id, configuration_id)
    current = services.ConfigurationInput(
        name=configuration.name,
        description=configuration.description,
        lifecycle=configuration.lifecycle,
        inactivity_minutes=configuration.inactivity_minutes,
        timeout_minutes=configuration.timeout_minutes,
        grouping=configuration.grouping,
        observations_enabled=configuration.observations_enabled,
        captures=[(rule.channel, rule.pattern) for rule in configuration.captures.all()],
    )
    for name, value in payload.dict(exclude_unset=True).items():
        if name == "captures":
            value = [(c["channel"], c["address"]) for c in (value or [])]
        setattr(current, name, value)
    services.conversation_configuration_update(configuration=configuration, actor=request.auth, data=current)
    return _configuration(request, store_id, configuration_id)


@router.delete(
    "/{store_id}/conversation-configurations/{configuration_id}",
    response={204: None},
    summary="Delete a conversation configuration",
)
def delete_configuration(request, store_id: int, configuration_id: int):
    configuration = _configuration(request, store_id, configuration_id)
    services.conversation_configuration_delete(configuration=configuration, actor=request.auth)
    return Status(204, None)
