"""The browser scripts' translations: Django's JavaScriptCatalog (djangojs domain), served from here.

The Content-Security-Policy allows only the studio's own scripts, so the catalogue is a
script file of its own, not an inline one. Its URL names the language and a digest of the
compiled catalogue (`catalog_url`: /jsi18n.js?language=zh-hans&v=…), so a browser may keep it
for a year: a new catalogue or another language is another URL, and nothing has to be
invalidated. Without a language it is the request's own.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET
from django.views.i18n import JavaScriptCatalog

_LANGUAGES = {code for code, _name in settings.LANGUAGES}
# Only the studio's own catalogue (LOCALE_PATHS), not every installed app's (the admin's).
_catalog_view = JavaScriptCatalog.as_view(domain="djangojs", packages=["studio.videos"])


@lru_cache(maxsize=8)
def _digest(language: str) -> str:
    """A digest of the compiled djangojs catalogues for a language (read once per process, as gettext does)."""
    locale = translation.to_locale(language)
    digest = hashlib.sha256(language.encode())
    for root in settings.LOCALE_PATHS:
        mo = f"{root}/{locale}/LC_MESSAGES/djangojs.mo"
        try:
            with open(mo, "rb") as handle:
                digest.update(handle.read())
        except FileNotFoundError:
            pass
    return digest.hexdigest()[:12]


def catalog_url(language: str | None = None) -> str:
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    if language not in _LANGUAGES:
        language = settings.LANGUAGE_CODE
    return reverse("javascript_catalog") + f"?language={language}&v={_digest(language)}"


@require_GET
def javascript_catalog(request: HttpRequest) -> HttpResponse:
    language = request.GET.get("language") or translation.get_language()
    if language not in _LANGUAGES:
        raise Http404("No such language.")
    with translation.override(language):
        response = _catalog_view(request)
    # Public: the catalogue holds nothing of anyone's (the URL changes with it: see above).
    patch_cache_control(response, public=True, max_age=365 * 24 * 3600, immutable=True)
    return response
