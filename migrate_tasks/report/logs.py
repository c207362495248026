"""Logging for the command line: the ``migrate_tasks`` logger to stderr, as text or JSON lines.

The engine only logs; this module (used by the task layer) decides how lines look.
"""

from __future__ import annotations

import json
import logging
import sys
import time

log = logging.getLogger("migrate_tasks")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers and CI parsers."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                + f".{int(record.msecs):03d}Z",
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"migrate: {prefix}{record.getMessage()}"


def configure(verbose: bool = False, fmt: str = "text") -> None:
    """Install (or replace) our one stderr handler; safe to call for every task."""
    from migrate_tasks.errors import UsageError

    if fmt not in ("text", "json"):
        raise UsageError(f"--log-format must be text or json, not {fmt!r}")
    for handler in list(log.handlers):
        if getattr(handler, "_migrate_tasks", False):
            log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._migrate_tasks = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
