from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from studio.accounts.access import member_required


@member_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "videos/home.html", {})
