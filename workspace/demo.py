"""Realistic demo profiles for `seed_demo`, `make run`'s demo store and the benchmarks.

Profiles, their identifiers and traits: above `profiles`, `identity` and `traits`, so here.

PostgreSQL takes the rows through COPY (a million profiles in well under a minute); SQLite gets
batched INSERTs. Values are drawn from a seeded RNG, so the same command gives the same data.
"""

import json
import random
from datetime import UTC, timedelta

from django.db import connection, transaction
from django.utils import timezone

from identity.models import Identifier
from profiles.models import Event, Profile
from profiles.stamps import SHARED
from stores.models import Store
from traits.models import Trait, TraitGroup
from traits.services import trait_create, trait_group_create

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Barbara",
    "Edsger",
    "Donald",
    "Ken",
    "Dennis",
    "Guido",
    "Katherine",
    "Hedy",
    "Radia",
    "Frances",
    "Tim",
    "Vint",
    "Sophie",
    "Yukihiro",
    "Bjarne",
    "Niklaus",
    "John",
    "Mary",
    "Anita",
    "Jean",
    "Shafi",
    "Leslie",
    "Whitfield",
    "Tony",
    "Carol",
    "Ivan",
    "Olga",
    "Amara",
    "Kwame",
    "Priya",
    "Mei",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Liskov",
    "Dijkstra",
    "Knuth",
    "Thompson",
    "Ritchie",
    "Rossum",
    "Johnson",
    "Lamarr",
    "Perlman",
    "Allen",
    "Berners-Lee",
    "Cerf",
    "Wilson",
    "Matsumoto",
    "Stroustrup",
    "Wirth",
    "McCarthy",
    "Keller",
    "Borg",
    "Sammet",
    "Goldwasser",
    "Lamport",
    "Diffie",
    "Hoare",
    "Widom",
    "Sutherland",
    "Okafor",
    "Mensah",
    "Sharma",
    "Chen",
]
STREETS = [
    "High Street",
    "Station Road",
    "Main Street",
    "Park Avenue",
    "Church Lane",
    "Mill Road",
    "King Street",
    "Queen's Road",
]
CITIES = [
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Lisbon",
    "Dublin",
    "Austin",
    "Denver",
    "Toronto",
    "Sydney",
    "Lagos",
    "Nairobi",
    "Mumbai",
    "Osaka",
]
AREA_CODES = (415, 628, 510, 650, 408, 707, 925, 831)
TIERS = ("bronze", "silver", "gold", "platinum")
TAGS = ("newsletter", "vip", "returns", "wholesale", "eco", "early-adopter")
EVENTS = ("order_placed", "page_viewed", "support_ticket_opened", "cart_abandoned", "review_written")
DEMO_GROUP = "Loyalty"
DEMO_TRAITS = (
    ("tier", "string", "Loyalty programme tier."),
    ("points", "number", "Points balance."),
    ("vip", "boolean", "Gets VIP handling."),
    ("tags", "array", "Marketing labels."),
)


def _ensure_demo_traits(store: Store) -> None:
    group = TraitGroup.objects.filter(store=store, name=DEMO_GROUP).first()
    if group is None:
        group = trait_group_create(store=store, actor=None, name=DEMO_GROUP, description="Loyalty programme data.")
    existing = set(Trait.objects.filter(group=group).values_list("name", flat=True))
    for name, data_type, description in DEMO_TRAITS:
        if name not in existing:
            trait_create(group=group, actor=None, name=name, data_type=data_type, description=description)


def _profile_rows(rng: random.Random, start: int, count: int, stamp: str, source: str):
    """(traits, sources, email, phone, whatsapp) for profiles number start..start+count-1."""
    for n in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        # Valid North American numbers (exchange 2xx), a million per area code.
        phone = f"+1{AREA_CODES[(n // 1_000_000) % len(AREA_CODES)]}2{n % 1_000_000:06d}"
        contact = {
            "firstName": first,
            "lastName": last,
            "phone": phone,
            "address": f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
        }
        loyalty = {
            "tier": rng.choice(TIERS),
            "points": rng.randint(0, 50_000),
            "vip": rng.random() < 0.05,
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
        }
        traits = {"Contact": contact, "Loyalty": loyalty}
        sources = {SHARED: [stamp, source]}  # every value written at once (profiles.stamps)
        email = f"{first}.{last}.{n}@example.com".lower()
        yield traits, sources, email, phone


