"""Logging for the command line: the ``migrate_tasks`` logger to stderr, as text or JSON lines.

The engine only logs; this module (used by the task layer) decides how lines look.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("migrate_tasks")

#: Held while anything writes to stderr: a log line, or a live line (``report.progress``,
#: ``report.fleet``) drawing or clearing itself, so the two never interleave (the fleet's
#: databases log from worker threads).
STDERR_LOCK = threading.RLock()
_before_each_line: list[Callable[[], None]] = []


@contextlib.contextmanager
def before_each_line(clear: Callable[[], None]) -> Iterator[None]:
    """Call ``clear`` (under ``STDERR_LOCK``) before every log line written in the block."""
    _before_each_line.append(clear)
    try:
        yield
    finally:
        _before_each_line.remove(clear)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def emit(self, record: logging.LogRecord) -> None:
        with STDERR_LOCK:
            for clear in list(_before_each_line):
                clear()
            super().emit(record)


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
    handler = _StderrHandler(sys.stderr)
    handler._migrate_tasks = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
