"""Resolve a chunk of validated CSV rows to profiles and write them in bulk.

The outcome equals calling `identity.services.profile_identify` for each row in file order (see
docs/ARCHITECTURE.md, "CSV import"), but the work is done per chunk: one query finds the
profiles already holding the chunk's identifiers, those are locked and loaded, the rows are
resolved in memory in file order (creating, matching and merging), and the result is written
with a handful of bulk statements (COPY on PostgreSQL). A profile created by one row and merged
into another by a later row of the same file is never written.
"""

from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.db import connection

from identity.models import Identifier, MergeRecord
from identity.resolution import RuleSet, new_age
from identity.resolution import plan as resolution_plan
from identity.services import merge_rows_move
from profiles.services import trait_values_apply, trait_values_fill
from profiles.stamps import SHARED
from traits.coercion import DELETE

from .chunkio import ChunkProfile, ChunkStatements
from .rows import RowFailure, note_failure
from .sqltext import compact_json, epoch_us


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
    profiles: dict  # id -> ChunkProfile, locked and loaded


@dataclass
class PendingWrite:
    """A resolved chunk, until it is written. `resolve_read` fills the part that does not depend on the
    ids of the profiles it creates, `prepare` gives those ids and builds the rest, `write` sends it."""

    new: list[ChunkProfile]  # created by the chunk, in creation order
    new_lines: list[str]  # their COPY lines, without the id
    dirty: list[ChunkProfile]
    update_text: str
    merges: list[tuple[ChunkProfile, ChunkProfile, list]]  # (from, into, matching identifiers), in order
    pairs: list[tuple[str, str, ChunkProfile]]  # new identifiers and the profile holding each at the end
    outcome: ChunkOutcome
    detached: list[tuple[str, str]] = field(default_factory=list)  # FIFO: stored identifiers to delete
    # filled by prepare()
    insert_text: str = ""
    identifier_rows: list[tuple[str, str, int]] = field(default_factory=list)
    merge_rows: list[tuple[int, int, list]] = field(default_factory=list)
    prepared: bool = False


class ChunkResolver(ChunkStatements):
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
        # Creation times are only compared: they are loaded as integers (microseconds since the
        # epoch), cheaper than building a datetime for every matched profile.
        self.created_now = epoch_us(now)
        self.stamp = [now.isoformat(), source]  # shared by every value this import writes
        # The trait sources of a profile whose every value this import wrote (profiles.stamps).
        self.own_sources_json = compact_json({SHARED: self.stamp})
        self.next_key = -1  # keys of profiles created and not yet given an id: -1, -2, ...
        self.sequence: str | None = None  # the profile id sequence (PostgreSQL)
        self.reset()

    def reset(self) -> None:
        """Forget the carried-over chunk: everything resolved so far is written (or rolled back)."""
        self.carry: dict[int, ChunkProfile] = {}
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
        self.pending_at: dict[tuple[str, str], int] = {}  # FIFO only: where a pair is in new_pairs
        self.unwritten: set[int] = set()  # FIFO only: positions in new_pairs detached again
        self.merges: list[tuple[int, int, list]] = []
        self.detached = []
        for line, row_pairs, typed, notes in rows:
            self._row(line, row_pairs, typed, notes)
        return self._pending()

    def _find(self, key: int) -> ChunkProfile:
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
        plan = resolution_plan(self.ruleset, pairs, holders, profiles, age=new_age(self.created_now, line))
        if plan.primary is None:
            primary = ChunkProfile(self.next_key, {}, {}, self.created_now, {}, new=True)
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
            fifo = self.ruleset.fifo
            for pair in plan.attach:
                owner[pair] = primary.key
                if fifo:
                    self.pending_at[pair] = len(self.new_pairs)
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

    def _materialize(self, profile: ChunkProfile) -> None:
        if profile.packed is not None:
            profile.traits = orjson.loads(profile.packed)
            profile.sources = {SHARED: self.stamp} if profile.traits else {}
            profile.packed = None

    def _merge(self, other: ChunkProfile, into: ChunkProfile, matching) -> None:
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
            position = self.pending_at.pop(pair, None)
            if position is not None:
                self.unwritten.add(position)
            else:
                self.detached.append(pair)

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
        attached = self.new_pairs
        if self.unwritten:
            attached = [entry for position, entry in enumerate(attached) if position not in self.unwritten]
        pairs = [(kind, value, self._find(key)) for (kind, value), key in attached]
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

    def _sources_json(self, profile: ChunkProfile) -> str:
        if profile.packed is not None:
            return self.own_sources_json if profile.packed != "{}" else "{}"
        if profile.sources == {SHARED: self.stamp}:
            return self.own_sources_json  # the usual case: built once per import
        return compact_json(profile.sources)
