"""Which team a request works in, and the decorator every team page uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from studio.accounts.models import Membership, Team

SESSION_KEY = "team"


def memberships_of(user_id: int) -> list[Membership]:
    """All of a person's memberships, oldest first, each with its team, in one query.

    The top bar's team switcher needs them all, and people belong to a few teams.
    """
    return list(Membership.objects.filter(user_id=user_id).select_related("team").order_by("created", "id"))


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the team the person last chose, else their first one."""
    if not request.user.is_authenticated:
        return None
    if hasattr(request, "_membership_cache"):
        return request._membership_cache
    memberships = memberships_of(request.user.pk)
    request._memberships = memberships
    code = request.session.get(SESSION_KEY)
    membership = next((m for m in memberships if str(m.team.code) == code), None)
    if membership is None and code:
        # The team chosen last is no longer theirs: someone removed them (or the team is gone).
        request._lost_team = lost_team_name(code)
        if memberships:
            messages.warning(
                request,
                _("You are no longer a member of %(lost)s; you are in %(team)s.")
                % {"lost": request._lost_team, "team": memberships[0].team.name},
                fail_silently=True,
            )
    if membership is None and memberships:
        membership = memberships[0]
        request.session[SESSION_KEY] = str(membership.team.code)
    request._membership_cache = membership
    return membership


def lost_team_name(code: str) -> str:
    """The name of a team the session still points at, for saying which team was left."""
    try:
        team = Team.objects.filter(code=uuid.UUID(code)).only("name").first()
    except ValueError:
        team = None
    return team.name if team else _("your last team")


def lost_team(request: HttpRequest) -> str:
    """The team the person was in until lately ("" if none), once current_membership has run."""
    current_membership(request)
    return getattr(request, "_lost_team", "")


def other_memberships(request: HttpRequest, membership: Membership) -> list[Membership]:
    """The person's other teams, by name, for the team switcher."""
    memberships = getattr(request, "_memberships", None)
    if memberships is None:  # switch_team changed the team during this request
        memberships = memberships_of(request.user.pk)
    others = [m for m in memberships if m.pk != membership.pk]
    return sorted(others, key=lambda m: m.team.name)


def switch_team(request: HttpRequest, membership: Membership) -> None:
    request.session[SESSION_KEY] = str(membership.team.code)
    request._membership_cache = membership
    request.__dict__.pop("_memberships", None)  # a team created in this request is not in it


def member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and in a team; sets request.membership and request.team.

    Someone who belongs to no team (the last one removed them) is sent to the
    page that creates one, never shown an error.
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        membership = current_membership(request)
        if membership is None:
            # An htmx request (a poll, a filter) would swap the whole page into a fragment.
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(reverse("team_create"))
            return redirect("team_create")
        request.membership = membership
        request.team = membership.team
        return view(request, *args, **kwargs)

    return wrapper
