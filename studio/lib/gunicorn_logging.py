"""gunicorn's access log, without the secrets some URLs carry.

The provider calls back at /hooks/evolink/<generation>/<token>/, where the token
proves the call is genuine; an invitation link /invite/<token>/ lets anyone who
holds it join a team. Neither token may reach a log file.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

SECRET_PREFIXES = ("/hooks/evolink/", "/invite/")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        path = environ.get("PATH_INFO", "")
        for prefix in SECRET_PREFIXES:
            if path.startswith(prefix):
                redacted = prefix + "[redacted]"
                environ = {**environ, "PATH_INFO": redacted, "RAW_URI": redacted, "QUERY_STRING": ""}
                break
        else:
            # Sign-up and sign-in links carry the invitation onwards (?invite=, ?next=/invite/…).
            if "invite" in environ.get("QUERY_STRING", ""):
                hidden = path + "?[redacted]"
                environ = {**environ, "RAW_URI": hidden, "QUERY_STRING": "[redacted]"}
        return super().atoms(resp, req, environ, request_time)
