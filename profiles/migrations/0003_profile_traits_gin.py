from django.db import migrations


def create_gin(apps, schema_editor):
    # Trait-equality search is `traits @> '{"group": {"trait": value}}'`; jsonb_path_ops makes it an
    # index lookup. SQLite has no GIN: it filters by key path instead (see profiles/selectors.py).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS profile_traits_gin ON profiles_profile USING gin (traits jsonb_path_ops)"
        )


def drop_gin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS profile_traits_gin")


class Migration(migrations.Migration):
    dependencies = [("profiles", "0002_profile_trait_sources_event")]

    operations = [migrations.RunPython(create_gin, drop_gin)]
