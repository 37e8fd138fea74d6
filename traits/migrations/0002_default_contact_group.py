from django.db import migrations

# Frozen copy of traits/defaults.py at the time of this migration.
GROUP = ("Contact", "How to reach the customer and what to call them.")
TRAITS = (
    ("firstName", "string", "The customer's first (given) name."),
    ("lastName", "string", "The customer's last (family) name."),
    ("phone", "string", "The customer's phone number as they gave it."),
    ("address", "string", "The customer's postal address."),
)


def seed_existing_stores(apps, schema_editor):
    Store = apps.get_model("stores", "Store")
    TraitGroup = apps.get_model("traits", "TraitGroup")
    Trait = apps.get_model("traits", "Trait")
    for store in Store.objects.all():
        group, created = TraitGroup.objects.get_or_create(
            store=store, name=GROUP[0], defaults={"description": GROUP[1], "is_default": True}
        )
        if created:
            for name, data_type, description in TRAITS:
                Trait.objects.create(
                    store=store, group=group, name=name, data_type=data_type, description=description,
                    is_default=True,
                )


class Migration(migrations.Migration):
    dependencies = [("traits", "0001_initial"), ("stores", "0002_store_default_region")]

    operations = [migrations.RunPython(seed_existing_stores, migrations.RunPython.noop)]
