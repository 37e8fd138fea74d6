"""Resolve a chunk of validated CSV rows to profiles and write them in bulk.

The outcome equals calling `identity.services.profile_identify` for each row in file order (see
docs/ARCHITECTURE.md, "CSV import"), but the work is done per chunk: one query finds the
profiles already holding the chunk's identifiers, those are locked and loaded, the rows are
resolved in memory in file order (creating, matching and merging), and the result is written
with a handful of bulk statements (COPY on PostgreSQL). A profile created by one row and merged
into another by a later row of the same file is never written.
"""

import re
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Count

from identity.models import Identifier, MergeRecord
from identity.resolution import RuleSet
from identity.resolution import plan as resolution_plan
from identity.selectors import identifier_ages, identifier_holders
from identity.services import merge_rows_move
from memory_console.jsonvalues import dumps_bytes, loads
from profiles.models import Profile
from profiles.services import trait_values_apply, trait_values_fill
from profiles.stamps import SHARED
from traits.coercion import DELETE

from .rows import RowFailure, note_failure


def compact_json(value) -> str:
    """JSON text for PostgreSQL, every number exact: orjson (7x faster than `json` on trait dicts; a
    million per import), with `Decimal`s and integers beyond 64 bits written as their exact digits
    (`memory_console.jsonvalues.dumps_bytes`)."""
    return dumps_bytes(value).decode()


def traits_from_json(text: str) -> dict:
    """A profile's traits as PostgreSQL answers them (JSON text), every number exact.

    orjson (four times faster; a decode per matched profile) reads a number as a 64-bit integer
    or a float, which would round ``123456789012345678.5``, ``1.0000000000000001`` or an integer
    beyond 64 bits. A float keeps every decimal number of at most 15 significant digits (IEEE 754
    binary64: 15 decimal digits survive the round trip) and JSONB writes numbers in plain notation,
    never with an exponent, so a number orjson could change has 16 digits, or 15 and a point, in a
    row: one scan for that (which also matches some long strings, harmlessly) sends such text to
    `memory_console.jsonvalues.loads`, which reads those numbers as `Decimal`s or ints.
    """
    if _INEXACT.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # e.g. NaN, which json accepts: its answer or its error
            pass
    return loads(text)


