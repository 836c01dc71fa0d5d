"""One logging configuration for every process ``trunkline`` starts.

``serve`` hands it to uvicorn (``log_config``), which applies it in the parent process
and in every worker; ``trunkline engine`` and the other commands apply it themselves.
One format everywhere, on stderr (stdout is kept for what a command prints):

    2026-11-27 14:03:12,345 INFO trunkline.access[4242]: portal=... method=... status=200

or, with ``log_format`` ``json`` (``--log-format json``), one JSON object per line:

    {"time": "2026-11-27T14:03:12.345Z", "level": "INFO", "logger": "trunkline.access",
     "pid": 4242, "request_id": "5f0c...", "message": "portal=... method=... status=200"}

Rules of the JSON form:

* ``request_id`` is the id of the HTTP request being answered when the record was made
  (the same value the response carries in its ``X-Request-Id`` header); absent outside
  a request.
* Secrets are masked in the message and the traceback before they are written
  (:func:`mask`): ``auth[...]``, ``access_token``, ``refresh_token``, ``client_secret``,
  ``password`` and ``code`` parameters, ``Bearer`` tokens, a webhook URL's code, and a
  digest header's ``response``/``nonce``/``cnonce``.

``log_level`` sets the level of ``trunkline.*`` and ``uvicorn.*``; Alembic's INFO lines
(one per migration step, every start) and asyncio's debug chatter are kept out.
"""

from __future__ import annotations

import json
import logging.config
import re
import time
from typing import Any

from trunkline.rest.record import request_id

FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
MASK = "***"

_SECRETS = re.compile(
    r"(?P<key>(?:auth\[[^\]\s]*\]|access_token|refresh_token|client_secret|password"
    r"|incoming_password|\bcode|\bauth)(?:=|\"?\s*:\s*\"?))(?P<value>[^&\s\",;}]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[^\s\",;]+)", re.IGNORECASE)
_WEBHOOK = re.compile(r"(?P<key>/rest/\d+/)(?P<value>[^/\s?\"]+)(?=/)")
_DIGEST = re.compile(r"(?P<key>\b(?:response|nonce|cnonce)=\"?)(?P<value>[^\",\s]+)")


def mask(text: str) -> str:
    """``text`` with every secret this module knows replaced by ``***``."""
    for pattern in (_SECRETS, _BEARER, _WEBHOOK, _DIGEST):
        text = pattern.sub(lambda m: m.group("key") + MASK, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the rules above)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        current = request_id.get()
        if current:
            entry["request_id"] = current
        entry["message"] = mask(record.getMessage())
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str, fmt: str = "text") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``level`` (a ``log_level`` value) and ``fmt``
    (a ``log_format`` value)."""
    level = level.upper()
    handler = {"handlers": ["stderr"], "propagate": False}
    formatter: dict[str, Any] = {"format": FORMAT}
    if fmt == "json":
        formatter = {"()": JsonFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "trunkline": {"level": level, **handler},
            "uvicorn": {"level": level, **handler},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"level": "WARNING"},  # trunkline.access has the REST calls
            "alembic": {"level": "WARNING", **handler},
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }


def configure(level: str, fmt: str = "text") -> None:
    logging.config.dictConfig(log_config(level, fmt))
