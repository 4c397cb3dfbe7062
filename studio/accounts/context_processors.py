from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from studio.accounts.access import current_membership
from studio.accounts.models import Membership


def team(request: HttpRequest) -> dict:
    """The current team and the others the person may switch to, for the top bar."""
    context = {"demo_mode": not settings.EVOLINK_API_KEY and getattr(settings, "STUDIO_DEMO_MODE", True)}
    membership = current_membership(request)
    if membership is None:
        return context
    others = (
        Membership.objects.filter(user=request.user)
        .exclude(pk=membership.pk)
        .select_related("team")
        .order_by("team__name")
    )
    return {**context, "membership": membership, "team": membership.team, "other_memberships": others}
