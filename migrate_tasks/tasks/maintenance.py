"""Tasks for after something went wrong: ``repair`` a failed migration, ``unlock`` a stale lock.

Both change only our tracking tables, never the schema, and both ask first on a protected
environment (``unlock`` always asks: releasing a live run's lock is how migrations run twice).
"""

from __future__ import annotations

import sys

from invoke import Context, task

from migrate_tasks.api.migrator import describe_target
from migrate_tasks.errors import UsageError
from migrate_tasks.report.dryrun import write_calls
from migrate_tasks.tasks.base import (
    CONFIRM_HELP,
    WRITE_HELP,
    MigrateTask,
    handles_errors,
    help_for,
    open_engine,
    run_options,
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
    from migrate_tasks.files.source import version_of

    settings = task_settings(c, url, auth_token, dir_, env, insecure, lock_timeout)
    with open_engine(settings) as engine:
        describe_target(settings, engine.driver.display_url)
        outcome = engine.repair(
            version_of(version),
            "applied" if applied else "rolled_back",
            run_options(settings, dry_run=dry_run, yes=yes),
        )
    if outcome.calls is not None:
        write_calls(outcome.calls, sys.stdout)


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
    with open_engine(settings) as engine:
        describe_target(settings, engine.driver.display_url)
        holder = engine.holder()
        if holder is None:
            print("no migration lock is held")
            return
        if dry_run:
            print(f"-- the lock is held by {holder.describe()}")
            write_calls(engine.unlock_calls(), sys.stdout)
            return
        # unlock always asks: releasing a live run's lock is how migrations run twice
        engine.unlock(run_options(settings, dry_run=False, yes=yes, always_confirm=True))
    print(f"released the migration lock held by {holder.describe()}")
