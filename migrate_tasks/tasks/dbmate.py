"""The task for leaving dbmate (docs/dbmate.md): ``adopt-dbmate``.

Thin, like every task module: flags -> settings -> ``Migrator.adopt_dbmate`` -> printed
summary.
"""

from __future__ import annotations

import sys

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.progname import command
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

__all__ = ["adopt_dbmate"]


@task(
    klass=MigrateTask,
    help=help_for(
        WRITE_HELP,
        CONFIRM_HELP,
        dbmate_table="dbmate's migrations table, if dbmate ran with --migrations-table"
        " (default: schema_migrations)",
    ),
)
@handles_errors
def adopt_dbmate(
    c: Context,
    dbmate_table: str = "schema_migrations",
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
    """Take over a database dbmate migrated: record the migrations its table lists as
    applied (with their checksums) and drop its table, in one transaction."""
    settings = task_settings(c, url, auth_token, dir_, env, insecure, lock_timeout)
    with Migrator.from_settings(settings) as migrator:
        outcome = migrator.adopt_dbmate(
            dbmate_table, dry_run=dry_run, yes=yes, confirm=confirmer(settings)
        )
    count = len(outcome.recorded)
    span = ""
    if outcome.recorded:
        first, last = outcome.recorded[0].version, outcome.recorded[-1].version
        span = f" ({first})" if first == last else f" ({first} .. {last})"
    pending = len(outcome.pending)
    if outcome.calls is not None:
        print(
            f"-- adopt-dbmate would record {count} migration(s) dbmate applied{span} and drop"
            f" dbmate's table {outcome.table}; {pending} pending"
        )
        write_calls(outcome.calls, sys.stdout)
        return
    print(f"recorded {count} migration(s) dbmate applied{span} as applied, with their checksums")
    print(f"dropped dbmate's table {outcome.table}")
    if pending:
        print(f"{pending} migration(s) dbmate never applied are pending: `{command('up')}`")
