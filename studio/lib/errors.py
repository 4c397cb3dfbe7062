"""The 400 page, drawn without the request's context.

Django's own bad_request view renders 400.html with the request, so every context processor runs,
and a request refused before authentication (a host name not allowed) has no user for them. The
page needs nothing of the request but the language, which LocaleMiddleware has already activated.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBadRequest
from django.template import loader


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(loader.get_template("400.html").render())
