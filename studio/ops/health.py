"""GET /healthz: whether this web process and what it depends on work, as JSON.

    {"status": "ok", "checks": {"database": {"ok": true, "ms": 0.4}, "cache": {...},
     "storage": {...}, "sweep": {"ok": true, "age_seconds": 4.1, "max_age_seconds": 300}}}

200 when every check passes, 503 when one fails. For load balancers and container
health checks: no sign-in, no session, no CSRF, no host check and no https redirect
(HealthMiddleware answers before all of them, so a probe on the container's own
address works whatever DJANGO_ALLOWED_HOSTS says). It names no secret: a failing check
gives the exception's class only; the details go to the log.

- database: SELECT 1.
- cache: a write and a read back, when the cache is shared (Redis); "skipped" for the
  per-process memory cache.
- storage: one listing of a folder that does not exist, through the storage API (on S3
  a LIST request: the bucket and the keys must work); on the local disk, also whether
  the media folder (or the folder it will be made in) is writable.
- sweep: the age of the sweeper's heartbeat (studio.ops.heartbeat), failing past
  STUDIO_HEALTH_SWEEP_MAX_AGE seconds (0: reported, never failing).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from studio.ops.heartbeat import SWEEPER, last_beat

log = logging.getLogger(__name__)

PATHS = ("/healthz", "/healthz/")
PROBE_FOLDER = "healthz-probe"
CACHE_KEY = "healthz"
# user:password@ in a URL an exception may quote (a Redis or database address).
_URL_PASSWORD = re.compile(r"(//[^/\s:@]*:)[^@\s/]*@")


class CheckFailed(Exception):
    """A check that ran but did not like what it found; the message is safe to show."""


def _without_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(r"\1[redacted]@", text)


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _shared_cache() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith(("locmem.LocMemCache", "dummy.DummyCache"))


def check_cache() -> dict[str, Any]:
    if not _shared_cache():
        return {"skipped": "per-process memory cache"}
    value = secrets.token_hex(8)
    cache.set(CACHE_KEY, value, timeout=30)
    if cache.get(CACHE_KEY) != value:
        raise CheckFailed("the cache did not give back what was written")
    return {}


def _writable(folder: Path) -> bool:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


def check_storage() -> dict[str, Any]:
    storage = storages["default"]
    with contextlib.suppress(FileNotFoundError):  # the local disk: no such folder, as expected
        storage.listdir(PROBE_FOLDER)
    if isinstance(storage, FileSystemStorage) and not _writable(Path(storage.location)):
        raise CheckFailed("the media folder is not writable")
    return {}


def check_sweep() -> dict[str, Any]:
    max_age = settings.STUDIO_HEALTH_SWEEP_MAX_AGE
    beat = last_beat(SWEEPER)
    details: dict[str, Any] = {"max_age_seconds": max_age}
    if beat is None:
        details["age_seconds"] = None
        if max_age:
            raise CheckFailed("no sweeper has run yet (start `manage.py sweep`)", details)
        return details
    age = round(max(0.0, (timezone.now() - beat.at).total_seconds()), 1)
    details["age_seconds"] = age
    if max_age and age > max_age:
        raise CheckFailed(f"the last sweep was {age:.0f} s ago", details)
    return details


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "cache": check_cache,
    "storage": check_storage,
    "sweep": check_sweep,
}


def run_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            result = {"ok": True, **check()}
        except CheckFailed as exc:
            result = {"ok": False, "error": str(exc.args[0]), **(exc.args[1] if len(exc.args) > 1 else {})}
        except Exception as exc:
            # One line, no traceback: a load balancer asks every few seconds.
            log.warning(
                "Health check %s failed: %s: %s", name, type(exc).__name__, _without_passwords(str(exc))
            )
            result = {"ok": False, "error": type(exc).__name__}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return all(result["ok"] for result in results.values()), results


def healthz(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    ok, checks = run_checks()
    body = json.dumps({"status": "ok" if ok else "failing", "checks": checks})
    response = HttpResponse(
        body if request.method == "GET" else b"", content_type="application/json", status=200 if ok else 503
    )
    # Django would log every 503 as an error besides: the failing check is logged above.
    response._has_been_logged = True
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class HealthMiddleware:
    """First in MIDDLEWARE: answers /healthz before the host check, the https redirect and the session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in PATHS:
            return healthz(request)
        return self.get_response(request)
