"""Profile search (the Profiles page and the API's profile lookup): by identifier in any format,
`kind:value`, `group.trait = value` (group and trait names in any case), or a name (the start of
the Contact group's firstName or lastName, accents and case ignored), with keyset pagination.
Here, in identity, because it reads identifiers (and their normaliser) as well as profiles and traits.

Pagination is by id (newest first) with `after`/`before` cursors: each page is one index range
scan of (store_id, id) and never a full COUNT(*) of the store's profiles: the first page says how
many profiles a search matches when it is cheap to know (all of them fit the page, or a COUNT capped at
COUNT_CAP + 1 rows, shown as "1,000+").
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform

from memory_console.jsonvalues import dumps
from memory_console.text import text_nfc
from profiles.models import Profile
from stores.models import Store
from traits.coercion import DELETE, TraitValueError, coerce_trait_value
from traits.selectors import name_key, trait_by_path, trait_schema

from .models import Identifier, IdentityRule
from .normalization import IdentifierError, normalize_email, normalize_identifier

PAGE_SIZE = 50
DEFAULT_KINDS = ("phone", "email", "whatsappid", "chat")
# A capped count: up to this many matches are counted exactly, more are shown as "1,000+".
COUNT_CAP = 1_000
# The traits a name search reads (the default Contact traits, `traits.defaults`); the
# PostgreSQL expression indexes of migration profiles 0008 are on exactly these paths.
NAME_GROUP = "Contact"
NAME_TRAITS = ("firstName", "lastName")
NAME_MAX = 100  # a longer query is not searched as a name; PostgreSQL indexes a name's first 100 characters


@dataclass
class ProfileSearch:
    """What a search box query means, decided once and shown back to the user."""

    mode: str = "all"  # all | identifier | trait | invalid
    description: str = ""
    error: str = ""
    identifier_terms: list[tuple[str, str]] = field(default_factory=list)
    trait: tuple[str, str, str] | None = None  # group, trait, data type
    trait_value: object = None
    # Folded (`fold_name`) words a name search looks for: one word finds a firstName or lastName
    # starting with it; several find firstName starting with the first and lastName with the rest.
    name_words: list[str] = field(default_factory=list)


@dataclass
class ProfilePage:
    profiles: list
    search: ProfileSearch
    next_after: int | None
    prev_before: int | None
    # On a first page only, when cheap (see the module docstring): how many profiles match, and
    # whether that is a floor (more than COUNT_CAP). None when not counted.
    total: int | None = None
    total_capped: bool = False


def fold_name(text: str) -> str:
    """A name as a name search compares it: accents dropped (NFKD without combining marks) and
    lower-cased, so ``"José"`` and ``"JOSE"`` are both ``"jose"``. PostgreSQL computes the same
    with ``mc_fold`` (``lower(unaccent(...))``, migration profiles 0008); SQLite calls this
    function (registered as ``mc_fold`` on each connection, `identity.apps`)."""
    if not isinstance(text, str):
        return None
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


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


def _trait_by_path_any_case(schema, path: str):
    """(trait, error) for ``"group.trait"`` as typed: the exact names first (`trait_by_path`),
    else the names compared case-insensitively (NFC, `name_key`, then ``casefold``). The trait
    services refuse a group or trait name that differs from another only by case (``iexact``), but
    the database holds them unique only as spelled (and ``iexact`` on SQLite folds ASCII only), so
    if two still match, the error names them and asks for the exact spelling. (None, "") when
    nothing matches."""
    trait = trait_by_path(schema, path)
    if trait is not None:
        return trait, ""
    wanted = name_key(path)
    if not isinstance(wanted, str):
        return None, ""
    wanted = wanted.casefold()
    found = {}
    for group_name, traits in schema.items():
        for trait_name, candidate in traits.items():
            if f"{group_name}.{trait_name}".casefold() == wanted:
                found[candidate.pk] = candidate
    if len(found) > 1:
        names = ", ".join(sorted(t.path for t in found.values()))
        return None, f"{path} could be any of {names}: write the name with its capitals."
    return (next(iter(found.values())), "") if found else (None, "")


def _looks_like_trait_path(path: str, q: str) -> bool:
    """``Group.trait`` on the left of "=": a dot, no "@", and the whole query not an email
    (``first.last=x@example.com`` is one)."""
    if "." not in path or "@" in path or ":" in path:
        return False
    try:
        normalize_email(q)
    except (IdentifierError, ValueError):
        return True
    return False


_NAME_CHARS = re.compile(r"[^\W\d_]", re.UNICODE)  # a letter


def _name_words(q: str) -> list[str]:
    """The folded words of a name search, or [] when `q` cannot be a name (no letter, a digit, "@",
    longer than NAME_MAX characters)."""
    if len(q) > NAME_MAX or "@" in q or any(c.isdigit() for c in q) or not _NAME_CHARS.search(q):
        return []
    return fold_name(text_nfc(q)).split()


def parse_profile_query(*, store: Store, q: str) -> ProfileSearch:
    q = (q or "").strip()
    if not q:
        return ProfileSearch()
    # `group.trait = value`: split at the first "=" (a regular expression with a lazy group before
    # `\s*=` took time quadratic in a run of spaces, which a query string can hold).
    given_path, equals, given_value = q.partition("=")
    if equals and given_path:
        path = given_path.strip()
        trait, ambiguous = _trait_by_path_any_case(trait_schema(store=store), path)
        if ambiguous:
            return ProfileSearch(mode="invalid", error=ambiguous)
        if trait is None and _looks_like_trait_path(path, q):
            return ProfileSearch(mode="invalid", error=f"No trait {path} in this store.")
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
                description=f"{path} holds {raw}" if trait.data_type == "array" else f"{path} = {raw}",
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
    description = "identifier = " + " or ".join(shown)
    words = _name_words(q)
    if words:
        description += f" or name starting with {' '.join(words)}"
    return ProfileSearch(mode="identifier", description=description, identifier_terms=terms, name_words=words)


def _like_prefix(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _name_condition(words: list[str], table: str) -> tuple[str, list]:
    """SQL (and params) for a name search on profiles_profile (as `table`): the same expressions
    as the PostgreSQL indexes of migration profiles 0008 (``mc_fold`` of the text at a JSON path)."""
    if connection.vendor == "postgresql":
        # The first NAME_MAX characters, as the indexes hold them: a btree entry has a size limit
        # (about 2.7 kB), and a name may be up to 1 MB long. A prefix of at most NAME_MAX
        # characters starts the name exactly when it starts those.
        exprs = [f"left(mc_fold({table}.traits #>> '{{{NAME_GROUP},{name}}}'), {NAME_MAX})" for name in NAME_TRAITS]
    else:
        exprs = [f"mc_fold(json_extract({table}.traits, '$.{NAME_GROUP}.{name}'))" for name in NAME_TRAITS]
    first, last = exprs
    like = "{} LIKE %s ESCAPE '\\'"
    whole = " ".join(words)
    sql = f"({like.format(first)} OR {like.format(last)})"
    params = [_like_prefix(whole), _like_prefix(whole)]
    if len(words) > 1:
        sql = f"({sql} OR ({like.format(first)} AND {like.format(last)}))"
        params += [_like_prefix(words[0]), _like_prefix(" ".join(words[1:]))]
    return sql, params


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
        if search.name_words:
            # id IN (identifier matches UNION name matches): each side an index lookup (an OR in
            # the outer WHERE would make PostgreSQL walk the store's profiles newest first).
            name_sql, name_params = _name_condition(search.name_words, "named")
            named = (
                "SELECT named.id FROM profiles_profile named"
                f" WHERE named.store_id = %s AND named.merged_into_id IS NULL AND {name_sql}"
            )
            params = [store.pk, *name_params]
            if search.identifier_terms:
                id_sql, id_params = ids.order_by().query.sql_with_params()
                named, params = f"{id_sql} UNION {named}", [*id_params, *params]
            profiles = profiles.extra(where=[f"profiles_profile.id IN ({named})"], params=params)
        else:
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
        # A trait count on PostgreSQL would read every GIN match: only when the page holds them all.
        total = len(rows) if after is None and not has_older else None
        return ProfilePage(
            rows, search, rows[-1].pk if rows and has_older else None, rows[0].pk if after else None, total
        )
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
    total, capped = None, False
    if after is None and before is None:
        if not has_older:
            total = len(rows)
        elif search.mode == "identifier" or (search.mode == "trait" and connection.vendor != "postgresql"):
            counted = profiles.order_by()[: COUNT_CAP + 1].count()
            total, capped = min(counted, COUNT_CAP), counted > COUNT_CAP
        # Listing everything (no search) never counts: the store's size is not cheap to know.
    return ProfilePage(
        profiles=rows,
        search=search,
        next_after=rows[-1].pk if rows and has_older else None,
        prev_before=rows[0].pk if rows and has_newer else None,
        total=total,
        total_capped=capped,
    )


def _attach_identifiers(profiles: list[Profile]) -> None:
    by_profile: dict[int, list[Identifier]] = {p.pk: [] for p in profiles}
    if by_profile:
        for identifier in Identifier.objects.filter(profile_id__in=list(by_profile)).order_by("kind", "id"):
            by_profile[identifier.profile_id].append(identifier)
    for profile in profiles:
        profile.identifier_list = by_profile[profile.pk]
