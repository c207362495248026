"""Checks the API runs before it touches a database: the folder's integrity file, and
waiting for a database that is still starting.

The tasks call these too (``validate``, ``up``, ``wait``, ``up --wait``), so a check
reads and says the same from the command line and from Python.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from migrate_tasks.config.settings import Settings
    from migrate_tasks.engine.plan import Problem

__all__ = ["folder_problems", "refuse_unsound_folder", "wait_for_database"]

log = logging.getLogger("migrate_tasks")


def folder_problems(directory: Path) -> list[Problem]:
    """How the folder differs from its integrity file, ``migrate.sum`` (none without one)."""
    from migrate_tasks.engine.plan import Problem
    from migrate_tasks.files.integrity import INTEGRITY, findings

    if not directory.is_dir():
        return []  # the engine says that the folder is missing
    return [Problem(INTEGRITY, f.version, f.message) for f in findings(directory)]


def refuse_unsound_folder(directory: Path, what: str) -> None:
    """``up`` (and a fleet's ``validate``) refuse, as ``validate`` reports, a migration
    edited, added or removed without updating the integrity file (CheckFailed, exit 3)."""
    problems = folder_problems(directory)
    if problems:
        raise CheckFailed(f"refusing to {what}: " + "; ".join(p.message for p in problems))


def wait_for_database(settings: Settings, timeout: float) -> str:
    """Try the configured database until it answers (``ConnectionFailed`` after
    ``timeout`` seconds, ``AuthFailed`` at once); returns how long it took, in words.
    Each new reason to wait is logged once, every attempt at debug level."""
    from migrate_tasks.config.urls import parse_target
    from migrate_tasks.ops.wait import wait_until_answers

    if timeout < 0:
        raise UsageError(f"--wait-timeout {timeout:g}: give a number of seconds, 0 or more")
    display = parse_target(settings.url).display
    last: list[str] = []

    def retrying(attempt: int, reason: str) -> None:
        if last != [reason]:
            log.info("waiting for %s (up to %g s): %s", display, timeout, reason)
            last[:] = [reason]
        else:
            log.debug("attempt %d: %s", attempt, reason)

    waited = wait_until_answers(
        settings.url,
        settings.auth_token,
        timeout=timeout,
        request_timeout=settings.timeout,
        on_retry=retrying,
    )
    tries = "the first attempt" if waited.attempts == 1 else f"{waited.attempts} attempts"
    return f"{display} answers (after {tries}, {waited.seconds:.1f} s)"
