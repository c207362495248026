"""Tasks for after something went wrong: ``repair`` a failed migration, ``unlock`` a stale lock.

Both change only our tracking tables, never the schema, and both ask first on a protected
environment (``unlock`` always asks: releasing a live run's lock is how migrations run twice).
"""

from __future__ import annotations

import sys

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.errors import UsageError
from migrate_tasks.report.dryrun import write_calls
from migrate_tasks.tasks.base import (
    CONFIRM_HELP,
    WRITE_HELP,
    MigrateTask,
    confirmer,
    handles_errors,
    help_for,
    task_settings,
)

__all__ = ["repair", "unlock"]


@task(
    klass=MigrateTask,
    help=help_for(
        WRITE_HELP,
        CONFIRM_HELP,
        version="the migration to repair",
        applied="record it as applied (fixed forward by hand, or accept an edited file)",
        rolled_back="record it as rolled back (undone by hand)",
    ),
)
@handles_errors
def repair(
    c: Context,
    version: str,
    applied: bool = False,
    rolled_back: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    lock_timeout: str = "",
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Record the outcome of a failed migration after fixing the database by hand."""
    if applied == rolled_back:
        raise UsageError("say what you fixed: pass exactly one of --applied and --rolled-back")
    settings = task_settings(c, url, auth_token, dir_, env, insecure, lock_timeout)
    with Migrator.from_settings(settings) as migrator:
        repaired = migrator.repair(
            version,
            applied=applied,
            rolled_back=rolled_back,
            dry_run=dry_run,
            yes=yes,
            confirm=confirmer(settings),
        )
    if repaired.calls is not None:
        write_calls(repaired.calls, sys.stdout)


@task(klass=MigrateTask, help=help_for(CONFIRM_HELP, dry_run=WRITE_HELP["dry-run"]))
@handles_errors
def unlock(
    c: Context,
    dry_run: bool = False,
    yes: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Release a stale migration lock left by a run that died (asks first)."""
    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    with Migrator.from_settings(settings) as migrator:
        found = migrator.unlock(dry_run=dry_run, yes=yes, confirm=confirmer(settings))
    holder = found.holder
    if holder is None:
        print("no migration lock is held")
    elif found.calls is not None:
        print(f"-- the lock is held by {holder.describe()}")
        write_calls(found.calls, sys.stdout)
    else:
        print(f"released the migration lock held by {holder.describe()}")
