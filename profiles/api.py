from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Body, Field, Query, Router, Schema, Status
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import field_validator

from identity.models import Identifier
from identity.normalization import identifier_reference
from identity.search import PAGE_SIZE, profile_search
from identity.selectors import profile_identifiers, profile_merges, profile_merges_page
from identity.services import profile_identify, profile_traits_update, profiles_identify_batch
from memory_console.errors import FieldError, error_items
from memory_console.timestamps import TimestampError, timestamp_parse
from stores.api import api_store
from workspace.services import profile_erase

from .selectors import profile_events, profile_resolve
from .services import EVENTS_MAX, Source, profile_events_add

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


class ProfileSummaryOut(Schema):
    """A profile in a list: its traits and identifiers (events and merges: get the profile)."""

    id: int
    traits: dict[str, dict[str, Any]]
    identifiers: list[IdentifierOut]
    created_at: datetime
    updated_at: datetime


class SearchOut(Schema):
    mode: str = Field(
        description="How `q` was read: `all` (no q), `identifier` (any kind, or the one `kind:` named; plain "
        "words also match the start of Contact.firstName/lastName, accents and case ignored) or "
        "`trait` (`group.trait = value`, names in any case; an array trait matches by item)"
    )
    description: str = Field(description="The search as understood, e.g. `identifier = +14155550150`; empty for all")


class ProfilePageOut(Schema):
    """One page of live profiles (merged-away ones never appear), newest first."""

    profiles: list[ProfileSummaryOut]
    search: SearchOut
    next: int | None = Field(description="Pass as `after` for the next page; null on the last page")


PAGE_MAX = 100
ID_MAX = 2**63 - 1  # the largest id a database row can have (PostgreSQL bigint)


@router.get(
    "/{store_id}/profiles",
    response=ProfileOut | ProfilePageOut,
    summary="List and search profiles, or find the one holding an identifier",
)
def find_profile(
    request,
    store_id: int,
    identifier: str | None = Query(
        None,
        description="`kind:value`, e.g. `email:ada@example.com`: answers that one profile (a `ProfileOut`), or 404. "
        "Not with `q`, `after` or `limit`.",
    ),
    q: str = Query(
        "",
        description="The console's Profiles search: an identifier in any format (`(415) 555-0150`, "
        "`Ada@Example.com`), `kind:value`, `group.trait = value` (the value read by the trait's rule; group and "
        "trait names in any case; an array trait holds the value as an item), or the start of a first or last "
        "name (`jose` finds `José`). "
        "Empty: every profile.",
    ),
    after: int | None = Query(None, ge=1, le=ID_MAX, description="The `next` of the previous page"),
    limit: int = Query(PAGE_SIZE, ge=1, le=PAGE_MAX, description=f"Profiles per page, at most {PAGE_MAX}"),
):
    """Without `identifier`: a page of the store's live profiles, newest first (keyset pagination:
    pass the answer's `next` as `after`), all of them or those `q` finds, as the console's Profiles
    search reads it (`identity.search`). A `q` that cannot match (a malformed `kind:value`, a value
    the trait's type refuses, `group.trait = value` naming no trait of the store: "No trait
    Loyalty.nosuch in this store.") answers 422 at `["query", "q"]`.

    With `identifier` (`kind:value`): the profile holding it, as one `ProfileOut` (404 when none).
    """
    store = api_store(request, store_id)
    if identifier is not None:
        given = request.GET
        for name in ("q", "after", "limit"):
            if name in given:
                raise _query_error(name, f"`{name}` lists profiles; `identifier` finds one: send one or the other.")
        return _profile_by_identifier(store, identifier)
    page = profile_search(store=store, q=q, after=after, limit=limit)
    if page.search.mode == "invalid":
        raise _query_error("q", page.search.error)
    return {
        "profiles": [
            {
                "id": profile.pk,
                "traits": profile.traits,
                "identifiers": profile.identifier_list,
                "created_at": profile.created_at,
                "updated_at": profile.updated_at,
            }
            for profile in page.profiles
        ],
        "search": {"mode": page.search.mode, "description": page.search.description},
        "next": page.next_after,
    }


def _profile_by_identifier(store, identifier: str) -> dict:
    try:
        kind, value = identifier_reference(identifier, region=store.default_region)
    except ValueError as exc:
        raise _query_error("identifier", str(exc)) from None
    found = Identifier.objects.filter(store=store, kind=kind, value=value).values_list("profile_id", flat=True).first()
    profile = profile_resolve(store=store, profile_id=found) if found else None
    if profile is None:
        raise Http404("No profile holds that identifier.")
    return _profile_out(profile, profile.pk)


