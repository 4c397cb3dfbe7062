from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from studio.accounts import languages, services
from studio.accounts.access import current_membership, lost_team, member_required, switch_team
from studio.accounts.forms import InvitationForm, RoleForm, SignInForm, SignUpForm, TeamNameForm
from studio.accounts.models import INVITATION_LIFETIME, ROLE_HELP, Invitation, Membership, Role

# Signing up signs in without a password check by django-axes (which asks for a request).
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# What secrets.token_urlsafe makes; the URLs only match this, and query strings are
# checked against it too (PostgreSQL refuses a NUL byte in a query: a 500, not a 404).
INVITATION_LINK_SHAPE = r"[A-Za-z0-9_-]{1,64}"


def _find_invitation(invitations: QuerySet[Invitation], token: str) -> Invitation | None:
    """The invitation a token from a link or a query string names, if it could be one."""
    if not re.fullmatch(INVITATION_LINK_SHAPE, token):
        return None
    return Invitation.find(invitations, token)


def _require_manager(request: HttpRequest) -> None:
    """Owners and admins manage the team; everyone else in it gets 403."""
    if not request.membership.is_manager:
        raise PermissionDenied(_("Only owners and admins can change the team."))


def _get_membership_for_manager(request: HttpRequest, code) -> Membership:
    _require_manager(request)
    return get_object_or_404(Membership.objects.select_related("user"), code=code, team=request.team)


def _get_invitation_for_manager(request: HttpRequest, code) -> Invitation:
    _require_manager(request)
    return get_object_or_404(Invitation, code=code, team=request.team)


