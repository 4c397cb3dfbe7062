import hashlib
import uuid

from django.db import migrations, models
from django.utils import timezone


def hash_tokens(apps, schema_editor):
    """Each invitation gets a code and the sha256 of its token; the links mailed still work.

    An open invitation without an address cannot be accepted by anyone any more
    (only the invited address may): it is revoked, so the team sees it as such.
    """
    Invitation = apps.get_model("accounts", "Invitation")
    for invitation in Invitation.objects.all().only("pk", "token", "email", "accepted", "revoked"):
        invitation.code = uuid.uuid4()
        invitation.token_hash = hashlib.sha256(invitation.token.encode()).hexdigest()
        if not invitation.email and invitation.accepted is None and invitation.revoked is None:
            invitation.revoked = timezone.now()
        invitation.save(update_fields=["code", "token_hash", "revoked"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_team_gallery_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="code",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="invitation",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(hash_tokens, migrations.RunPython.noop),
    ]
