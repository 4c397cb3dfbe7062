"""The prompt search index on SQLite: an FTS5 trigram table kept in step by triggers (studio/videos/search.py).

Nothing on other databases. Without FTS5 trigrams (SQLite before 3.34) it
creates nothing and search scans, as before.
"""

from django.db import migrations

from studio.videos import search


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    if not search.SQLITE_TRIGRAMS:
        print(  # noqa: T201 - migrate's own output is where this belongs
            "\n  SQLite has no FTS5 trigram tokenizer (needs 3.34+): prompt search will scan every prompt."
        )
        return
    with schema_editor.connection.cursor() as cursor:
        search.create_sqlite_index(cursor)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            search.drop_sqlite_index(cursor)


class Migration(migrations.Migration):
    dependencies = [("videos", "0007_comment_threads_ranges_drawings")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
