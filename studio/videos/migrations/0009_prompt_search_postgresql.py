"""The prompt search index on PostgreSQL: a GIN index over each prompt's characters and pairs (studio/videos/search.py).

Plain SQL functions and an expression index: no extension, no superuser.
Nothing on other databases. (0010 makes studio_prompt_grams faster.)
"""

from django.db import migrations

CREATE = [
    # Every character and pair of characters of the lowercased text (the last
    # character's "pair" is itself): what the GIN index holds per prompt.
    """CREATE OR REPLACE FUNCTION studio_prompt_grams(text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
        SELECT ARRAY(
            SELECT DISTINCT gram FROM (SELECT lower($1) AS t) AS s,
            generate_series(1, length(s.t)) AS i,
            LATERAL (VALUES (substr(s.t, i, 1)), (substr(s.t, i, 2))) AS g(gram)
        )
    $$""",
    # What a term needs the prompt to hold: its pairs, or its one character.
    """CREATE OR REPLACE FUNCTION studio_term_grams(text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE WHEN length($1) < 2 THEN ARRAY[lower($1)] ELSE ARRAY(
            SELECT DISTINCT substr(lower($1), i, 2) FROM generate_series(1, length($1) - 1) AS i
        ) END
    $$""",
    "CREATE INDEX IF NOT EXISTS gen_prompt_grams ON videos_generation USING gin (studio_prompt_grams(compiled_prompt))",
]
DROP = [
    "DROP INDEX IF EXISTS gen_prompt_grams",
    "DROP FUNCTION IF EXISTS studio_term_grams(text)",
    "DROP FUNCTION IF EXISTS studio_prompt_grams(text)",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("videos", "0008_prompt_search_sqlite")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
