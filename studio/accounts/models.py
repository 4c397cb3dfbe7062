from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

INVITATION_LIFETIME = timedelta(days=7)


class Role(models.TextChoices):
    OWNER = "owner", pgettext_lazy("role", "Owner")
    ADMIN = "admin", pgettext_lazy("role", "Admin")
    CREATOR = "creator", pgettext_lazy("role", "Creator")
    REVIEWER = "reviewer", pgettext_lazy("role", "Reviewer")


ROLE_HELP = {
    Role.OWNER: _("Everything, including owners and the team's API key."),
    Role.ADMIN: _("Manages members, invitations and the team's API key."),
    Role.CREATOR: _("Writes prompts, generates and reviews videos."),
    Role.REVIEWER: _("Watches and comments; cannot generate or change reviews."),
}

# An invitation's state as the pages say it ("This invitation is expired.").
INVITATION_STATES = {
    "open": pgettext_lazy("invitation", "open"),
    "accepted": pgettext_lazy("invitation", "accepted"),
    "revoked": pgettext_lazy("invitation", "revoked"),
    "expired": pgettext_lazy("invitation", "expired"),
}


class Team(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    created = models.DateTimeField(default=timezone.now)
    # The team's own EvoLink key, Fernet-encrypted (see studio.lib.crypto);
    # only the last four characters are ever shown again.
    api_key_encrypted = models.TextField(blank=True, default="")
    api_key_last4 = models.CharField(max_length=4, blank=True, default="")
    api_key_set_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CREATOR)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]
        ordering = ["created"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    # What each role may do, named here only: views, templates and tests ask these.
    @property
    def is_manager(self) -> bool:
        """Owners and admins manage members, invitations and keys, and delete any video."""
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def can_generate(self) -> bool:
        """Writes prompts and generates; reviewers only watch and comment."""
        return self.role != Role.REVIEWER

    @property
    def can_review(self) -> bool:
        """May set a generation's review status (reviewers only comment)."""
        return self.can_generate

    def may_delete(self, *, author_id: int | None) -> bool:
        """Managers delete any video; those who generate delete their own."""
        return self.is_manager or (self.can_generate and author_id == self.user_id)

    def may_resolve(self, *, comment_author_id: int | None, video_author_id: int | None) -> bool:
        """Whoever wrote the comment, whoever made the video, and managers resolve (or reopen) it.

        Reviewers too, for their own comments: resolving is part of commenting.
        """
        return self.is_manager or self.user_id in (comment_author_id, video_author_id)


def invitation_token_hash(token: str) -> str:
    """What the database keeps of an invitation's token (like a callback token's)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _invitation_token() -> str:
    """Kept for migration 0001, which names it; tokens are made by Invitation.issue."""
    return secrets.token_urlsafe(24)


def _invitation_expiry():
    return timezone.now() + INVITATION_LIFETIME


class Invitation(models.Model):
    """An address invited to a team with a role, through a link mailed there.

    The link carries a random token; the row keeps only its sha256, so the
    database (a backup, the admin) holds no working link. Only an account with
    the invited address may accept it (services.accept_invitation).
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CREATOR)
    email = models.EmailField()
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=_invitation_expiry)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    # The token itself, on the instance that issued the invitation or was found by it only.
    token = ""

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Invitation to {self.team} as {self.role}"

    @property
    def is_usable(self) -> bool:
        return self.accepted is None and self.revoked is None and self.expires > timezone.now()

    @property
    def state(self) -> str:
        if self.accepted:
            return "accepted"
        if self.revoked:
            return "revoked"
        if self.expires <= timezone.now():
            return "expired"
        return "open"

    @property
    def state_display(self) -> str:
        return str(INVITATION_STATES[self.state])

    @classmethod
    def issue(cls, **fields) -> Invitation:
        """A new invitation, with its token on this instance (the row keeps the hash)."""
        token = secrets.token_urlsafe(24)
        invitation = cls.objects.create(token_hash=invitation_token_hash(token), **fields)
        invitation.token = token
        return invitation

    @classmethod
    def find(cls, queryset: models.QuerySet[Invitation], token: str) -> Invitation | None:
        """The invitation of a link's token, if any, carrying the token for its page's links."""
        invitation = queryset.filter(token_hash=invitation_token_hash(token)).first()
        if invitation is not None:
            invitation.token = token
        return invitation

    def is_for(self, email: str) -> bool:
        """Whether an account with this address is the one invited (addresses ignore case)."""
        return bool(self.email) and self.email.strip().lower() == email.strip().lower()

    def revoke(self) -> None:
        if self.revoked is None:
            self.revoked = timezone.now()
            self.save(update_fields=["revoked"])


class Profile(models.Model):
    """What the studio keeps about a person beyond Django's user: the language they chose.

    Blank until they sign up or sign in (then the language the pages were in) or pick one in
    the account menu. It decides the pages once they are signed in and the e-mails sent to them.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="studio_profile")
    language = models.CharField(max_length=16, blank=True, default="")

    def __str__(self) -> str:
        return f"Profile of {self.user}"
