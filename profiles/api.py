from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Field, Router, Schema
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import field_validator

from identity.models import Identifier
from identity.normalization import identifier_reference
from identity.selectors import profile_identifiers, profile_merges
from identity.services import profile_identify, profiles_identify_batch
from memory_console.errors import FieldError, error_items
from memory_console.timestamps import TimestampError, timestamp_parse
from stores.api import api_store

from .selectors import profile_events, profile_resolve
from .services import Source

router = Router(tags=["Profiles"])


class EventIn(Schema):
    name: str
    timestamp: datetime | None = Field(
        None,
        description="ISO 8601; without an offset it is read as UTC; from 1900-01-01T00:00:00Z to "
        "9999-12-30T23:59:59Z once converted to UTC; none means now",
    )
    properties: dict[str, Any] = {}

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_8601_text(cls, value):
        """Text only (pydantic would also read 0 or "0" as 1970): memory_console.timestamps' rule."""
        if value is None:
            return None
        try:
            return timestamp_parse(value)
        except TimestampError as exc:
            raise ValueError(exc.reason) from None


class IdentifyIn(Schema):
    identifiers: dict[str, str | list[str]]
    traits: dict[str, dict[str, Any]] = {}
    events: list[EventIn] = []


class NoteOut(Schema):
    """An identifier not used as given. `code`: identity.resolution.Code (no_rule, blocked_value,
    limit_reached, limit_replaced, lower_priority_dropped, held_elsewhere); `reason`: its words."""

    code: str
    kind: str
    value: str
    reason: str


class BlockedMergeOut(Schema):
    code: str
    profile_id: int
    identifiers: list[str]
    reason: str


class IdentifyOut(Schema):
    profile_id: int
    created: bool
    merged_profile_ids: list[int]
    added_identifiers: list[str]
    dropped_identifiers: list[NoteOut]
    ignored_identifiers: list[NoteOut]
    blocked_merges: list[BlockedMergeOut]
    changed_traits: list[str]


class IdentifierOut(Schema):
    kind: str
    value: str


class EventOut(Schema):
    name: str
    timestamp: datetime
    properties: dict[str, Any]
    source: str


class MergeOut(Schema):
    from_profile_id: int
    matching_identifiers: list[str]
    source: str
    created_at: datetime


class ProfileOut(Schema):
    id: int
    merged_into: int | None = None
    traits: dict[str, dict[str, Any]]
    identifiers: list[IdentifierOut]
    events: list[EventOut]
    merges: list[MergeOut]
    created_at: datetime
    updated_at: datetime


def _profile_out(profile, requested_id: int) -> dict:
    return {
        "id": profile.pk,
        "merged_into": profile.pk if requested_id != profile.pk else None,
        "traits": profile.traits,
        "identifiers": profile_identifiers(profile=profile),
        "events": profile_events(profile=profile, limit=100),
        "merges": profile_merges(profile=profile),
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
    }


@router.post("/{store_id}/profiles/identify", response=IdentifyOut, summary="Resolve identifiers to a profile")
def identify(request, store_id: int, payload: IdentifyIn):
    """Create, match or merge the profile for these identifiers, then apply traits and append events.

    `identifiers` maps a kind to one value or a list; kinds without an identity rule are ignored
    and reported. Invalid values, unknown traits and bad trait values answer 422 with field paths.
    """
    store = api_store(request, store_id)
    result = profile_identify(
        store=store,
        identifiers=_pairs(payload.identifiers),
        traits=payload.traits,
        events=[event.dict() for event in payload.events],
        source=Source.api_key(request.auth.name),
    )
    return _result_out(result)


class IdentifyBatchIn(Schema):
    items: list[IdentifyIn]


class ItemError(Schema):
    loc: list
    msg: str


class IdentifyBatchItemOut(Schema):
    ok: bool
    result: IdentifyOut | None = None
    errors: list[ItemError] = []


class IdentifyBatchOut(Schema):
    results: list[IdentifyBatchItemOut]


BATCH_MAX = 1000


def _pairs(identifiers: dict) -> list[tuple[str, str]]:
    return [
        (kind, value)
        for kind, values in identifiers.items()
        for value in (values if isinstance(values, list) else [values])
    ]


def _note_out(note) -> dict:
    return {"code": note.code, "kind": note.kind, "value": note.value, "reason": note.message()}


def _result_out(result) -> dict:
    return {
        "profile_id": result.profile.pk,
        "created": result.created,
        "merged_profile_ids": result.merged_profile_ids,
        "added_identifiers": [f"{k}:{v}" for k, v in result.added],
        "dropped_identifiers": [_note_out(note) for note in result.dropped],
        "ignored_identifiers": [_note_out(note) for note in result.ignored],
        "blocked_merges": [
            {
                "code": note.code,
                "profile_id": note.profile,
                "identifiers": [f"{k}:{v}" for k, v in note.matching],
                "reason": note.message(),
            }
            for note in result.blocked_merges
        ],
        "changed_traits": result.changed_traits,
    }


@router.post(
    "/{store_id}/profiles/identify-batch", response=IdentifyBatchOut, summary="Identify up to 1,000 events at once"
)
def identify_batch(request, store_id: int, payload: IdentifyBatchIn):
    """Same outcome as calling identify for each item in order, in one transaction and far faster.

    Each item answers on its own: `ok` with the identify result, or `errors` with field paths
    (`["items", i, ...]`) for an invalid item, which changes nothing.
    """
    store = api_store(request, store_id)
    if len(payload.items) > BATCH_MAX:
        raise ValidationError([FieldError(f"At most {BATCH_MAX} items per batch.", ("items",))])
    results = profiles_identify_batch(
        store=store,
        items=[
            {"identifiers": _pairs(item.identifiers), "traits": item.traits, "events": [e.dict() for e in item.events]}
            for item in payload.items
        ],
        source=Source.api_key(request.auth.name),
    )
    out = []
    for position, result in enumerate(results):
        if isinstance(result, ValidationError):
            errors = [{"loc": ["body", "items", position, *e["loc"]], "msg": e["msg"]} for e in error_items(result)]
            out.append({"ok": False, "errors": errors})
        else:
            out.append({"ok": True, "result": _result_out(result)})
    return {"results": out}


def _query_error(name: str, message: str) -> NinjaValidationError:
    """A 422 naming the query parameter: ``{"loc": ["query", name], "msg": message}``."""
    return NinjaValidationError([{"loc": ["query", name], "msg": message}])


@router.get("/{store_id}/profiles", response=ProfileOut, summary="Find the profile holding an identifier")
def find_profile(request, store_id: int, identifier: str):
    """`identifier` is `kind:value`, e.g. `email:ada@example.com` or `phone:+14155552671`."""
    store = api_store(request, store_id)
    try:
        kind, value = identifier_reference(identifier, region=store.default_region)
    except ValueError as exc:
        raise _query_error("identifier", str(exc)) from None
    found = Identifier.objects.filter(store=store, kind=kind, value=value).values_list("profile_id", flat=True).first()
    profile = profile_resolve(store=store, profile_id=found) if found else None
    if profile is None:
        raise Http404("No profile holds that identifier.")
    return _profile_out(profile, profile.pk)


@router.get("/{store_id}/profiles/{profile_id}", response=ProfileOut, summary="Get a profile (tombstones resolve)")
def get_profile(request, store_id: int, profile_id: int):
    """A merged-away id answers the primary profile, with `merged_into` set to its id."""
    profile = profile_resolve(store=api_store(request, store_id), profile_id=profile_id)
    if profile is None:
        raise Http404("No such profile in this memory store.")
    return _profile_out(profile, profile_id)