EXPORT_DESCRIPTION = (
    "The store's live profiles (all, or those `q` finds, as the Profiles search reads it) as a CSV file with "
    "the columns the CSV import takes: `identifier:KIND` (`identifier:KIND 2`, ... for further values of a kind) "
    "and `Group.trait`, one row per profile, newest first. Importing it (into this store or another with the "
    "same traits and identity rules) gives the same identifiers and trait values; see the README's CSV import "
    "and export section for the value rules and the formula escaping. Streamed (chunked transfer). A `q` that "
    'cannot match answers 422 at `["query", "q"]`.'
)


@router.get(
    "/{store_id}/profiles/export.csv",
    summary="Export profiles as CSV (all, or a search's matches)",
    description=EXPORT_DESCRIPTION,
    openapi_extra={
        "responses": {
            200: {
                "description": "The CSV file (UTF-8, comma separated, CRLF line ends)",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_profiles_csv(
    request,
    store_id: int,
    q: str = Query(
        "",
        description="The console's Profiles search (as for the profiles list); empty: every profile.",
    ),
):
    """`imports.export.export_csv_lines`, streamed as ``text/csv`` with a file name. Declared before
    ``/profiles/{profile_id}``, which would otherwise take ``export.csv`` for an id (422)."""
    from django.http import StreamingHttpResponse

    from imports.export import ExportQueryError, export_csv_lines

    store = api_store(request, store_id)
    try:
        lines = export_csv_lines(store=store, q=q)
    except ExportQueryError as exc:
        raise _query_error("q", str(exc)) from None
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="profiles-store-{store.pk}.csv"'
    return response


@router.get("/{store_id}/profiles/{profile_id}", response=ProfileOut, summary="Get a profile (tombstones resolve)")
def get_profile(request, store_id: int, profile_id: int):
    """A merged-away id answers the primary profile, with `merged_into` set to its id."""
    profile = profile_resolve(store=api_store(request, store_id), profile_id=profile_id)
    if profile is None:
        raise Http404("No such profile in this memory store.")
    return _profile_out(profile, profile_id)


def _live_profile(request, store_id: int, profile_id: int):
    """The live profile for an id of the key's store (a merged-away id: the profile it was merged
    into); 404 for another account's store or no such profile in this one."""
    profile = profile_resolve(store=api_store(request, store_id), profile_id=profile_id)
    if profile is None:
        raise Http404("No such profile in this memory store.")
    return profile


class TraitsUpdateOut(Schema):
    profile_id: int = Field(description="The profile changed (a merged-away id's primary)")
    changed_traits: list[str] = Field(description="`group.trait` of each value set, changed or removed")
    added_identifiers: list[str] = Field(description="`kind:value` identifiers mapped traits added")
    dropped_identifiers: list[NoteOut]
    ignored_identifiers: list[NoteOut]
    traits: dict[str, dict[str, Any]] = Field(description="Every trait value of the profile after the change")


TRAITS_BODY = Body(
    ...,
    description="`{group: {trait: value}}`: each value typed by its trait's rule (as identify's `traits`); "
    "`null` removes the trait. Traits not named keep their values. "
    'Example: `{"Contact": {"firstName": "Ada", "lastName": null}}`.',
)


@router.patch(
    "/{store_id}/profiles/{profile_id}", response=TraitsUpdateOut, summary="Set or remove trait values of a profile"
)
def update_profile_traits(request, store_id: int, profile_id: int, payload: dict[str, Any] = TRAITS_BODY):
    """Set the traits named, as the console's inline edit does: the same value rules, a value
    changed records the key as its source, a mapped trait's value also identifies the profile
    (`added_identifiers`; one held by another profile or over the rule's limit is reported in
    `dropped_identifiers`, never merged). All or nothing: an unknown group or trait, a group that is
    not an object, a value its type refuses answers 422 at `["body", group, trait]`. A merged-away
    id changes the profile it was merged into. Recorded on the Activity page (names, not values).
    """
    profile = _live_profile(request, store_id, profile_id)
    try:
        changed, result = profile_traits_update(
            profile=profile, values=payload, actor=request.auth, source=Source.api_key(request.auth.name)
        )
    except ValidationError as exc:  # the service locates errors at ("traits", ...): here the body is the traits
        raise ValidationError(
            [FieldError(item["msg"], _traits_loc(item["loc"])) for item in error_items(exc)]
        ) from None
    return {
        "profile_id": profile.pk,
        "changed_traits": changed,
        "added_identifiers": [f"{k}:{v}" for k, v in result.added],
        "dropped_identifiers": [_note_out(note) for note in result.dropped],
        "ignored_identifiers": [_note_out(note) for note in result.ignored],
        "traits": profile.traits,
    }


def _traits_loc(loc: list) -> tuple:
    return tuple(loc[1:]) if loc[:1] == ["traits"] else tuple(loc)


class EventsIn(Schema):
    events: list[EventIn] = Field(description=f"1 to {EVENTS_MAX:,} events, identify's event shape, stored in order")


class EventsOut(Schema):
    profile_id: int = Field(description="The profile the events were added to (a merged-away id's primary)")
    events: list[EventOut] = Field(description="The events as stored (names in NFC, timestamps in UTC)")


@router.post(
    "/{store_id}/profiles/{profile_id}/events",
    response={201: EventsOut},
    summary=f"Add up to {EVENTS_MAX:,} events to a profile",
)
def add_profile_events(request, store_id: int, profile_id: int, payload: EventsIn):
    """Append events to a known profile, by the rule identify's `events` follow. All or nothing: no
    events, more than 1,000, or an invalid one answers 422 naming each (`["body", "events", 3,
    "name"]`). A merged-away id adds them to the profile it was merged into. Recorded on the
    Activity page (count and names, not properties)."""
    profile = _live_profile(request, store_id, profile_id)
    stored = profile_events_add(
        profile=profile,
        events=[event.dict() for event in payload.events],
        actor=request.auth,
        source=Source.api_key(request.auth.name),
    )
    return Status(201, {"profile_id": profile.pk, "events": stored})


class MergeRecordOut(MergeOut):
    id: int = Field(description="The merge record's id: the cursor `after` takes")


class MergesPageOut(Schema):
    profile_id: int = Field(description="The profile whose history this is (a merged-away id's primary)")
    merges: list[MergeRecordOut] = Field(description="Profiles merged into this one, newest first")
    next: int | None = Field(description="Pass as `after` for the next page; null on the last page")


@router.get(
    "/{store_id}/profiles/{profile_id}/merges",
    response=MergesPageOut,
    summary="A profile's merge history: the profiles merged into it",
)
def list_profile_merges(
    request,
    store_id: int,
    profile_id: int,
    after: int | None = Query(None, ge=1, le=ID_MAX, description="The `next` of the previous page"),
    limit: int = Query(PAGE_SIZE, ge=1, le=PAGE_MAX, description=f"Merges per page, at most {PAGE_MAX}"),
):
    """What the profile page's merge history shows: each profile merged into this one, the
    identifiers that matched, the source that caused it and when, newest first. A merged-away id
    answers the history of the profile it was merged into."""
    profile = _live_profile(request, store_id, profile_id)
    records, following = profile_merges_page(profile=profile, after=after, limit=limit)
    return {"profile_id": profile.pk, "merges": records, "next": following}


class DeletionReceiptOut(Schema):
    profile_id: int = Field(description="The profile deleted (a merged-away id's primary: its tombstones went with it)")
    store_id: int
    deleted_at: datetime = Field(description="When, in UTC")
    counts: dict[str, int] = Field(
        description="Rows removed per kind: profiles (with merged_away_profiles), trait_values, identifiers, "
        "events, merge_records, observations, observation_revisions, extraction_decisions, summaries, "
        "evidence_links; conversations_unlinked counts the conversations kept without the profile"
    )


@router.delete(
    "/{store_id}/profiles/{profile_id}",
    response=DeletionReceiptOut,
    summary="Delete a profile and everything about it (right to erasure)",
)
def delete_profile(request, store_id: int, profile_id: int):
    """Erase a profile (`workspace.services.profile_erase`): its traits, identifiers, events, merge
    records, the profiles merged into it, its observations and summaries; its conversations stay,
    without it. A merged-away id erases the profile it was merged into. Answers the deletion receipt
    (ids and counts, no personal data), also kept on the Activity page. 404 for an unknown profile
    or another account's store."""
    profile = _live_profile(request, store_id, profile_id)
    return profile_erase(profile=profile, actor=request.auth).as_dict()
