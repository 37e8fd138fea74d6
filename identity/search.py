"""Profile search (the Profiles page and the API's profile lookup): by identifier in any format,
`kind:value`, or `group.trait = value`, with keyset pagination. Here, in identity, because it reads
identifiers (and their normaliser) as well as profiles and traits.

Pagination is by id (newest first) with `after`/`before` cursors: each page is one index range
scan of (store_id, id) and never a COUNT(*) of the store's profiles.
"""

import json
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform

from memory_console.jsonvalues import dumps
from profiles.models import Profile
from stores.models import Store
from traits.coercion import DELETE, TraitValueError, coerce_trait_value
from traits.selectors import trait_by_path, trait_schema

from .models import Identifier, IdentityRule
from .normalization import IdentifierError, normalize_identifier

PAGE_SIZE = 50
DEFAULT_KINDS = ("phone", "email", "whatsappid", "chat")


@dataclass
class ProfileSearch:
    """What a search box query means, decided once and shown back to the user."""

    mode: str = "all"  # all | identifier | trait | invalid
    description: str = ""
    error: str = ""
    identifier_terms: list[tuple[str, str]] = field(default_factory=list)
    trait: tuple[str, str, str] | None = None  # group, trait, data type
    trait_value: object = None


@dataclass
class ProfilePage:
    profiles: list
    search: ProfileSearch
    next_after: int | None
    prev_before: int | None