# [0-9], not \d: JSON numbers are ASCII; 35% faster. As cheap as the 19-digit scan it replaced.
_INEXACT = re.compile(r"[0-9][0-9.]{15}")


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PairFilter:
    """A Bloom filter of (kind, value) pairs: "seen" may be wrong (then a lookup is wasted), "not
    seen" never is. One probe into 32 bits per expected pair (4 MB per million; about 3% of
    unseen pairs look seen). Bulk methods: this runs for every identifier of an import."""

    def __init__(self, expected: int):
        self.size = max(1 << 13, expected * 32)
        self.bits = bytearray(self.size // 8 + 1)

    def add_all(self, pairs) -> None:
        bits, size = self.bits, self.size
        for pair in pairs:
            i = hash(pair) % size
            bits[i >> 3] |= 1 << (i & 7)

    def seen(self, pairs) -> set:
        """The pairs that may have been added."""
        bits, size = self.bits, self.size
        found = set()
        for pair in pairs:
            i = hash(pair) % size
            if bits[i >> 3] & (1 << (i & 7)):
                found.add(pair)
        return found


def _copy_text(text: str) -> str:
    """`text` as a field of PostgreSQL's COPY text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class _Profile:
    key: int  # the pk of an existing profile; negative for one this import creates
    traits: dict
    sources: dict
    created_at: object  # a datetime, or (PostgreSQL) microseconds since the epoch: only compared
    counts: dict
    new: bool
    dirty: bool = False
    merged_into: int | None = None
    packed: str | None = None  # traits JSON of a new profile not yet needed as a dict
    values: dict = field(default_factory=dict)  # FIFO kinds only: [(age, value)] oldest first (planner's Facts)

    @property
    def order(self):
        """Oldest first (the planner's `Facts.order`); profiles this import creates come after
        existing ones, in creation order."""
        return (self.created_at, self.new, -self.key if self.new else self.key)


@dataclass
class ChunkOutcome:
    updated_ids: list[int] = field(default_factory=list)  # existing profiles (not this import's) changed
    created_ids: list[int] = field(default_factory=list)  # profiles inserted
    merged_ids: list[int] = field(default_factory=list)  # profiles written as tombstones
    notes: list[RowFailure] = field(default_factory=list)  # dropped identifiers, blocked merges


@dataclass
class ChunkRead:
    pairs: set  # every identifier of the chunk's rows
    owner: dict  # (kind, value) -> id of the profile holding it in the database
    profiles: dict  # id -> _Profile, locked and loaded


@dataclass
class PendingWrite:
    """A resolved chunk, until it is written. `resolve_read` fills the part that does not depend on the
    ids of the profiles it creates, `prepare` gives those ids and builds the rest, `write` sends it."""

    new: list[_Profile]  # created by the chunk, in creation order
    new_lines: list[str]  # their COPY lines, without the id
    dirty: list[_Profile]
    update_text: str
    merges: list[tuple[_Profile, _Profile, list]]  # (from, into, matching identifiers), in order
    pairs: list[tuple[str, str, _Profile]]  # new identifiers and the profile holding each at the end
    outcome: ChunkOutcome
    detached: list[tuple[str, str]] = field(default_factory=list)  # FIFO: stored identifiers to delete
    # filled by prepare()
    insert_text: str = ""
    identifier_rows: list[tuple[str, str, int]] = field(default_factory=list)
    merge_rows: list[tuple[int, int, list]] = field(default_factory=list)
    prepared: bool = False


class ChunkResolver:
    """Resolves chunks in file order, each in steps: `read` (find, lock and load what the rows match),
    `adopt` and `resolve_read` (run the rows in memory), `prepare` (ids for the profiles the chunk
    creates) and `write`; `run` does them all at once.

    A chunk may be read before the previous one is written (see ChunkPipeline): the database then
    lags one chunk behind. What the previous chunk changed is carried over in memory (the
    profiles it creates, changes or merges away, and the holder of each of its identifiers) and
    answers before the database does; everything else the database answers as it would."""

    def __init__(self, *, store, rules, source: str, now: datetime, written: "PairFilter | None" = None):
        """`written`: given when the store held no identifiers as the import began. Then only pairs
        this import wrote can be held by anyone (a concurrent writer's pair makes the insert fail,
        and the chunk is redone with `full_lookup`), so pairs the filter has never seen skip the
        database lookup."""
        self.written = written
        self.store = store
        self.ruleset = RuleSet.of(rules, region=store.default_region)
        self.detached: list[tuple[str, str]] = []  # FIFO: stored identifiers to delete, this chunk
        self.source = source
        self.now = now
        self.postgres = connection.vendor == "postgresql"
        # Creation times are only compared: on PostgreSQL they are loaded as integers, cheaper than
        # building a datetime for every matched profile.
        self.created_now = _epoch_us(now) if self.postgres else now
        self.stamp = [now.isoformat(), source]  # shared by every value this import writes
        # The trait sources of a profile whose every value this import wrote (profiles.stamps).
        self.own_sources_json = compact_json({SHARED: self.stamp})
        self.next_key = -1  # keys of profiles created and not yet given an id: -1, -2, ...
        self.sequence: str | None = None  # the profile id sequence (PostgreSQL)
        self.reset()

    def reset(self) -> None:
        """Forget the carried-over chunk: everything resolved so far is written (or rolled back)."""
        self.carry: dict[int, _Profile] = {}
        self.carry_owner: dict[tuple[str, str], int] = {}
        self.carry_detached: set[tuple[str, str]] = set()  # FIFO: deleted by the carried-over chunk

    def run(self, rows: list[tuple[int, list, dict]], *, full_lookup: bool = False) -> ChunkOutcome:
        """Resolve and write `rows` ((line, *RowOk), in file order), all at once."""
        self.adopt(self.read(rows, full_lookup=full_lookup))
        pending = self.resolve_read(rows)
        self.prepare(pending)
        return self.write(pending)

    # -- resolution in memory -----------------------------------------------------------------

    def read(self, rows, *, full_lookup: bool = False) -> "ChunkRead":
        """Find, lock and load the profiles holding the rows' identifiers, as the database has them.
        Uses no state the resolution of another chunk changes: may run while one is resolved."""
        pairs = {pair for _, row_pairs, _, _ in rows for pair in row_pairs}
        lookup = pairs
        if self.written is not None and not full_lookup:
            lookup = self.written.seen(pairs)
        owner = self._holders(lookup)
        return ChunkRead(pairs, owner, self._load(set(owner.values())))

    def adopt(self, read: "ChunkRead") -> None:
        """Take a chunk's read, with what the chunk before it changed (carried over) answering first:
        the database may not hold that chunk's writes yet, or did not when it was read."""
        owner = read.owner
        for pair in self.carry_detached:
            owner.pop(pair, None)  # read before the chunk that deleted it was written
        carried = self.carry_owner
        if carried:
            owner.update({pair: carried[pair] for pair in read.pairs if pair in carried})
        profiles = dict(self.carry)
        for profile in profiles.values():
            profile.dirty = False  # its changes are on their way to the database
        for key, profile in read.profiles.items():
            profiles.setdefault(key, profile)
        self.owner = owner
        self.profiles = profiles

    def resolve_read(self, rows) -> PendingWrite:
        """Run the rows (after `read`) in memory, in file order; what to write."""
        self.outcome = ChunkOutcome()
        self.new_pairs: list[tuple[tuple[str, str], int]] = []
        self.merges: list[tuple[int, int, list]] = []
        self.detached = []
        for line, row_pairs, typed, notes in rows:
            self._row(line, row_pairs, typed, notes)
        return self._pending()

    def _find(self, key: int) -> _Profile:
        profile = self.profiles[key]
        while profile.merged_into is not None:
            profile = self.profiles[profile.merged_into]
        return profile

    def _row(self, line, pairs, typed, notes) -> None:
        """One row (RowOk's fields) in memory: plan it (`identity.resolution.plan`), then apply the
        plan to the chunk's profiles."""
        owner, profiles = self.owner, self.profiles
        holders = {}
        for pair in pairs:
            key = owner.get(pair)
            if key is not None:
                holders[pair] = self._find(key).key
        plan = resolution_plan(self.ruleset, pairs, holders, profiles, age=(self.created_now, line))
        if plan.primary is None:
            primary = _Profile(self.next_key, {}, {}, self.created_now, {}, new=True)
            profiles[primary.key] = primary
            self.next_key -= 1
        else:
            primary = profiles[plan.primary]
        for key, matching in plan.merges:
            self._merge(profiles[key], primary, matching)
        primary.counts = plan.counts
        if notes or plan.notes:
            self.outcome.notes += [note_failure(line, note) for note in (*notes, *plan.notes)]
        if plan.detach:
            primary.values = plan.values
            self._detach(plan.detach)
        elif self.ruleset.fifo:
            primary.values = plan.values
        if plan.attach:
            for pair in plan.attach:
                owner[pair] = primary.key
                self.new_pairs.append((pair, primary.key))
            primary.dirty = True
        if isinstance(typed, str):  # traits checked in a forked child, as orjson's text (pipeline._pack)
            if primary.new and primary.packed is None and not primary.traits:
                primary.packed = typed  # written as is unless a later row or a merge needs the dict
                return
            typed = orjson.loads(typed)  # orjson wrote it: every number reads back exactly
        self._materialize(primary)
        if not typed:
            pass
        elif primary.new and not primary.traits:
            # A profile this row created: every value is new, so no comparison is needed.
            for group, values in typed.items():
                kept = {name: value for name, value in values.items() if value is not DELETE}
                if kept:
                    primary.traits[group] = kept
                    primary.sources[SHARED] = self.stamp
        elif trait_values_apply(
            traits=primary.traits,
            sources=primary.sources,
            typed=typed,
            source=self.source,
            at=self.now,
            stamp=self.stamp,
        ):
            primary.dirty = True

    def _materialize(self, profile: _Profile) -> None:
        if profile.packed is not None:
            profile.traits = orjson.loads(profile.packed)
            profile.sources = {SHARED: self.stamp} if profile.traits else {}
            profile.packed = None

    def _merge(self, other: _Profile, into: _Profile, matching) -> None:
        self._materialize(other)
        self._materialize(into)
        trait_values_fill(
            traits=into.traits, sources=into.sources, other_traits=other.traits, other_sources=other.sources
        )
        into.dirty = True
        other.merged_into = into.key
        self.merges.append((other.key, into.key, list(matching)))

    def _detach(self, detach) -> None:
        """FIFO: take identifiers off their profile. One this import attached and has not written
        yet is simply not written; a stored one is deleted with the chunk's writes."""
        for pair, _ in detach:
            self.owner.pop(pair, None)
            for position, (attached, _) in enumerate(self.new_pairs):
                if attached == pair:
                    del self.new_pairs[position]
                    break
            else:
                self.detached.append(pair)

    # -- reading ------------------------------------------------------------------------------

    def _holders(self, pairs) -> dict[tuple[str, str], int]:
        if not pairs:
            return {}
        if self.postgres:
            ordered = sorted(pairs)  # index order: neighbouring probes
            kinds, values = zip(*ordered, strict=True)
            with connection.cursor() as cursor:
                # One index probe per pair, whatever the planner believes about the store: as a plain
                # join, a store that grew since its last ANALYZE looks tiny and gets scanned in full for
                # every chunk (quadratic over a big import). LIMIT 1 keeps the subquery a probe.
                # The pairs go as two JSON arrays (orjson writes them in C; psycopg's array adapter
                # costs more than the query) and come back as their position in `ordered`.
                cursor.execute(
                    "SELECT q.n, i.profile_id FROM ROWS FROM "
                    "(json_array_elements_text(%s::json), json_array_elements_text(%s::json)) "
                    "WITH ORDINALITY AS q(kind, value, n) "
                    "CROSS JOIN LATERAL (SELECT profile_id FROM identity_identifier WHERE store_id = %s "
                    "AND kind = q.kind AND value = q.value LIMIT 1) i",
                    [orjson.dumps(kinds).decode(), orjson.dumps(values).decode(), self.store.pk],
                )
                return {ordered[n - 1]: pid for n, pid in cursor.fetchall()}
        return identifier_holders(store=self.store, pairs=pairs)

    def _load(self, ids: set[int]) -> dict[int, _Profile]:
        """The matched profiles, locked in id order, with their identifier counts per kind."""
        if self.postgres:
            return self._load_postgres(sorted(ids))
        profiles: dict[int, _Profile] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 5000):
            batch = ordered[start : start + 5000]
            rows = (
                Profile.objects.select_for_update()
                .filter(store=self.store, pk__in=batch)
                .order_by("pk")
                .values_list("pk", "traits", "trait_sources", "created_at")
            )
            for pk, traits, sources, created_at in rows:
                profiles[pk] = _Profile(pk, traits or {}, sources or {}, created_at, {}, new=False)
            counts = (
                Identifier.objects.filter(profile_id__in=batch)
                .values("profile_id", "kind")
                .annotate(n=Count("id"))
                .values_list("profile_id", "kind", "n")
            )
            for pid, kind, n in counts:
                profiles[pid].counts[kind] = n
        self._load_values(profiles)
        return profiles

    def _load_values(self, profiles: dict[int, _Profile]) -> None:
        """FIFO kinds only: each profile's values of the kind, oldest first, as the planner wants them."""
        if not self.ruleset.fifo or not profiles:
            return
        for pid, kind, value, (created_at, pk) in identifier_ages(profile_ids=list(profiles), kinds=self.ruleset.fifo):
            age = (_epoch_us(created_at) if self.postgres else created_at, pk)
            profiles[pid].values.setdefault(kind, []).append((age, value))

    def _load_postgres(self, ordered: list[int]) -> dict[int, _Profile]:
        # Raw SQL: the ORM's per-row converters cost more than the query itself here.
        profiles: dict[int, _Profile] = {}
        if not ordered:
            return profiles
        ids = "{" + ",".join(map(str, ordered)) + "}"  # an array literal: cheaper than the list adapter
        with connection.cursor() as cursor:
            cursor.execute(
                # Not "store_id = %s AND ...": the planner then scans the store's rows instead of
                # probing the primary key. The ids come from this store's identifiers; checked below.
                "SELECT id, store_id, traits, trait_sources, (extract(epoch FROM created_at) * 1000000)::bigint "
                "FROM profiles_profile "
                "WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                [ids],
            )
            for pk, store_id, traits, sources, created_at in cursor.fetchall():
                if store_id != self.store.pk:  # pragma: no cover - identifiers never cross stores
                    raise AssertionError(f"profile {pk} is not in store {self.store.pk}")
                traits = traits_from_json(traits) if isinstance(traits, str) else traits
                # Stamps hold text only (profiles.stamps): no number for orjson to read differently.
                sources = orjson.loads(sources) if isinstance(sources, str) else sources
                profiles[pk] = _Profile(pk, traits or {}, sources or {}, created_at, {}, new=False)
            # Per profile through the (profile, kind) index, whatever the statistics say: planned as one
            # statement, a store grown since its last ANALYZE got a full scan of identifiers per chunk.
            cursor.execute(
                "SELECT q.id, c.kind, c.n FROM unnest(%s::bigint[]) AS q(id) CROSS JOIN LATERAL "
                "(SELECT kind, count(*) AS n FROM identity_identifier WHERE profile_id = q.id GROUP BY kind) c",
                [ids],
            )
            for pid, kind, n in cursor.fetchall():
                profiles[pid].counts[kind] = n
        self._load_values(profiles)
        return profiles

    # -- writing ------------------------------------------------------------------------------

    def _pending(self) -> PendingWrite:
        """The chunk's writes, as far as they do not depend on ids not yet given; and the carry-over
        for the next chunk, which may be resolved before these writes reach the database."""
        profiles = self.profiles
        new = [p for p in profiles.values() if p.new and p.merged_into is None]
        dirty = [p for p in profiles.values() if not p.new and p.merged_into is None and p.dirty]
        merges = []
        for from_key, into_key, matching in self.merges:
            source = profiles[from_key]
            if source.new:
                continue  # created and merged within this chunk: never written
            into = profiles[into_key]
            if into.new and into.merged_into is not None:  # never written: its final profile instead
                into = self._find(into_key)
            # An existing profile is written as merged into the profile it was merged into, even when
            # that one is merged away later: the later merge moves the tombstone on (one hop).
            merges.append((source, into, matching))
        # A new identifier goes to the profile holding it at the end of the chunk: the profile a row
        # attached it to may have been merged away by a later row.
        pairs = [(kind, value, self._find(key)) for (kind, value), key in self.new_pairs]
        if self.written is not None:
            self.written.add_all(pair for pair, _ in self.new_pairs)
        store, now = self.store.pk, self.now.isoformat()
        new_lines = []
        if self.postgres:
            # JSON text never holds a raw tab or line break, only backslashes to double.
            for profile in new:
                traits = profile.packed if profile.packed is not None else compact_json(profile.traits)
                sources = self._sources_json(profile)
                new_lines.append(f"\t{store}\t{traits}\t{sources}\t{now}\t{now}\n".replace("\\", "\\\\"))
        update_text = ""
        if self.postgres and dirty:
            update_text = "".join(
                [f"{p.key}\t{compact_json(p.traits)}\t{compact_json(p.sources)}\n".replace("\\", "\\\\") for p in dirty]
            )  # COPY text in one piece: psycopg's write_row costs more per row
        outcome = self.outcome
        outcome.updated_ids = [p.key for p in dirty if p.created_at != self.created_now]
        # Carried over: every profile these writes change, with merged ones pointing at their final
        # profile, and the final holder of each identifier the chunk saw that one of them holds.
        carry = {p.key: p for p in new}
        for p in dirty:
            carry[p.key] = p
        for source, _, _ in merges:
            source.merged_into = self._find(source.key).key
            carry[source.key] = source
        holder = {key: self._find(key).key for key in set(self.owner.values())}
        self.carry = carry
        self.carry_detached = set(self.detached)
        self.carry_owner = {pair: holder[key] for pair, key in self.owner.items() if holder[key] in carry}
        return PendingWrite(new, new_lines, dirty, update_text, merges, pairs, outcome, list(self.detached))

    def prepare(self, pending: PendingWrite) -> None:
        """Give the chunk's new profiles their ids (on SQLite: insert them), and build the writes
        that need ids. Must run before the next chunk is read; the database must not be busy."""
        new = pending.new
        ids = self._reserve_ids(new)
        rekey = {}
        for profile, pid in zip(new, ids, strict=True):
            rekey[profile.key] = pid
            profile.key = pid
            profile.new = False  # from now on an existing profile, as if loaded from the database
        if rekey and self.carry:  # the carry-over is this chunk's: its keys become the new ids
            self.carry = {profile.key: profile for profile in self.carry.values()}
            for profile in self.carry.values():
                if profile.merged_into is not None:
                    profile.merged_into = rekey.get(profile.merged_into, profile.merged_into)
            self.carry_owner = {pair: rekey.get(key, key) for pair, key in self.carry_owner.items()}
        if self.postgres:
            pending.insert_text = "".join([f"{pid}{line}" for pid, line in zip(ids, pending.new_lines, strict=True)])
        pending.identifier_rows = [(kind, value, profile.key) for kind, value, profile in pending.pairs]
        pending.merge_rows = [(source.key, into.key, matching) for source, into, matching in pending.merges]
        outcome = pending.outcome
        outcome.created_ids = list(ids)
        outcome.merged_ids = [from_id for from_id, _, _ in pending.merge_rows]
        pending.prepared = True

    def write(self, pending: PendingWrite) -> ChunkOutcome:
        """Send a prepared chunk's writes. Touches nothing the next chunk's resolution changes, so it
        may run in another thread meanwhile (on the same connection, which nothing else uses then)."""
        assert pending.prepared
        if pending.insert_text:
            self._copy_profiles(pending.insert_text)
        records = []
        for from_id, into_id, matching in pending.merge_rows:
            merge_rows_move(from_id=from_id, into_id=into_id, at=self.now)
            records.append(
                MergeRecord(
                    store=self.store,
                    from_profile_id=from_id,
                    into_profile_id=into_id,
                    matching_identifiers=[f"{k}:{v}" for k, v in matching],
                    source=self.source,
                )
            )
        MergeRecord.objects.bulk_create(records)
        for kind, value in pending.detached:
            Identifier.objects.filter(store=self.store, kind=kind, value=value).delete()
        self._insert_identifiers(pending.identifier_rows)
        self._update_profiles(pending.dirty, pending.update_text)
        return pending.outcome

    def _sources_json(self, profile: _Profile) -> str:
        if profile.packed is not None:
            return self.own_sources_json if profile.packed != "{}" else "{}"
        if profile.sources == {SHARED: self.stamp}:
            return self.own_sources_json  # the usual case: built once per import
        return compact_json(profile.sources)

    def _reserve_ids(self, new: list[_Profile]) -> list[int]:
        if not new:
            return []
        if self.postgres:
            with connection.cursor() as cursor:
                if self.sequence is None:
                    cursor.execute("SELECT pg_get_serial_sequence('profiles_profile', 'id')")
                    self.sequence = cursor.fetchone()[0]
                # The sequence by name, looked up once: pg_get_serial_sequence() in the query would run
                # for every row (it is not constant), nine times the cost of the nextval() calls.
                cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [self.sequence, len(new)])
                return [row[0] for row in cursor.fetchall()]
        for profile in new:
            self._materialize(profile)
        objects = [
            Profile(
                store=self.store,
                traits=profile.traits,
                trait_sources=profile.sources,
                created_at=self.now,
                updated_at=self.now,
            )
            for profile in new
        ]
        Profile.objects.bulk_create(objects, batch_size=500)
        # bulk_create stamps auto_now_add/auto_now fields with the clock, not with self.now: set them to
        # the import's time as COPY does, so a later chunk orders these profiles (oldest first, then by
        # id) before the ones it creates and does not count them as updated.
        ids = [obj.pk for obj in objects]
        for start in range(0, len(ids), 500):
            Profile.objects.filter(pk__in=ids[start : start + 500]).update(created_at=self.now, updated_at=self.now)
        return ids

    def _copy_profiles(self, text: str) -> None:
        _copy_in("COPY profiles_profile (id, store_id, traits, trait_sources, created_at, updated_at) FROM STDIN", text)

    def _insert_identifiers(self, rows: list[tuple[str, str, int]]) -> None:
        if not rows:
            return
        if self.postgres:
            store, now = self.store.pk, self.now.isoformat()
            text = "".join(
                [f"{store}\t{pid}\t{_copy_text(kind)}\t{_copy_text(value)}\t{now}\n" for kind, value, pid in rows]
            )
            _copy_in("COPY identity_identifier (store_id, profile_id, kind, value, created_at) FROM STDIN", text)
            return
        Identifier.objects.bulk_create(
            [
                Identifier(store=self.store, profile_id=pid, kind=kind, value=value, created_at=self.now)
                for kind, value, pid in rows
            ],
            batch_size=500,
        )

    def _update_profiles(self, dirty: list[_Profile], text: str) -> None:
        if not dirty:
            return
        if self.postgres:
            with connection.cursor() as cursor:
                # Statements without parameters go together, one round trip each group: every round trip
                # of a write thread waits for the interpreter lock the resolving thread holds.
                cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS import_profile_update "
                    "(id bigint, traits jsonb, trait_sources jsonb) ON COMMIT DROP; "
                    "TRUNCATE import_profile_update"
                )
                _copy_in("COPY import_profile_update (id, traits, trait_sources) FROM STDIN", text)
                # ANALYZE: the row count for the planner (an index join); the id column only: statistics of
                # the JSON columns cost ten times more and no plan uses them. Hash and merge joins off: one
                # primary-key probe per changed profile, whatever the table's size; costed by the planner,
                # a table of up to a few hundred thousand profiles (of all stores) looks cheaper to scan
                # whole and hash, which took a third longer per chunk (measured at 200,000). The time is
                # the import's own, written as a literal so the statements need no parameters.
                cursor.execute(
                    "ANALYZE import_profile_update (id); "
                    "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                    "UPDATE profiles_profile p SET traits = u.traits, trait_sources = u.trait_sources, "
                    f"updated_at = '{self.now.isoformat()}'::timestamptz FROM import_profile_update u "
                    "WHERE p.id = u.id; "
                    "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT"
                )
            return
        objects = [
            Profile(pk=p.key, store=self.store, traits=p.traits, trait_sources=p.sources, updated_at=self.now)
            for p in dirty
        ]
        Profile.objects.bulk_update(objects, ["traits", "trait_sources", "updated_at"], batch_size=500)


