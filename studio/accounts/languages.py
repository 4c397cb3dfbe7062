"""Which language a person reads: the pages they see and the e-mails sent to them.

A first visit follows the browser (Accept-Language, through Django's LocaleMiddleware). A
choice in the menu is kept in Django's language cookie (so the sign-in pages, reachable
without an account, keep it) and, once signed in, on the person's Profile. While signed in,
the saved choice wins: the login copies it into the session, which PersonLanguageMiddleware
reads, so no request pays a query for it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from studio.accounts.models import Profile

SESSION_KEY = "language"


def supported(code: str | None) -> str | None:
    """The code itself when the studio speaks it ("en", "zh-hans"), else None."""
    return code if code in dict(settings.LANGUAGES) else None


def saved_language(user: User) -> str:
    """The person's saved language, "" when they never chose one."""
    language = Profile.objects.filter(user=user).values_list("language", flat=True).first()
    return supported(language) or ""


def save_language(user: User, code: str) -> None:
    Profile.objects.update_or_create(user=user, defaults={"language": code})


def language_of(user: User | None) -> str:
    """The language to write to a person in: theirs, else the studio's default."""
    return (saved_language(user) if user is not None else "") or settings.LANGUAGE_CODE


def language_for_address(email: str) -> str:
    """The saved language of the account with this address, "" when there is none."""
    user = User.objects.filter(username__iexact=email.strip()).first()
    return saved_language(user) if user is not None else ""


def remember(request: HttpRequest, response: HttpResponse, code: str) -> None:
    """Keep a choice: in the cookie, and in the session of a signed-in person."""
    if request.user.is_authenticated:
        request.session[SESSION_KEY] = code
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def on_login(sender, request: HttpRequest, user: User, **kwargs) -> None:
    """At sign-in (and sign-up) the saved language takes over; a person without one keeps the page's."""
    if request is None or not hasattr(request, "session"):
        return
    code = saved_language(user)
    if not code:
        code = supported(translation.get_language()) or settings.LANGUAGE_CODE
        save_language(user, code)
    request.session[SESSION_KEY] = code
    translation.activate(code)
    request.LANGUAGE_CODE = code


class PersonLanguageMiddleware:
    """After AuthenticationMiddleware: the signed-in person's language (from the session) wins."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The session is only read when the browser sent a session cookie: no query otherwise.
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            code = supported(request.session.get(SESSION_KEY))
            if code and code != translation.get_language():
                translation.activate(code)
                request.LANGUAGE_CODE = code
        return self.get_response(request)
