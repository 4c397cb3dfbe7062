from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from studio.accounts.access import current_membership, other_memberships


def team(request: HttpRequest) -> dict:
    """The current team and the others the person may switch to, for the top bar."""
    membership = current_membership(request)
    if membership is None:
        return {}
    others = other_memberships(request, membership)
    return {"membership": membership, "team": membership.team, "other_memberships": others}


def languages(request: HttpRequest) -> dict:
    """The languages of the switcher, each named in its own script, and the active one."""
    return {"language_choices": settings.LANGUAGES, "LANGUAGE_CODE": translation.get_language()}