class ChunkPipeline:
    """Overlaps the database with the worker: on PostgreSQL a thread, on the import's connection,
    writes chunk k-1 and then reads (locks and loads) chunk k+1, while the worker resolves chunk k in
    memory and gathers the rows of the next chunk.

    The connection is never used by both threads at once: the worker touches it only between two
    jobs (ids for the resolved chunk, savepoints). Chunk k+1 is read before chunk k is written, so
    what chunk k changes is carried over in memory and answers first (`ChunkResolver.adopt`). Each
    write runs in a savepoint: a write that loses a race for an identifier (IntegrityError) is
    rolled back and its chunk redone with a full lookup; the chunks resolved or read after it are
    then fed again. On SQLite, whose connections stay in their thread, each job runs at once."""

    def __init__(self, resolver: ChunkResolver, *, on_written, attempts: int, threaded: bool):
        self.resolver = resolver
        self.on_written = on_written  # called with (rows, outcome) once a chunk is written, in order
        self.attempts = attempts
        self.threaded = threaded
        self.resolved: tuple[list, PendingWrite] | None = None  # resolved, not yet handed to a write
        self.job: _Job | None = None
        self.shared = None  # the connection, while shared with job threads
        self.switch_interval = sys.getswitchinterval()

    def add(self, rows: list) -> None:
        self._step(rows)

    def finish(self) -> None:
        while self.job is not None or self.resolved is not None:
            self._step(None)

    def close(self) -> None:
        """Wait for a job still running (after an error elsewhere), before anything else uses the
        connection; stop sharing it."""
        thread = self.job.thread if self.job is not None else None
        if thread is not None and thread.ident is not None:  # started (start() itself may have failed)
            thread.join()
        self.job = None
        if self.shared is not None:
            self.shared.dec_thread_sharing()
            self.shared = None
            sys.setswitchinterval(self.switch_interval)

    def _step(self, rows: list | None) -> None:
        """Wait for the job; start the next (write the resolved chunk, read `rows`); resolve the
        chunk the finished job read."""
        done = self.job  # cleared by _settle once its thread is joined: close() must still see it
        read = self._settle(done) if done is not None else None
        if read is _REDONE:
            if rows is not None:
                self._step(rows)
            return
        write = None
        if self.resolved is not None:
            (written_rows, pending), self.resolved = self.resolved, None
            savepoint = transaction.savepoint()
            self.resolver.prepare(pending)  # ids: before the next chunk is adopted and the write sent
            write = (written_rows, pending, savepoint)
        if write is not None or rows is not None:
            self._start(_Job(write, rows))
        if read is not None:
            self.resolver.adopt(read)
            self.resolved = (done.rows, self.resolver.resolve_read(done.rows))

    def _start(self, job: "_Job") -> None:
        if not self.threaded:
            job.run(self.resolver)
            self.job = job
            return
        if self.shared is None:
            self.shared = connections[DEFAULT_DB_ALIAS]
            self.shared.inc_thread_sharing()
            # The job thread mostly waits on the database; each time it gets an answer it needs the
            # interpreter lock, which the resolving thread hands over only every switch interval
            # (5 ms by default): a millisecond while jobs run.
            sys.setswitchinterval(min(self.switch_interval, 0.001))
        shared = self.shared

        def run() -> None:
            connections[DEFAULT_DB_ALIAS] = shared  # this thread's queries go to the import's connection
            job.run(self.resolver)

        job.thread = threading.Thread(target=run, name="import-database", daemon=True)
        self.job = job
        job.thread.start()

    def _settle(self, job: "_Job"):
        """The finished job's read; or _REDONE after redoing a chunk whose write lost a race."""
        if job.thread is not None:
            job.thread.join()
        self.job = None
        if job.write is not None:
            written_rows, pending, savepoint = job.write
            if job.error is None:
                transaction.savepoint_commit(savepoint)
                self.on_written(written_rows, pending.outcome)
            else:
                _rollback_to(savepoint, job.error)
                if not isinstance(job.error, IntegrityError) or self.attempts < 2:
                    raise job.error
                self._redo(written_rows, job)
                return _REDONE
        if job.error is not None:
            raise job.error
        return job.read

    def _redo(self, rows: list, job: "_Job") -> None:
        """Redo a chunk whose write lost a race, then feed again the chunks resolved or read since
        (against writes now rolled back)."""
        later = [self.resolved[0]] if self.resolved is not None else []
        if job.rows is not None:
            later.append(job.rows)
        self.resolved = None
        self.resolver.reset()  # the database now holds every write before this chunk
        for attempt in range(1, self.attempts):
            savepoint = transaction.savepoint()
            try:
                outcome = self.resolver.run(rows, full_lookup=True)
            except IntegrityError as exc:
                _rollback_to(savepoint, exc)
                self.resolver.reset()
                if attempt == self.attempts - 1:
                    raise
                continue
            transaction.savepoint_commit(savepoint)
            self.on_written(rows, outcome)
            break
        for chunk in later:
            self._step(chunk)


