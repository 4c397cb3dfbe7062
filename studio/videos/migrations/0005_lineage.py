"""Versions: how a generation was made from its parent, and the lineage the gallery stacks by.

Existing rows: a regeneration (a row with a parent) is marked "regenerated" and joins
its first ancestor's lineage; every other row starts a lineage of its own. The column is
added nullable, filled row by row (a callable default would give every row the same
value), then made required.
"""

import uuid

from django.db import migrations, models


def fill_lineages(apps, schema_editor):
    # On PostgreSQL the foreign keys are checked at commit (deferred): the updates
    # below would leave those checks pending, and the ALTER TABLE after them in
    # this migration's transaction refuses to run ("pending trigger events").
    # Checked at once, nothing is left pending.
    if schema_editor is not None and schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    Generation = apps.get_model("videos", "Generation")
    parents = dict(Generation.objects.values_list("pk", "parent_id"))
    lineages: dict[int, uuid.UUID] = {}

    def lineage_of(pk: int) -> uuid.UUID:
        chain = []
        while pk not in lineages and parents.get(pk) is not None and pk not in chain:
            chain.append(pk)
            pk = parents[pk]
        root = lineages.setdefault(pk, uuid.uuid4())
        for member in chain:
            lineages[member] = root
        return root

    for pk in parents:
        lineage_of(pk)
    for pk, lineage in lineages.items():
        Generation.objects.filter(pk=pk).update(lineage=lineage)
    Generation.objects.filter(parent__isnull=False).update(derivation="regenerated")
    if schema_editor is not None and schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0004_submit_attempted_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="derivation",
            field=models.CharField(
                blank=True,
                choices=[("", "New prompt"), ("regenerated", "Regenerated"), ("remixed", "Remixed")],
                default="",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="generation",
            name="lineage",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(fill_lineages, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="generation",
            name="lineage",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(fields=["lineage", "created", "id"], name="gen_lineage"),
        ),
    ]
