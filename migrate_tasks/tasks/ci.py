"""The CI/CD tasks: ``verify`` (every down undoes its up) and ``dump`` (schema.sql for review).

Both are checks a pipeline runs on every change; each prints one JSON document with
``--json`` and exits 3 when there is something to fix.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.errors import CheckFailed
from migrate_tasks.progname import command
from migrate_tasks.report.documents import dump_json, verify_json
from migrate_tasks.report.verify import verify_text
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    MigrateTask,
    handles_errors,
    help_for,
    task_settings,
)

__all__ = ["dump", "verify"]

VERIFY_HELP = {
    "url": "a THROW-AWAY database to verify on (default: a temporary local file, deleted"
    " afterwards); LIBSQL_URL, DATABASE_URL and configured URLs are never used",
    "auth-token": COMMON_HELP["auth-token"],
    "dir": COMMON_HELP["dir"],
    "insecure": COMMON_HELP["insecure"],
    "verbose": COMMON_HELP["verbose"],
    "log-format": COMMON_HELP["log-format"],
    "force": "with --url: DROP every table, view and trigger in that database first"
    " (without it, a database that is not empty is refused)",
    "json": "print the result as one JSON document (docs/json.md)",
    "require-down": "fail (exit 3) on a migration without down statements; without it such"
    " a migration is applied, reported as irreversible and not rolled back",
}


@task(klass=MigrateTask, help=VERIFY_HELP)
@handles_errors
def verify(
    c: Context,
    url: str = "",
    force: bool = False,
    require_down: bool = False,
    json_: bool = False,
    auth_token: str = "",
    dir_: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Prove on a scratch database that every down undoes its up, and up applies again."""
    # verify never uses the configured database: a stand-in URL keeps LIBSQL_URL unread
    settings = task_settings(
        c, url=url or ":memory:", auth_token=auth_token, dir_=dir_, insecure=insecure
    )
    with Migrator.from_settings(settings) as migrator:
        result = migrator.verify(url or None, force=force, require_down=require_down)
    print(verify_json(result) if json_ else verify_text(result))
    if not result.ok:
        problem = result.problems[0]
        raise CheckFailed(f"verify: {problem.message.splitlines()[0]}")


@task(
    klass=MigrateTask,
    help=help_for(
        output="file to write (default: schema.sql in the current directory)",
        check="write nothing; print the difference and exit 3 if the file is out of date",
        json="print the result as one JSON document (docs/json.md)",
    ),
)
@handles_errors
def dump(
    c: Context,
    output: str = "schema.sql",
    check: bool = False,
    json_: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Write the migrated database's schema (no data) to schema.sql, for review in diffs."""
    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    # A typo in a file URL must not write an empty schema.sql: the database must exist.
    with Migrator.from_settings(settings) as migrator:
        outcome = migrator.dump(Path(output), check=check)
    if json_:
        print(dump_json(outcome, output=output, check=check))
    elif check:
        print(outcome.diff if outcome.diff else f"{output} is up to date")
    else:
        print(f"{'unchanged' if outcome.up_to_date else 'wrote'} {output}")
    if check and not outcome.up_to_date:
        raise CheckFailed(
            f"{output} is out of date with {outcome.target}: run `{command('dump')}` and commit it"
        )
