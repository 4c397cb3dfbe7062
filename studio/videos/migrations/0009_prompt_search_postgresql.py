"""The prompt search index on PostgreSQL: a GIN index over each prompt's characters and pairs (studio/videos/search.py).

Plain SQL functions and an expression index: no extension, no superuser.
Nothing on other databases.
"""

from django.db import migrations

from studio.videos import search


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in search.POSTGRESQL_CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in search.POSTGRESQL_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("videos", "0008_prompt_search_sqlite")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
