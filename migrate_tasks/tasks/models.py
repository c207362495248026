"""Invoke task ``generate``: SQLAlchemy models -> a new migration file (docs/generate.md).

SQLAlchemy is an optional extra; it is imported only when this task runs, so every
other task works without it. The work is done by ``migrate_tasks.autogenerate`` (no Invoke).
"""

from __future__ import annotations

import sys
from typing import Any

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.errors import CheckFailed
from migrate_tasks.files.source import _check_name, display_path
from migrate_tasks.progname import command
from migrate_tasks.report.documents import generate_json
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    MigrateTask,
    handles_errors,
    plain,
    task_settings,
)

GENERATE_HELP = {
    "name": "the new migration's name: lower-case letters, digits and underscores",
    "models": "the models: package.module:Base or package.module:metadata"
    " (default: migrate.models in invoke.yaml); the current directory is on sys.path",
    "rename": "a renamed column, old:new or table.old:new (repeat the flag for several)",
    "check": "write nothing; exit 3 if the models and the migrations differ (for CI)",
    "dry-run": "print the migration that would be written, and write nothing",
    "json": "print the result as one JSON document",
    **{k: COMMON_HELP[k] for k in ("dir", "env", "verbose", "log-format")},
}


@task(klass=MigrateTask, iterable=["rename"], help=GENERATE_HELP)
@handles_errors
def generate(
    c: Context,
    name: str,
    models: str = "",
    rename: list[str] | None = None,
    check: bool = False,
    dry_run: bool = False,
    json_: bool = False,
    dir_: str = "",
    env: str = "",
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Write a migration that turns the migrations' schema into the models' schema."""
    _check_name(name)  # before anything else, --check included
    settings = task_settings(c, dir_=dir_, env=env)
    configured = plain(c.config.get("migrate", {}) or {}).get("models")
    migrator = Migrator.from_settings(settings, models=configured)
    spec = models or migrator.models or ""
    if check:  # --check only needs to know whether anything differs
        result, path = migrator.check_models(spec or None, renames=rename or []), None
    else:
        made = migrator.generate(name, spec or None, renames=rename or [], dry_run=dry_run)
        result, path = made.generated, made.path
        if made.later_file:
            sys.stderr.write(
                f"warning: {made.later_file} has a later version than the new migration;"
                " rename the new file so that it sorts last\n"
            )
    shown = display_path(path) if path else None
    _report(result, str(spec), json_=json_, dry_run=dry_run, path=shown)
    if check and not result.up_to_date:
        raise CheckFailed(
            f"the models ({spec}) and the migrations differ: run `{command('generate NAME')}`"
            " and commit the migration it writes"
        )


def _report(result: Any, spec: str, *, json_: bool, dry_run: bool, path: str | None) -> None:
    if json_:
        print(generate_json(result, spec, path))
        return
    for note in result.notes:
        label = {"warning": "warning", "advice": "advice", "info": "note"}[note.level]
        sys.stderr.write(f"{label}: {note.message}\n")
    if result.up_to_date:
        print(f"the models ({spec}) and the migrations agree: nothing to generate")
        return
    count = len(result.changes)
    print(f"{count} change{'s' if count != 1 else ''} from the migrations to the models ({spec}):")
    for change in result.changes:
        print(f"  {change.describe()}")
    if dry_run:
        print()
        print(result.text, end="")
    elif path:
        print(f"wrote {path}")
