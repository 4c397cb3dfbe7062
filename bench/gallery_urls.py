"""The studio's URLs plus the bare view the gallery benchmark compares against.

/bench/minimal/ is the cheapest Django view there is (the middleware, no session read).
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def minimal(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/minimal/", minimal),
    path("", include("studio.urls")),
]
