"""Secrets that some URLs carry, kept out of every log line.

The provider calls back at /hooks/evolink/<generation>/<token>/, where the token
proves the call is genuine; an invitation link /invite/<token>/ is the proof
that its address received it (revoking one names the invitation's code, no
secret). Sign-up and sign-in links carry an invitation onwards (?invite=,
?invited=, ?next=/invite/…). Django's request and server loggers, gunicorn's
access and error logs and the studio's own messages all print paths, so every
handler runs RedactSecrets (settings.LOGGING, studio.lib.gunicorn_logging).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

# A share link (issue: share links) adds its prefix here.
SECRET_PATH_PREFIXES = ("/hooks/evolink/", "/invite/")
SECRET_QUERY_FIELDS = ("invite", "invited")
REDACTED = "[redacted]"

_PREFIXES = "|".join(
    re.escape(form) for prefix in SECRET_PATH_PREFIXES for form in (prefix, quote(prefix, safe=""))
)
# After a secret prefix, the rest of the path (and its query string) goes, up to
# whatever ends a URL in a log line: a space, a quote, or the next field of an
# encoded query string.
_SECRET_PATH = re.compile(rf"({_PREFIXES})[^\s\"'<>&]+", re.IGNORECASE)
_SECRET_FIELD = re.compile(rf"([?&;](?:{'|'.join(SECRET_QUERY_FIELDS)})=)[^\s\"'<>&]+", re.IGNORECASE)


def redact(text: str) -> str:
    """The text with every secret-carrying path and query value replaced by [redacted]."""
    if "/" not in text and "=" not in text and "%2" not in text:
        return text  # most log lines: nothing that could be a URL
    return _SECRET_FIELD.sub(rf"\1{REDACTED}", _SECRET_PATH.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """A handler filter: the record's message and traceback, redacted in place.

    In place, so that every later handler of the same record (another file,
    pytest's capture) gets the redacted text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
