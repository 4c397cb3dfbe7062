from __future__ import annotations

from django.db import migrations, models


def remove_sweep_schedule(apps, schema_editor) -> None:
    """The sweep is its own process now (`manage.py sweep`): stop the old every-minute schedule."""
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(func="studio.videos.tasks.run_sweeps").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="claim_version",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(remove_sweep_schedule, migrations.RunPython.noop),
    ]
