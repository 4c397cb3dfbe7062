"""Which team a request works in, and the decorator every team page uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from studio.accounts.models import Membership

SESSION_KEY = "team"


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the team the person last chose, else their first one."""
    if not request.user.is_authenticated:
        return None
    if hasattr(request, "_membership_cache"):
        return request._membership_cache
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    membership = None
    if code := request.session.get(SESSION_KEY):
        membership = memberships.filter(team__code=code).first()
    if membership is None:
        membership = memberships.order_by("created", "id").first()
        if membership is not None:
            request.session[SESSION_KEY] = str(membership.team.code)
    request._membership_cache = membership
    return membership


def switch_team(request: HttpRequest, membership: Membership) -> None:
    request.session[SESSION_KEY] = str(membership.team.code)
    request._membership_cache = membership


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
            return redirect("team_create")
        request.membership = membership
        request.team = membership.team
        return view(request, *args, **kwargs)

    return wrapper
