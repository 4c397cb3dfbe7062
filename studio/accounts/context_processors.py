from __future__ import annotations

from django.http import HttpRequest

from studio.accounts.access import current_membership, other_memberships
from studio.videos.keys import is_demo_mode


def team(request: HttpRequest) -> dict:
    """The current team and the others the person may switch to, for the top bar."""
    membership = current_membership(request)
    context = {"demo_mode": is_demo_mode(membership.team if membership else None)}
    if membership is None:
        return context
    others = other_memberships(request, membership)
    return {**context, "membership": membership, "team": membership.team, "other_memberships": others}
