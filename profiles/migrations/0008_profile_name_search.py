"""Indexes for the Profiles search by name (identity.search): the start of Contact.firstName or
Contact.lastName, accents and case ignored.

PostgreSQL: ``mc_fold(text)`` is ``lower(unaccent(text))`` declared IMMUTABLE (``unaccent`` itself
is only STABLE, as its dictionary could change, so it cannot appear in an index), and one btree
index per name on (store_id, left(mc_fold(name), 100) text_pattern_ops) over live profiles, which
serves ``LIKE 'prefix%'`` for prefixes of up to 100 characters (identity.search.NAME_MAX): a btree
entry is limited to about 2.7 kB, and a name can be up to 1 MB long (a whole name indexed made such
an import fail). A btree prefix index rather than a trigram one: the search is by prefix only,
and a btree is smaller and cheaper to keep up to date on every profile write. SQLite gets no
index (it registers ``mc_fold`` in Python on each connection, identity.apps).
"""

from django.db import migrations

NAMES = ("firstName", "lastName")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema_editor.execute(
        "CREATE OR REPLACE FUNCTION mc_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
        " AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$"
    )
    for name in NAMES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS profile_{name.lower()}_fold ON profiles_profile"
            f" (store_id, left(mc_fold(traits #>> '{{Contact,{name}}}'), 100) text_pattern_ops)"
            " WHERE merged_into_id IS NULL"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in NAMES:
        schema_editor.execute(f"DROP INDEX IF EXISTS profile_{name.lower()}_fold")
    schema_editor.execute("DROP FUNCTION IF EXISTS mc_fold(text)")


class Migration(migrations.Migration):
    dependencies = [("profiles", "0007_exact_json_numbers")]

    operations = [migrations.RunPython(create, drop)]
