"""Log lines in one shape for every part of web: LOG_FORMAT=json (the image) or text (people).

JSON: one object per line, {"time", "level", "logger", "message"} plus the caller's `extra`
fields, the request id and a traceback, so that a log collector never meets a line it
cannot parse. Text: the start-up step's `startup: ...` / `error: ...`, else
`LEVEL [logger] message`. The standard library does it in a few lines.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request this thread is serving (set by web/app/access.py), for every line
# logged while it is served: the request line, the app's warnings, a 500's traceback.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# A LogRecord's own attributes; anything else on a record came from `extra=`.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        line.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        # default=str: an odd `extra` value (a datetime, an exception) never loses the line.
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)-5.5s [%(name)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == STARTUP_LOGGER:
            prefix = "error" if record.levelno >= logging.ERROR else "startup"
            return f"{prefix}: {record.getMessage()}"
        return super().format(record)


STARTUP_LOGGER = "startup"
FORMATTERS = {"json": JsonFormatter, "text": TextFormatter}


def configure(log_format: str, level: str | None = None) -> None:
    """Every record that reaches the root logger leaves on stderr in `log_format`.

    Handlers already on the root (alembic.ini's console handler, via fileConfig) keep their
    stream and get the formatter; with none, one on stderr is added.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(FORMATTERS[log_format]())
    logging.captureWarnings(True)  # Python's warnings too, as log lines, not bare text
    if level is not None:
        root.setLevel(level)


def gunicorn_logconfig(log_format: str, level: str) -> dict[str, Any]:
    """gunicorn's logconfig_dict: its error log and the app's loggers through one handler.

    gunicorn's access log is off (no handler, no propagation): the app writes the request
    line itself (web/app/access.py), with the route template and the request id, which
    gunicorn does not know.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": FORMATTERS[log_format]}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
