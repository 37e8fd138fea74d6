"""Shared set-up for benchmark scripts: Django on the bench PostgreSQL database (or, for the
import benchmark's SQLite mode, on the SQLite file DATABASE_URL names)."""

import os
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/memory_console_bench"


def django_on_bench_database(*, sqlite: bool = False):
    """Set Django up on DATABASE_URL (the bench PostgreSQL database by default) and migrate every
    database alias the settings define (`manage.py migrate --database ALIAS` for each), creating a
    missing PostgreSQL database first. `sqlite=True` accepts a `sqlite:///path` URL as well."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memory_console.settings")
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres") and not (sqlite and url.startswith("sqlite")):
        sys.exit("The benchmarks measure PostgreSQL: set DATABASE_URL=postgres://...")
    from django.conf import settings

    for database in settings.DATABASES.values():
        if database["ENGINE"].startswith("django.db.backends.postgresql"):
            _create_database_if_missing(database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    for alias in connections:
        call_command("migrate", database=alias, verbosity=0)


def _create_database_if_missing(database: dict) -> None:
    import psycopg

    name = database["NAME"]
    with psycopg.connect(
        host=database.get("HOST") or None,
        port=database.get("PORT") or 5432,
        user=database.get("USER") or "postgres",
        password=database.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def median_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000


def fresh_database(name: str) -> str:
    """DATABASE_URL's server with a new, empty database `name` (dropped first if it exists)."""
    import psycopg

    base = urllib.parse.urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if not base.scheme.startswith("postgres"):
        sys.exit("This benchmark measures PostgreSQL: leave DATABASE_URL unset or set it to postgres://...")
    with psycopg.connect(
        host=base.hostname or "127.0.0.1",
        port=base.port or 5432,
        user=base.username or "postgres",
        password=base.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urllib.parse.urlunsplit(base._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(url)
    with psycopg.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password,
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
