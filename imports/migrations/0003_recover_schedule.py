from django.db import migrations

NAME = "Recover interrupted CSV imports"


def create_schedule(apps, schema_editor):
    # Besides each worker start and each import task: an import whose worker died on a host where no
    # worker starts again (or whose task was lost) is requeued or failed within minutes, and its store
    # takes uploads again. imports_recover is idempotent, so several clusters may run it.
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "imports.tasks.imports_recover_task", "schedule_type": "I", "minutes": 5, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0002_import_pipeline"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
