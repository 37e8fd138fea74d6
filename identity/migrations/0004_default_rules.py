from django.db import migrations

# Frozen copy of identity/defaults.py at the time of this migration.
DEFAULT_RULES = (("phone", "phone", 5), ("email", "email", 5), ("whatsappid", "whatsappid", 5), ("chat", "chat", 10))


def seed_existing_stores(apps, schema_editor):
    Store = apps.get_model("stores", "Store")
    IdentityRule = apps.get_model("identity", "IdentityRule")
    for store in Store.objects.all():
        taken = set(IdentityRule.objects.filter(store=store).values_list("kind", flat=True))
        for position, (name, kind, limit) in enumerate(DEFAULT_RULES, start=1):
            if kind not in taken:
                IdentityRule.objects.create(
                    store=store, name=name, kind=kind, limit=limit, priority=position, is_default=True
                )


class Migration(migrations.Migration):
    dependencies = [("identity", "0003_mergerecord_identityrule_mapped_traits_and_more"), ("stores", "0002_store_default_region")]

    operations = [migrations.RunPython(seed_existing_stores, migrations.RunPython.noop)]
