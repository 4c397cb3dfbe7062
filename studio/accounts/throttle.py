"""Sign-in throttling: django-axes' database handler with a second, higher limit per account.

Failures are counted twice (settings.AXES_LOCKOUT_PARAMETERS): for the account
from one address, locked after AXES_FAILURE_LIMIT, so one mistyped password
never locks out a whole office that shares an address; and for the account from
anywhere, locked after STUDIO_LOGIN_ACCOUNT_FAILURE_LIMIT, which slows guessing
spread over many addresses (OWASP ASVS 2.2.1). Both last AXES_COOLOFF_TIME after
the last failure counted; failures while locked are not counted, so the owner of
the account can always sign in once the cool-off has passed.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class SignInThrottle(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """The failures that count against AXES_FAILURE_LIMIT (axes compares this number).

        An account past its own limit counts as past the per-address one too.
        """
        from_address, anywhere = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if anywhere >= settings.STUDIO_LOGIN_ACCOUNT_FAILURE_LIMIT:
            return max(from_address, settings.AXES_FAILURE_LIMIT)
        return from_address
