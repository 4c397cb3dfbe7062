"""gunicorn's access and error logs, without the secrets some URLs carry (see studio.lib.redact)."""

from __future__ import annotations

from gunicorn.glogging import Logger

from studio.lib.redact import RedactSecrets, redact


class RedactingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        # The error log prints the request line of a request that failed in gunicorn itself.
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                    handler.addFilter(RedactSecrets())

    def atoms(self, resp, req, environ, request_time) -> dict:
        # Every field: the request line, the path, the query and the Referer alike.
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