def _strip_quotes(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def store_identifier_kinds(*, store: Store) -> list[str]:
    kinds = list(DEFAULT_KINDS)
    for kind in IdentityRule.objects.filter(store=store).values_list("kind", flat=True):
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def parse_profile_query(*, store: Store, q: str) -> ProfileSearch:
    q = (q or "").strip()
    if not q:
        return ProfileSearch()
    # `group.trait = value`: split at the first "=" (a regular expression with a lazy group before
    # `\s*=` took time quadratic in a run of spaces, which a query string can hold).
    given_path, equals, given_value = q.partition("=")
    if equals and given_path:
        path = given_path.strip()
        trait = trait_by_path(trait_schema(store=store), path)
        if trait is not None:
            group_name = trait.group.name
            path = trait.path
            raw = _strip_quotes(given_value.strip())
            try:
                value = coerce_trait_value(trait.data_type, raw, label=path)
            except TraitValueError as exc:
                return ProfileSearch(mode="invalid", error=str(exc))
            if value is DELETE:
                return ProfileSearch(mode="invalid", error=f"Search for a value of {path}, not \\N.")
            if trait.data_type == "array":
                if isinstance(value, list) and len(value) == 1:
                    value = value[0]
                elif isinstance(value, list):
                    return ProfileSearch(mode="invalid", error=f"Search {path} for one item at a time.")
            return ProfileSearch(
                mode="trait",
                description=f"{path} = {raw}",
                trait=(group_name, trait.name, trait.data_type),
                trait_value=value,
            )
    kinds = store_identifier_kinds(store=store)
    region = store.default_region
    explicit_kind, _, rest = q.partition(":")
    if q.lower().startswith("whatsapp:"):
        explicit_kind, rest = "whatsappid", q
    if explicit_kind in kinds and rest.strip():
        try:
            value = normalize_identifier(explicit_kind, rest, region=region)
        except IdentifierError as exc:
            return ProfileSearch(mode="invalid", error=str(exc))
        return ProfileSearch(
            mode="identifier", description=f"{explicit_kind} = {value}", identifier_terms=[(explicit_kind, value)]
        )
    terms: list[tuple[str, str]] = []
    for kind in kinds:
        try:
            terms.append((kind, normalize_identifier(kind, q, region=region)))
        except IdentifierError:
            continue
    shown = sorted({value for _, value in terms})
    return ProfileSearch(mode="identifier", description="identifier = " + " or ".join(shown), identifier_terms=terms)


def _trait_filter(queryset, search: ProfileSearch):
    """Profiles whose trait equals the searched value (arrays: hold it as an item).

    Numbers match exactly on both databases, so one search gives one result: PostgreSQL compares
    JSONB numbers as ``numeric`` (``123456789012345678.5`` matches only itself, ``1`` not
    ``1.0000000000000001``). SQLite's JSON functions (``json_extract``/``json_each``) read a number
    as a 64-bit float (SQLite JSON1 documentation), so on SQLite 3.38 or later a searched number,
    boolean or null is compared by its JSON text instead: the ``->`` operator answers a stored
    value's text as written, and the trait rule (`traits.coercion`) gives each number one type
    and `memory_console.jsonvalues.dumps` one text (int digits, a float's shortest text, a
    normalised Decimal), on every path that writes (CSV import, API, console). Before 3.38 SQLite
    compares numbers as floats (``1`` also finds ``1.0000000000000001``).
    """
    group, trait, data_type = search.trait
    value = search.trait_value
    if connection.vendor == "postgresql":
        # jsonb @> uses the GIN (jsonb_path_ops) index; for arrays it means "contains the item".
        wrapped = [value] if data_type == "array" else value
        return queryset.filter(traits__contains={group: {trait: wrapped}})
    # The path as SQLite's JSON1 reads it: it compares a key with the stored JSON text of the key,
    # which `memory_console.jsonvalues.dumps` writes in UTF-8 (Django's KeyTransform would write
    # ``"Jos\u00e9"``, which finds no stored ``"José"``): JSON string escapes, non-ASCII as is.
    path = "$." + json.dumps(group, ensure_ascii=False) + "." + json.dumps(trait, ensure_ascii=False)
    by_text = not isinstance(value, str) and connection.Database.sqlite_version_info >= (3, 38)
    if data_type == "array":
        if by_text:  # a number, boolean or null item, by its JSON text (`->` on the item's full path)
            where = "(profiles_profile.traits -> json_each.fullkey) = %s"
            params = [path, dumps(value)]
        else:  # text: json_each.value is the item's text, and a number's a REAL (hence 3.38's `->` above)
            where, params = "json_each.value = %s", [path, value]
        return queryset.extra(
            where=[f"EXISTS (SELECT 1 FROM json_each(profiles_profile.traits, %s) WHERE {where})"], params=params
        )
    if by_text and not isinstance(value, bool):
        return queryset.extra(where=["(profiles_profile.traits -> %s) = %s"], params=[path, dumps(value)])
    if value is None:
        return queryset.alias(_trait_value=KeyTransform(trait, KeyTransform(group, "traits"))).filter(
            _trait_value=value
        )
    # What KeyTransform's exact lookup compiles to on SQLite, with the path above.
    return queryset.extra(
        where=["json_extract(profiles_profile.traits, %s) = json_extract(%s, '$')"], params=[path, dumps(value)]
    )


def profile_search_queryset(*, store: Store, search: ProfileSearch):
    """The live profiles a parsed search selects (unordered, unpaginated); None for an invalid search."""
    profiles = Profile.objects.filter(store=store, merged_into__isnull=True)
    if search.mode == "invalid":
        return None
    if search.mode == "identifier":
        condition = Q(pk__in=[])
        for kind, value in search.identifier_terms:
            condition |= Q(kind=kind, value=value)
        ids = Identifier.objects.filter(condition, store=store).values("profile_id")
        profiles = profiles.filter(pk__in=ids)
    elif search.mode == "trait":
        profiles = _trait_filter(profiles, search)
    return profiles


# How many of the newest profiles a trait search scans by id before it asks the GIN index.
TRAIT_WINDOW = 20_000


def _trait_rows_postgres(store: Store, search: ProfileSearch, after: int | None, limit: int) -> list[Profile]:
    """Newest-first trait matches with a bounded cost whatever the value's frequency.

    PostgreSQL cannot estimate how common a jsonb value is, so for `traits @> ...` ORDER BY id DESC it
    sometimes fetches and sorts every match of a common value through the GIN index (hundreds of ms
    at a million profiles). Instead: (1) look only at the newest TRAIT_WINDOW profiles by id, which
    finds a page of any value more common than limit/TRAIT_WINDOW; (2) if that is not enough, the
    value is rare, so ask the GIN index for the rest (an OFFSET 0 fence keeps it a bitmap scan).
    """
    newest = Profile.objects.filter(store=store, merged_into__isnull=True)
    if after is not None:
        newest = newest.filter(pk__lt=after)
    window = list(newest.order_by("-id").values_list("id", flat=True)[TRAIT_WINDOW - 1 : TRAIT_WINDOW])
    matches = _trait_filter(Profile.objects.filter(store=store, merged_into__isnull=True), search)
    in_window = matches.filter(pk__gte=window[0]) if window else matches
    if after is not None:
        in_window = in_window.filter(pk__lt=after)
    rows = list(in_window.order_by("-id")[:limit])
    if len(rows) == limit or not window:
        return rows
    group, trait, data_type = search.trait
    wanted = [search.trait_value] if data_type == "array" else search.trait_value
    rare = RawSQL(
        "SELECT id FROM profiles_profile WHERE store_id = %s AND merged_into_id IS NULL"
        " AND traits @> %s::jsonb OFFSET 0",
        [store.pk, dumps({group: {trait: wanted}})],
    )
    older = Profile.objects.filter(store=store, merged_into__isnull=True, pk__lt=window[0], pk__in=rare).order_by("-id")
    return rows + list(older[: limit - len(rows)])


def profile_search(
    *, store: Store, q: str = "", after: int | None = None, before: int | None = None, limit: int = PAGE_SIZE
) -> ProfilePage:
    search = parse_profile_query(store=store, q=q)
    profiles = profile_search_queryset(store=store, search=search)
    if profiles is None:
        return ProfilePage([], search, None, None)
    if before is None and search.mode == "trait" and connection.vendor == "postgresql":
        rows = _trait_rows_postgres(store, search, after, limit + 1)
        has_older = len(rows) > limit
        rows = rows[:limit]
        _attach_identifiers(rows)
        return ProfilePage(rows, search, rows[-1].pk if rows and has_older else None, rows[0].pk if after else None)
    if before is not None:
        rows = list(profiles.filter(pk__gt=before).order_by("id")[: limit + 1])
        has_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        has_older = True
    else:
        if after is not None:
            profiles = profiles.filter(pk__lt=after)
        rows = list(profiles.order_by("-id")[: limit + 1])
        has_older = len(rows) > limit
        rows = rows[:limit]
        has_newer = after is not None
    _attach_identifiers(rows)
    return ProfilePage(
        profiles=rows,
        search=search,
        next_after=rows[-1].pk if rows and has_older else None,
        prev_before=rows[0].pk if rows and has_newer else None,
    )


def _attach_identifiers(profiles: list[Profile]) -> None:
    by_profile: dict[int, list[Identifier]] = {p.pk: [] for p in profiles}
    if by_profile:
        for identifier in Identifier.objects.filter(profile_id__in=list(by_profile)).order_by("kind", "id"):
            by_profile[identifier.profile_id].append(identifier)
    for profile in profiles:
        profile.identifier_list = by_profile[profile.pk]
