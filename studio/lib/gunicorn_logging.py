"""gunicorn's access and error logs, without the secrets some URLs carry (see studio.lib.redact).

With STUDIO_LOG_FORMAT=json they are JSON lines too (studio.lib.jsonlog), like the studio's own.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from studio.lib.env import env_str
from studio.lib.jsonlog import JsonFormatter
from studio.lib.redact import RedactSecrets, redact


class RedactingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        # The error log prints the request line of a request that failed in gunicorn itself.
        as_json = env_str("STUDIO_LOG_FORMAT").lower() == "json"
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                    handler.addFilter(RedactSecrets())
                if as_json:
                    handler.setFormatter(JsonFormatter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        # Every field: the request line, the path, the query and the Referer alike.
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
