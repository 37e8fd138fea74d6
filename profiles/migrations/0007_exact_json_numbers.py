"""Profile.traits and Event.properties read and write numbers exactly (memory_console.jsonvalues).

The encoder and decoder live in Python only: the columns do not change. State only, because
SQLite's schema editor would otherwise copy the whole profiles table to "alter" them.
"""

from django.db import migrations, models

import memory_console.jsonvalues


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0006_set_based_references"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="properties",
                    field=models.JSONField(
                        blank=True,
                        decoder=memory_console.jsonvalues.ExactJSONDecoder,
                        default=dict,
                        encoder=memory_console.jsonvalues.ExactJSONEncoder,
                    ),
                ),
                migrations.AlterField(
                    model_name="profile",
                    name="traits",
                    field=models.JSONField(
                        blank=True,
                        decoder=memory_console.jsonvalues.ExactJSONDecoder,
                        default=dict,
                        encoder=memory_console.jsonvalues.ExactJSONEncoder,
                    ),
                ),
            ],
        ),
    ]
