"""Team and membership changes that span models or need rules enforced."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from studio.accounts import languages
from studio.accounts.models import Invitation, Membership, Role, Team


class TeamRuleError(Exception):
    """A change that would break a team rule; its message is shown to the person."""


def create_team(*, owner: User, name: str) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def default_team_name(user: User) -> str:
    first = user.first_name or user.email.split("@")[0]
    return _("%(name)s's team") % {"name": first}


@transaction.atomic
def create_account(*, name: str, email: str, password: str, invitation: Invitation | None = None) -> User:
    """A new person. Without an invitation they get a team of their own to own.

    With an invitation they join that team instead: someone invited to review a
    team's videos expects to land there, not in an empty team of their own.
    """
    first, _space, last = name.strip().partition(" ")
    user = User.objects.create_user(email, email, password, first_name=first, last_name=last)
    if invitation is not None and invitation.is_usable:
        accept_invitation(invitation=invitation, user=user)
    else:
        create_team(owner=user, name=default_team_name(user))
    return user


def invite(*, team: Team, by: Membership, role: str, email: str) -> Invitation:
    """A new invitation for one address; its token (for the link) is on the instance returned."""
    if role == Role.OWNER and by.role != Role.OWNER:
        raise TeamRuleError(_("Only an owner can invite another owner."))
    return Invitation.issue(team=team, role=role, email=email.strip().lower(), invited_by=by.user)


def invitation_language(invitation: Invitation) -> str:
    """The language an invitation is written in: the invited person's when they already have an
    account, else the inviter's (a colleague who invites usually shares a language with the one
    invited); the page the link opens then follows the invited person's own browser."""
    return (
        languages.language_for_address(invitation.email)
        or (languages.saved_language(invitation.invited_by) if invitation.invited_by else "")
        or languages.supported(translation.get_language())
        or settings.LANGUAGE_CODE
    )


def send_invitation_email(*, invitation: Invitation, link: str) -> None:
    with translation.override(invitation_language(invitation)):
        inviter = (
            (invitation.invited_by.get_full_name() or invitation.invited_by.email)
            if invitation.invited_by
            else ""
        )
        expires = formats.date_format(timezone.localtime(invitation.expires), "DATE_FORMAT")
        values = {
            "inviter": inviter or _("Someone"),
            "team": invitation.team.name,
            "role": invitation.get_role_display().lower(),
            "expires": expires,
            "link": link,
        }
        send_mail(
            subject=_("%(inviter)s invited you to %(team)s on Omni Studio") % values,
            message=_(
                "%(inviter)s invited you to join %(team)s on Omni Studio as %(role)s.\n\n"
                "Open this link to join (it expires on %(expires)s):\n%(link)s\n"
            )
            % values,
            from_email=None,
            recipient_list=[invitation.email],
        )


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User) -> Membership:
    # Lock the invitation so that one link cannot be used twice at the same time.
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_usable:
        raise TeamRuleError(
            _("This invitation is %(state)s and can no longer be used.") % {"state": invitation.state_display}
        )
    if not invitation.is_for(user.email):
        raise TeamRuleError(
            _(
                "This invitation is for %(invited)s; you are signed in as %(current)s. "
                "Sign out, then sign in or sign up with the invited address."
            )
            % {"invited": invitation.email, "current": user.email}
        )
    membership, _created = Membership.objects.get_or_create(
        team=invitation.team, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted", "accepted_by"])
    return membership


def _other_owners(membership: Membership) -> bool:
    return Membership.objects.filter(team=membership.team, role=Role.OWNER).exclude(pk=membership.pk).exists()


@transaction.atomic
def change_role(*, membership: Membership, role: str, by: Membership) -> None:
    if Role.OWNER in (role, membership.role) and by.role != Role.OWNER:
        raise TeamRuleError(_("Only an owner can make someone an owner or change an owner's role."))
    if membership.role == Role.OWNER and role != Role.OWNER and not _other_owners(membership):
        raise TeamRuleError(_("A team needs at least one owner. Make someone else an owner first."))
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def remove_member(*, membership: Membership, by: Membership) -> None:
    if membership.role == Role.OWNER and by.role != Role.OWNER:
        raise TeamRuleError(_("Only an owner can remove an owner."))
    if membership.role == Role.OWNER and not _other_owners(membership):
        raise TeamRuleError(_("A team needs at least one owner. Make someone else an owner first."))
    membership.delete()
