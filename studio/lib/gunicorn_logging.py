"""gunicorn's access log, without the secret in provider callback URLs.

The provider calls back at /hooks/evolink/<generation>/<token>/; the token is
what proves the call is genuine, so it must never reach a log file.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

CALLBACK_PREFIX = "/hooks/evolink/"
REDACTED = CALLBACK_PREFIX + "[redacted]"


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        if environ.get("PATH_INFO", "").startswith(CALLBACK_PREFIX):
            environ = {**environ, "PATH_INFO": REDACTED, "RAW_URI": REDACTED, "QUERY_STRING": ""}
        return super().atoms(resp, req, environ, request_time)
