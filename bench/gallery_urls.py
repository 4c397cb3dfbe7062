"""The studio's URLs plus two baselines the gallery benchmark compares against.

- /bench/minimal/: the cheapest Django view there is (middleware, no session read).
- /bench/page/: the cheapest studio page, signed in: member_required and the
  base template with nothing in it, i.e. what every page pays before its own work.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path

from studio.accounts.access import member_required


def minimal(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@member_required
def empty_page(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


@member_required
def signed_in_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/who/", signed_in_only),
    path("bench/minimal/", minimal),
    path("bench/page/", empty_page),
    path("", include("studio.urls")),
]