def demo_profiles_seed(*, store: Store, count: int, seed: int = 1, events_per_profile: float = 0.2) -> int:
    """Add `count` demo profiles (with email and phone identifiers and some events) to `store`."""
    _ensure_demo_traits(store)
    rng = random.Random(seed)
    start = Identifier.objects.filter(store=store, kind="email").count()
    now = timezone.now()
    source = "demo:seed"
    if connection.vendor == "postgresql":
        _seed_postgres(store, rng, start, count, now, source, events_per_profile)
    else:
        _seed_orm(store, rng, start, count, now, source, events_per_profile)
    return count


def _seed_orm(store, rng, start, count, now, source, events_per_profile, batch=2000):
    stamp = now.isoformat()
    rows = _profile_rows(rng, start, count, stamp, source)
    done = 0
    while done < count:
        chunk = [next(rows) for _ in range(min(batch, count - done))]
        with transaction.atomic():
            profiles = Profile.objects.bulk_create(
                [Profile(store=store, traits=t, trait_sources=s) for t, s, _, _ in chunk]
            )
            identifiers, events = [], []
            for profile, (_, _, email, phone) in zip(profiles, chunk, strict=True):
                identifiers.append(Identifier(store=store, profile=profile, kind="email", value=email))
                identifiers.append(Identifier(store=store, profile=profile, kind="phone", value=phone))
                if rng.random() < events_per_profile:
                    events.append(
                        Event(
                            store=store,
                            profile=profile,
                            name=rng.choice(EVENTS),
                            source=source,
                            timestamp=now - timedelta(days=rng.randint(0, 365)),
                            properties={"demo": True},
                        )
                    )
            Identifier.objects.bulk_create(identifiers)
            Event.objects.bulk_create(events)
        done += len(chunk)


def _copy_value(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _seed_postgres(store, rng, start, count, now, source, events_per_profile, batch=100_000):
    stamp = now.isoformat()
    created = now.astimezone(UTC).isoformat()
    rows = _profile_rows(rng, start, count, stamp, source)
    done = 0
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor, for COPY
        while done < count:
            n = min(batch, count - done)
            # Reserve n ids in one call, so profiles and identifiers can be copied with known ids.
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('profiles_profile', 'id')) FROM generate_series(1, %s)", [n]
            )
            ids = [row[0] for row in cursor.fetchall()]
            chunk = [next(rows) for _ in range(n)]
            with raw.copy(
                "COPY profiles_profile (id, store_id, traits, trait_sources, created_at, updated_at) FROM STDIN"
            ) as copy:
                for pid, (traits, sources, _, _) in zip(ids, chunk, strict=True):
                    copy.write(
                        f"{pid}\t{store.pk}\t{_copy_value(traits)}\t{_copy_value(sources)}\t{created}\t{created}\n"
                    )
            with raw.copy(
                "COPY identity_identifier (store_id, profile_id, kind, value, created_at) FROM STDIN"
            ) as copy:
                for pid, (_, _, email, phone) in zip(ids, chunk, strict=True):
                    copy.write(f"{store.pk}\t{pid}\temail\t{_copy_value(email)}\t{created}\n")
                    copy.write(f"{store.pk}\t{pid}\tphone\t{phone}\t{created}\n")
            with raw.copy(
                "COPY profiles_event (store_id, profile_id, name, timestamp, properties, source, created_at) FROM STDIN"
            ) as copy:
                for pid in ids:
                    if rng.random() < events_per_profile:
                        when = (now - timedelta(days=rng.randint(0, 365))).astimezone(UTC).isoformat()
                        copy.write(
                            f'{store.pk}\t{pid}\t{rng.choice(EVENTS)}\t{when}\t{{"demo":true}}\t{source}\t{created}\n'
                        )
            done += n
        cursor.execute("ANALYZE profiles_profile")
        cursor.execute("ANALYZE identity_identifier")