_REDONE = object()


class _Job:
    """One turn of the database: write a prepared chunk (in its savepoint), then read the next."""

    def __init__(self, write, rows):
        self.write = write  # (rows, PendingWrite, savepoint) or None
        self.rows = rows  # the rows to read, or None
        self.read: ChunkRead | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def run(self, resolver: ChunkResolver) -> None:
        try:
            if self.write is not None:
                resolver.write(self.write[1])
            if self.rows is not None:
                self.read = resolver.read(self.rows)
        except BaseException as exc:  # noqa: BLE001 - raised in the worker's thread by _settle
            self.error = exc


def _copy_in(statement: str, text: str) -> None:
    """Send `text` (COPY text format, built in one piece: psycopg's write_row costs more per row)
    with `COPY ... FROM STDIN`, through psycopg's cursor but inside Django's error wrapping, which
    turns a UniqueViolation into django.db.IntegrityError so the chunk is redone."""
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        copy.write(text)


def _rollback_to(savepoint, error: BaseException) -> None:
    """Undo a chunk's writes after `error`, as leaving an atomic block with an error does: an error
    inside one of Django's own savepoint-less blocks (bulk_create's) marked the whole transaction
    for rollback, but after the rollback to this savepoint the transaction is sound again. If the
    rollback fails too (a broken connection), `error` is raised: it names the cause."""
    transaction.set_rollback(False)  # first: no statement runs while it is set, the rollback neither
    try:
        transaction.savepoint_rollback(savepoint)
    except DatabaseError:
        transaction.set_rollback(True)
        raise error  # noqa: B904 - the rollback's own failure stays attached as the context
