"""``wait``: try the database until it answers a real query, for a server still starting.

A migration container in compose or a CI job often starts before its sqld is ready, or
before a volume is mounted. "Answers" means a real query came back (``SELECT count(*)
FROM sqlite_master``), not that a port is open: a sqld that accepts connections but
cannot serve yet is still starting. Only a connection failure is worth another try; a
refused token (``AuthFailed``) is final at once, since waiting will not change it, and so
is any other error (a server that is not libSQL, a bad URL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from migrate_tasks.config import defaults
from migrate_tasks.config.urls import parse_target
from migrate_tasks.drivers import open_driver
from migrate_tasks.errors import AuthFailed, ConnectionFailed

__all__ = ["PROBE", "Waited", "wait_until_answers"]

#: The query that proves the database answers: it reads the schema, so a file that is
#: not a database, or a server that cannot open its database yet, fails it.
PROBE = "SELECT count(*) FROM sqlite_master"
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 1.0


@dataclass(frozen=True)
class Waited:
    """How long it took: the number of attempts and the seconds from the first."""

    attempts: int
    seconds: float


def wait_until_answers(
    url: str,
    token: str | None,
    *,
    timeout: float,
    request_timeout: float = defaults.REQUEST_TIMEOUT_S,
    on_retry: Callable[[int, str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Waited:
    """Query ``url`` until it answers; ``ConnectionFailed`` (with the last reason) when
    ``timeout`` seconds pass first. ``on_retry(attempt, reason)`` after each failure.
    Pauses grow from 50 ms to 1 s, never past the deadline."""
    display = parse_target(url).display
    start = clock()
    pause = _FIRST_PAUSE_S
    attempt = 0
    while True:
        attempt += 1
        left = timeout - (clock() - start)
        try:
            _probe(url, token, max(0.1, min(request_timeout, left)))
            return Waited(attempt, clock() - start)
        except AuthFailed:
            raise
        except ConnectionFailed as exc:
            reason = str(exc)
        elapsed = clock() - start
        if elapsed >= timeout:
            tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
            raise ConnectionFailed(
                f"{display} did not answer within {timeout:g} s ({tries}); the last error: {reason}"
            )
        if on_retry is not None:
            on_retry(attempt, reason)
        sleep(min(pause, timeout - elapsed))
        pause = min(pause * 2, _LONGEST_PAUSE_S)


def _probe(url: str, token: str | None, request_timeout: float) -> None:
    driver = open_driver(url, token, timeout=request_timeout)
    try:
        driver.query(PROBE)
    finally:
        driver.close()
