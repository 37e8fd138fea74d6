"""The database statements of a CSV import's chunk: find the holders of its identifiers, lock and
load the profiles they belong to, reserve ids, insert and update in bulk (COPY on PostgreSQL, the
executemany on SQLite). `imports.engine.ChunkResolver` does the resolution in memory."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from django.db import connection

from identity.resolution import stored_age
from identity.selectors import identifier_ages, identifier_holders

from .sqltext import compact_json, copy_in, copy_text, epoch_us, traits_from_json


@dataclass
class ChunkProfile:
    """A profile as a chunk's resolution holds it in memory (the planner's `Facts`)."""

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


class ChunkStatements:
    """Mixed into `ChunkResolver`: uses its `store`, `now`, `postgres`, `ruleset`, `sequence`."""

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

    def _load(self, ids: set[int]) -> dict[int, ChunkProfile]:
        """The matched profiles, locked in id order, with their identifier counts per kind."""
        if self.postgres:
            return self._load_postgres(sorted(ids))
        # SQLite: the step's transaction holds the database's one write lock, so nothing to lock
        # per row. Raw SQL, as on PostgreSQL: the ORM's per-row converters cost more than the query.
        profiles: dict[int, ChunkProfile] = {}
        ordered = sorted(ids)
        with connection.cursor() as cursor:
            for start in range(0, len(ordered), 5000):
                batch = ordered[start : start + 5000]
                marks = ", ".join(["%s"] * len(batch))
                cursor.execute(
                    "SELECT id, store_id, traits, trait_sources, created_at FROM profiles_profile "
                    f"WHERE id IN ({marks}) ORDER BY id",
                    batch,
                )
                for pk, store_id, traits, sources, created_at in cursor.fetchall():
                    if store_id != self.store.pk:  # pragma: no cover - identifiers never cross stores
                        raise AssertionError(f"profile {pk} is not in store {self.store.pk}")
                    profiles[pk] = ChunkProfile(
                        pk,
                        traits_from_json(traits) or {},
                        orjson.loads(sources) or {},
                        epoch_us(_aware(created_at)),
                        {},
                        new=False,
                    )
                cursor.execute(
                    f"SELECT profile_id, kind, count(*) FROM identity_identifier WHERE profile_id IN ({marks}) "
                    "GROUP BY profile_id, kind",
                    batch,
                )
                for pid, kind, n in cursor.fetchall():
                    profiles[pid].counts[kind] = n
        self._load_values(profiles)
        return profiles

    def _load_values(self, profiles: dict[int, ChunkProfile]) -> None:
        """FIFO kinds only: each profile's values of the kind, oldest first, as the planner wants them."""
        if not self.ruleset.fifo or not profiles:
            return
        for pid, kind, value, (created_at, pk) in identifier_ages(profile_ids=list(profiles), kinds=self.ruleset.fifo):
            age = stored_age(epoch_us(_aware(created_at)), pk)
            profiles[pid].values.setdefault(kind, []).append((age, value))

    def _load_postgres(self, ordered: list[int]) -> dict[int, ChunkProfile]:
        # Raw SQL: the ORM's per-row converters cost more than the query itself here.
        profiles: dict[int, ChunkProfile] = {}
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
                profiles[pk] = ChunkProfile(pk, traits or {}, sources or {}, created_at, {}, new=False)
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

    def _reserve_ids(self, new: list[ChunkProfile]) -> list[int]:
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
        # SQLite: the ids are given here, under the write lock the chunk's transaction holds (nobody
        # else can take one meanwhile), following AUTOINCREMENT's counter, which the insert moves on.
        # One executemany of plain rows, as COPY does on PostgreSQL: Django's bulk_create prepared
        # every field of every row, most of a SQLite import's time. The JSON text is the one COPY
        # sends (`compact_json`, numbers exact), the time the import's own, in Django's SQLite form.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'profiles_profile'), 0), "
                "coalesce(max(id), 0)) + 1 FROM profiles_profile"
            )
            first = cursor.fetchone()[0]
            ids = list(range(first, first + len(new)))
            store, now = self.store.pk, connection.ops.adapt_datetimefield_value(self.now)
            cursor.executemany(
                "INSERT INTO profiles_profile (id, store_id, traits, trait_sources, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        pid,
                        store,
                        profile.packed if profile.packed is not None else compact_json(profile.traits),
                        self._sources_json(profile),
                        now,
                        now,
                    )
                    for pid, profile in zip(ids, new, strict=True)
                ],
            )
        return ids

    def _copy_profiles(self, text: str) -> None:
        copy_in("COPY profiles_profile (id, store_id, traits, trait_sources, created_at, updated_at) FROM STDIN", text)

    def _insert_identifiers(self, rows: list[tuple[str, str, int]]) -> None:
        if not rows:
            return
        if self.postgres:
            store, now = self.store.pk, self.now.isoformat()
            text = "".join(
                [f"{store}\t{pid}\t{copy_text(kind)}\t{copy_text(value)}\t{now}\n" for kind, value, pid in rows]
            )
            copy_in("COPY identity_identifier (store_id, profile_id, kind, value, created_at) FROM STDIN", text)
            return
        store, now = self.store.pk, connection.ops.adapt_datetimefield_value(self.now)
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO identity_identifier (store_id, profile_id, kind, value, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(store, pid, kind, value, now) for kind, value, pid in rows],
            )

    def _update_profiles(self, dirty: list[ChunkProfile], text: str) -> None:
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
                copy_in("COPY import_profile_update (id, traits, trait_sources) FROM STDIN", text)
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
        # SQLite: one executemany of the JSON text COPY would send (numbers exact), without building
        # a model instance and preparing its fields for each changed profile.
        now = connection.ops.adapt_datetimefield_value(self.now)
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE profiles_profile SET traits = %s, trait_sources = %s, updated_at = %s WHERE id = %s",
                [(compact_json(p.traits), compact_json(p.sources), now, p.key) for p in dirty],
            )


def _aware(moment) -> datetime:
    """A creation time as the database gave it, in UTC: SQLite's are naive (Django stores UTC)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
