"""Whole pages in a cache, with the one part that must be new on every response left open.

Django masks the CSRF token afresh for each response (so that compressed pages
never repeat it: BREACH), which makes any page with a form different every
time. A cached page is therefore drawn with a placeholder where the token
goes and served with this request's token put in. Everything else a page shows
must be in its cache key; a page with messages waiting is never cached.
"""

from __future__ import annotations

import functools
import hashlib

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render


@functools.cache
def csrf_hole() -> str:
    # The same in every process sharing a cache, and unguessable, so no text a
    # person typed into a page can ever be taken for it.
    digest = hashlib.sha256(f"studio-csrf-hole:{settings.SECRET_KEY}".encode()).hexdigest()
    return f"csrfhole{digest[:32]}"


def cacheable(request: HttpRequest) -> bool:
    """Messages are shown once, on the next page: that page is drawn, not served from a cache."""
    return not len(messages.get_messages(request))


def draw(request: HttpRequest, template: str, context: dict) -> str:
    """The page as HTML with the placeholder where the CSRF token goes."""
    return render(request, template, {**context, "csrf_token": csrf_hole()}).content.decode()


def serve(request: HttpRequest, html: str) -> HttpResponse:
    """The page with this request's token (which also renews the CSRF cookie, as a drawn page does)."""
    return HttpResponse(html.replace(csrf_hole(), get_token(request)))
