"""One JSON object per log line (STUDIO_LOG_FORMAT=json), for log collectors.

    {"time": "2026-12-01T12:00:00.123Z", "level": "INFO", "logger": "studio.videos.services",
     "message": "Sweep: ...", "exception": "Traceback ..."}

"exception" (and "stack") only when the record has one. The handlers' RedactSecrets
filter runs first and redacts the message and the traceback text in place, which this
formatter then uses as they are: it never formats the exception again from exc_info.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