def _duration(delta: timedelta) -> str:
    """'15 minutes', '1 minute', '2 hours': a setting's length as people say it."""
    minutes = max(1, round(delta.total_seconds() / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def locked_out(request: HttpRequest, credentials: dict | None = None, *args, **kwargs) -> HttpResponse:
    """What django-axes shows after too many failed sign-ins (studio.accounts.throttle)."""
    form = SignInForm(request, initial={"username": request.POST.get("username", "")})
    lockout = _(
        "Too many failed sign-in attempts for this account. For your safety, signing in is paused "
        "for %(duration)s. You can reset your password in the meantime."
    ) % {"duration": _duration(settings.AXES_COOLOFF_TIME)}
    return render(request, "accounts/login.html", {"form": form, "lockout": lockout}, status=429)


class SignInView(LoginView):
    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        # The saved language (languages.on_login) also goes into the cookie, so that the sign-in
        # pages after signing out speak it too.
        languages.remember(self.request, response, self.request.session[languages.SESSION_KEY])
        return response


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switcher (account menu, sign-in pages): saved on the person and in the cookie."""
    code = languages.supported(request.POST.get("language"))
    if code is None:
        return HttpResponse(_("Unknown language."), status=400, content_type="text/plain; charset=utf-8")
    following = request.POST.get("next", "")
    # Back to the page the switch was on: a path on this site only (never a view name or another host).
    if not following.startswith("/") or not url_has_allowed_host_and_scheme(
        following, {request.get_host()}, request.is_secure()
    ):
        following = reverse("home")
    if request.user.is_authenticated:
        languages.save_language(request.user, code)
    response = HttpResponseRedirect(following)
    languages.remember(request, response, code)
    return response


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    invitation = None
    if token := request.GET.get("invite"):
        invitation = _find_invitation(Invitation.objects.select_related("team"), token)
    if invitation is not None and not invitation.is_usable:
        invitation = None  # the page says so; the sign-up makes a team of one's own
    form = SignUpForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        user = services.create_account(
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            invitation=invitation,
        )
        login(request, user, backend=MODEL_BACKEND)  # saves the page's language on the person
        membership = user.memberships.select_related("team").get()
        if invitation is not None:
            welcome = _("Welcome to Omni Studio! You joined %(team)s as %(role)s.") % {
                "team": membership.team.name,
                "role": membership.get_role_display().lower(),
            }
        else:
            welcome = _("Welcome to Omni Studio! You are in %(team)s.") % {"team": membership.team.name}
        messages.success(request, welcome)
        response = redirect("home")
        languages.remember(request, response, request.session[languages.SESSION_KEY])
        return response
    return render(request, "accounts/signup.html", {"form": form, "invitation": invitation})


@login_required
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.create_team(owner=request.user, name=form.cleaned_data["name"])
        switch_team(request, team.memberships.get(user=request.user))
        messages.success(
            request, _("%(team)s is ready. Invite your teammates from team settings.") % {"team": team.name}
        )
        return redirect("home")
    has_team = current_membership(request) is not None
    context = {"form": form, "has_team": has_team, "lost_team": "" if has_team else lost_team(request)}
    return render(request, "accounts/team_create.html", context)


@require_POST
@member_required
def team_switch(request: HttpRequest) -> HttpResponse:
    try:
        code = uuid.UUID(request.POST.get("team", ""))
    except ValueError:
        raise Http404(_("No such team.")) from None
    membership = get_object_or_404(
        Membership.objects.select_related("team"), user=request.user, team__code=code
    )
    switch_team(request, membership)
    return redirect("home")


@member_required
def team_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


def _settings_page(
    request: HttpRequest,
    *,
    name_form: TeamNameForm | None = None,
    invite_form: InvitationForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The team settings page; a form that was refused comes back with its errors and values."""
    team = request.team
    is_owner = request.membership.role == Role.OWNER
    members = team.memberships.select_related("user").order_by("created", "id")
    invitations = team.invitations.filter(accepted__isnull=True, revoked__isnull=True).select_related(
        "invited_by"
    )
    context = {
        "members": members,
        "invitations": invitations,
        "name_form": TeamNameForm(initial={"name": team.name}) if name_form is None else name_form,
        "invite_form": InvitationForm(include_owner=is_owner) if invite_form is None else invite_form,
        "role_choices": [(v, lbl) for v, lbl in Role.choices if is_owner or v != Role.OWNER],
        "role_help": [(Role(v).label, ROLE_HELP[v]) for v in Role.values],
        "new_invitation": None,
        "invitation_days": INVITATION_LIFETIME.days,
    }
    if code := request.GET.get("invited"):
        context["new_invitation"] = _find_invitation(invitations, code)
    return render(request, "accounts/team_settings.html", context, status=status)


def invitation_link(request: HttpRequest, invitation: Invitation) -> str:
    return request.build_absolute_uri(reverse("invitation", args=[invitation.token]))


@require_POST
@member_required
def team_rename(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = TeamNameForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, name_form=form, status=400)
    request.team.name = form.cleaned_data["name"]
    request.team.save(update_fields=["name"])
    messages.success(request, _("Team renamed."))
    return redirect("team_settings")


@require_POST
@member_required
def invitation_create(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = InvitationForm(request.POST, include_owner=request.membership.role == Role.OWNER)
    if not form.is_valid():
        return _settings_page(request, invite_form=form, status=400)
    try:
        invitation = services.invite(
            team=request.team,
            by=request.membership,
            role=form.cleaned_data["role"],
            email=form.cleaned_data["email"],
        )
    except services.TeamRuleError as error:
        messages.error(request, str(error))
        return redirect("team_settings")
    services.send_invitation_email(invitation=invitation, link=invitation_link(request, invitation))
    messages.success(
        request,
        _(
            "Invitation sent to %(address)s. You can also share the link below: "
            "only an account with that address can accept it."
        )
        % {"address": invitation.email},
    )
    # The token goes once into the address bar of the person who made it (the row keeps only its hash).
    return redirect(f"{reverse('team_settings')}?invited={invitation.token}#invitations")


@require_POST
@member_required
def invitation_revoke(request: HttpRequest, code) -> HttpResponse:
    invitation = _get_invitation_for_manager(request, code)
    invitation.revoke()
    messages.success(request, _("Invitation revoked: the link no longer works."))
    return redirect("team_settings")


@require_POST
@member_required
def member_role(request: HttpRequest, code) -> HttpResponse:
    membership = _get_membership_for_manager(request, code)
    form = RoleForm(request.POST, include_owner=True)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles in the list."))
        return redirect("team_settings")
    try:
        services.change_role(membership=membership, role=form.cleaned_data["role"], by=request.membership)
    except services.TeamRuleError as error:
        messages.error(request, str(error))
    else:
        name = membership.user.get_full_name() or membership.user.email
        role = membership.get_role_display().lower()
        messages.success(request, _("%(person)s is now %(role)s.") % {"person": name, "role": role})
    return redirect("team_settings")


@require_POST
@member_required
def member_remove(request: HttpRequest, code) -> HttpResponse:
    membership = _get_membership_for_manager(request, code)
    try:
        services.remove_member(membership=membership, by=request.membership)
    except services.TeamRuleError as error:
        messages.error(request, str(error))
        return redirect("team_settings")
    name = membership.user.get_full_name() or membership.user.email
    messages.success(
        request, _("%(person)s was removed from %(team)s.") % {"person": name, "team": request.team.name}
    )
    return redirect("home" if membership.pk == request.membership.pk else "team_settings")


@require_POST
@member_required
def team_leave(request: HttpRequest) -> HttpResponse:
    try:
        services.remove_member(membership=request.membership, by=request.membership)
    except services.TeamRuleError as error:
        messages.error(request, str(error))
        return redirect("team_settings")
    request.session.pop("team", None)
    messages.success(request, _("You left %(team)s.") % {"team": request.team.name})
    return redirect("home")


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: join, or sign up / sign in with the invited address first."""
    invitation = _find_invitation(Invitation.objects.select_related("team", "invited_by"), token)
    if invitation is None:
        raise Http404(_("No such invitation."))
    already_member = (
        request.user.is_authenticated
        and Membership.objects.filter(team=invitation.team, user=request.user).exists()
    )
    # Someone else's account: the page says whose invitation it is and offers to sign out.
    wrong_account = request.user.is_authenticated and not invitation.is_for(request.user.email)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        try:
            membership = services.accept_invitation(invitation=invitation, user=request.user)
        except services.TeamRuleError as error:
            messages.error(request, str(error))
            return redirect(request.path)
        switch_team(request, membership)
        role = membership.get_role_display().lower()
        messages.success(
            request, _("You joined %(team)s as %(role)s.") % {"team": invitation.team.name, "role": role}
        )
        return redirect("home")
    context = {"invitation": invitation, "already_member": already_member, "wrong_account": wrong_account}
    return render(request, "accounts/invitation.html", context)
