"""One logging configuration for every process ``trunkline`` starts.

``serve`` hands it to uvicorn (``log_config``), which applies it in the parent process
and in every worker; ``trunkline engine`` and the other commands apply it themselves.
One format everywhere, on stderr (stdout is kept for what a command prints):

    2026-11-27 14:03:12,345 INFO trunkline.access[4242]: portal=... method=... status=200

``log_level`` sets the level of ``trunkline.*`` and ``uvicorn.*``; Alembic's INFO lines
(one per migration step, every start) and asyncio's debug chatter are kept out.
"""

from __future__ import annotations

import logging.config
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


def log_config(level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``level`` (a ``log_level`` value)."""
    level = level.upper()
    handler = {"handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"format": FORMAT}},
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


def configure(level: str) -> None:
    logging.config.dictConfig(log_config(level))
