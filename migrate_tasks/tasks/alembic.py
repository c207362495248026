"""Tasks for leaving Alembic (docs/alembic.md): ``baseline`` and ``import-alembic``.

Thin, like every task module: flags -> settings -> ``baseline`` / ``alembic_import`` ->
printed summary. Alembic is imported only by ``import-alembic``, and only when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Context, task

from migrate_tasks.progname import command
from migrate_tasks.report import logs as logsetup
from migrate_tasks.report.dryrun import write_calls
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    CONFIRM_HELP,
    WRITE_HELP,
    ConnectionFlags,
    MigrateTask,
    describe_target,
    handles_errors,
    help_for,
    open_engine,
    run_options,
    settings_from,
)

__all__ = ["baseline", "import_alembic"]


@task(
    klass=MigrateTask,
    help=help_for(
        WRITE_HELP,
        CONFIRM_HELP,
        version="record every migration up to and including this version",
        force="record even if the database's schema differs from the one the migrations"
        " build (the differences are still listed)",
        drop_alembic_version="also drop Alembic's alembic_version table, in the same"
        " transaction as the recording",
    ),
)
@handles_errors
def baseline(
    c: Context,
    version: str,
    force: bool = False,
    drop_alembic_version: bool = False,
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
    """Record migrations up to VERSION as applied without running them, for a database that
    already has their schema (one Alembic built); refuses if the schema differs."""
    from migrate_tasks.ops.baseline import baseline as run_baseline

    connection = ConnectionFlags(
        url=url,
        auth_token=auth_token,
        dir=dir_,
        env=env,
        insecure=insecure,
        lock_timeout=lock_timeout,
    )
    settings = settings_from(c, connection)
    with open_engine(settings) as engine:
        describe_target(settings, engine.driver.display_url)
        outcome = run_baseline(
            engine,
            version,
            run_options(settings, dry_run=dry_run, yes=yes),
            force=force,
            drop_alembic_version=drop_alembic_version,
        )
    first, last = outcome.recorded[0].version, outcome.recorded[-1].version
    span = first if first == last else f"{first} .. {last}"
    count = len(outcome.recorded)
    noun = "migration" if count == 1 else "migrations"
    if outcome.alembic_revisions is None:
        alembic = "no alembic_version table"
    else:
        found = ", ".join(outcome.alembic_revisions) or "(empty)"
        if outcome.dropped_alembic_version:
            state = "dropped" if not dry_run else "would be dropped"
        else:
            state = "kept; drop it with --drop-alembic-version once Alembic is retired"
        alembic = f"alembic_version: Alembic revision {found} ({state})"
    if outcome.calls is not None:
        print(f"-- baseline would record {count} {noun} as applied ({span}); {alembic}")
        write_calls(outcome.calls, sys.stdout)
        return
    print(f"recorded {count} {noun} as applied without running them ({span})")
    print(alembic)
    if outcome.differences:
        print(f"--force: {len(outcome.differences)} schema difference(s) accepted")


@task(
    klass=MigrateTask,
    help={
        "config": "the Alembic project's configuration file (default: alembic.ini)",
        "per-revision": "one migration per Alembic revision (up and down) instead of one"
        " migration with the head schema; needs a linear history",
        "name": "name of the single migration of the default mode (default: initial_schema)",
        "force": "write even if the migrations folder already has migrations (never"
        " overwrites a file)",
        "dry-run": "print the files that would be written and write nothing",
        "dir": COMMON_HELP["dir"],
        "env": COMMON_HELP["env"],
        "verbose": COMMON_HELP["verbose"],
        "log-format": COMMON_HELP["log-format"],
    },
)
@handles_errors
def import_alembic(
    c: Context,
    config: str = "alembic.ini",
    per_revision: bool = False,
    name: str = "initial_schema",
    force: bool = False,
    dry_run: bool = False,
    dir_: str = "",
    env: str = "",
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Convert an Alembic project into SQL migrations: one with the head schema, or one per
    revision (--per-revision), checked on a scratch database before anything is written."""
    from migrate_tasks.errors import UsageError
    from migrate_tasks.files.source import NAME_PATTERN, display_path, version_of
    from migrate_tasks.from_alembic.importer import import_alembic as run_import
    from migrate_tasks.from_alembic.importer import write_files

    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"--name {name!r}: use lower-case letters, digits and underscores")
    # No database is used. A team leaving PostgreSQL often still has DATABASE_URL set to
    # it: a stand-in URL keeps that from being read (and refused as not libSQL).
    settings = settings_from(c, ConnectionFlags(url=":memory:", dir=dir_, env=env))
    outcome = run_import(Path(config), per_revision=per_revision, name=name, table=settings.table)
    for warning in outcome.warnings:
        logsetup.log.warning("%s", warning)
    count = len(outcome.revisions)
    if dry_run:
        for file in outcome.files:
            print(f"-- file: {display_path(settings.directory / file.filename)}")
            print(file.text)
        return
    written = write_files(settings.directory, outcome.files, force=force)
    for path in written:
        print(f"wrote {display_path(path)}")
    head = outcome.head
    version = version_of(outcome.files[-1].filename)
    what = "one migration per revision" if per_revision else "the head schema"
    print(
        f"imported {count} Alembic revision(s) up to {head.id} as {what};"
        f" {len(outcome.warnings)} warning(s)"
    )
    print(
        f"next: `{command('verify')}`; on databases Alembic already migrated to {head.id}:"
        f" `{command('baseline ' + version)}`"
    )
