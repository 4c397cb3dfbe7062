"""Housekeeping: what piles up unless someone clears it, on a schedule.

- expired sessions (as `manage.py clearsessions` does),
- invitations that expired or were revoked more than STUDIO_INVITATION_KEEP_DAYS ago
  and were never accepted (the team page lists the recent ones),
- django-axes' sign-in records, when its database handler is in use: attempts past the
  cool-off (they count for nothing any more) and access logs older than
  STUDIO_ACCESS_LOG_KEEP_DAYS,
- temporary download files no live claim can still be writing (services.clean_tmp).

The sweeper runs it every STUDIO_HOUSEKEEPING_INTERVAL seconds (studio.ops.sweeper);
with several sweepers, the `Chore` row gives each turn to one of them only.
`manage.py housekeeping` runs it by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from studio.ops.heartbeat import holder
from studio.ops.models import Chore

log = logging.getLogger(__name__)

HOUSEKEEPING = "housekeeping"


def take_turn(every: timedelta, *, name: str = HOUSEKEEPING, now: datetime | None = None) -> bool:
    """Whether this process runs the chore now; if so it is next due `every` from now.

    The first process whose UPDATE finds the row due moves it on; any other sees no
    due row until then. A run that fails is not retried before its next turn.
    """
    now = now or timezone.now()
    Chore.objects.get_or_create(name=name, defaults={"due_at": now})
    return bool(Chore.objects.filter(name=name, due_at__lte=now).update(due_at=now + every, holder=holder()))


def clear_sessions(now: datetime) -> int | None:
    """Expired sessions; how many when they are in the database (None: the engine cleared them)."""
    if settings.SESSION_ENGINE in (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    ):
        from django.contrib.sessions.models import Session

        return Session.objects.filter(expire_date__lt=now).delete()[0]
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return None


def clear_invitations(now: datetime) -> int:
    from studio.accounts.models import Invitation

    cutoff = now - timedelta(days=settings.STUDIO_INVITATION_KEEP_DAYS)
    old = Invitation.objects.filter(accepted__isnull=True).filter(
        Q(expires__lt=cutoff) | Q(revoked__lt=cutoff)
    )
    return old.delete()[0]


def _axes_in_database() -> bool:
    if not apps.is_installed("axes"):
        return False
    from axes.handlers.database import AxesDatabaseHandler

    handler = getattr(settings, "AXES_HANDLER", "axes.handlers.database.AxesDatabaseHandler")
    try:
        return issubclass(import_string(handler), AxesDatabaseHandler)
    except ImportError:
        return False


def clear_sign_in_records(now: datetime) -> int | None:
    """django-axes' records past use (None: axes is not installed or not on the database)."""
    if not _axes_in_database():
        return None
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    removed = 0
    cool_off = getattr(settings, "AXES_COOLOFF_TIME", None)
    if isinstance(cool_off, timedelta):
        removed += AccessAttempt.objects.filter(attempt_time__lt=now - cool_off).delete()[0]
    cutoff = now - timedelta(days=settings.STUDIO_ACCESS_LOG_KEEP_DAYS)
    removed += AccessLog.objects.filter(attempt_time__lt=cutoff).delete()[0]
    removed += AccessFailureLog.objects.filter(attempt_time__lt=cutoff).delete()[0]
    return removed


def clear_tmp(now: datetime) -> int:
    from studio.videos import services

    return services.clean_tmp(now=now)


JOBS: dict[str, Callable[[datetime], int | None]] = {
    "sessions": clear_sessions,
    "invitations": clear_invitations,
    "sign_in_records": clear_sign_in_records,
    "tmp_files": clear_tmp,
}


def run(*, now: datetime | None = None) -> dict[str, int | str | None]:
    """Run every job (one failing does not stop the others); what each removed, or "failed"."""
    now = now or timezone.now()
    results: dict[str, int | str | None] = {}
    for label, job in JOBS.items():
        try:
            results[label] = job(now)
        except Exception:
            log.exception("Housekeeping: %s failed", label)
            results[label] = "failed"
    outcome = ", ".join(f"{label} {value}" for label, value in results.items() if value is not None)
    Chore.objects.filter(name=HOUSEKEEPING).update(ran_at=now, outcome=outcome)
    log.info("Housekeeping: %s", outcome or "nothing to do")
    return results
