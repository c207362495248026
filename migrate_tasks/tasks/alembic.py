"""Tasks for leaving Alembic (docs/alembic.md): ``baseline``, ``import-alembic`` and
``retire-alembic``.

Thin, like every task module: flags -> settings -> ``baseline`` / ``alembic_import`` /
``retire`` -> printed summary. Alembic is imported only by ``import-alembic``, and only
when it runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.errors import CheckFailed, UsageError
from migrate_tasks.progname import command
from migrate_tasks.report import logs as logsetup
from migrate_tasks.report.dryrun import write_calls
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    CONFIRM_HELP,
    WRITE_HELP,
    MigrateTask,
    confirmer,
    handles_errors,
    help_for,
    open_engine,
    task_settings,
)
from migrate_tasks.tasks.integrity import keeping_sum_current

if TYPE_CHECKING:
    from migrate_tasks.config.settings import Settings
    from migrate_tasks.from_alembic.retire import Retirement

__all__ = ["baseline", "import_alembic", "retire_alembic"]


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
    settings = task_settings(c, url, auth_token, dir_, env, insecure, lock_timeout)
    with Migrator.from_settings(settings) as migrator:
        outcome = migrator.baseline(
            version,
            force=force,
            drop_alembic_version=drop_alembic_version,
            dry_run=dry_run,
            yes=yes,
            confirm=confirmer(settings),
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
    from migrate_tasks.files.source import NAME_PATTERN, display_path, version_of
    from migrate_tasks.from_alembic.importer import import_alembic as run_import
    from migrate_tasks.from_alembic.importer import write_files

    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"--name {name!r}: use lower-case letters, digits and underscores")
    # No database is used. A team leaving PostgreSQL often still has DATABASE_URL set to
    # it: a stand-in URL keeps that from being read (and refused as not libSQL).
    settings = task_settings(c, url=":memory:", dir_=dir_, env=env)
    outcome = run_import(Path(config), per_revision=per_revision, name=name, table=settings.table)
    for warning in outcome.warnings:
        logsetup.log.warning("%s", warning)
    count = len(outcome.revisions)
    if dry_run:
        for file in outcome.files:
            print(f"-- file: {display_path(settings.directory / file.filename)}")
            print(file.text)
        return
    with keeping_sum_current(settings.directory) as added:
        written = write_files(settings.directory, outcome.files, force=force)
        added.extend(written)
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


@task(
    klass=MigrateTask,
    help=help_for(
        config="the Alembic project's configuration file (default: alembic.ini)",
        backup="a new (or empty) folder to copy Alembic's files into before they are"
        " removed, with their modification times, SHA256SUMS and a README",
        dry_run="show the checks, the files to back up and remove, and the references"
        " that would remain; change nothing",
        force="retire even if no migration says it was imported from the Alembic head, or"
        " the configured database has not recorded it (the problems are still listed)",
    ),
)
@handles_errors
def retire_alembic(
    c: Context,
    config: str = "alembic.ini",
    backup: str = "",
    dry_run: bool = False,
    force: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Back up and remove the Alembic configuration and scripts once the migrations replace
    them, then list every remaining reference to Alembic (exit 3 if any remain)."""
    from migrate_tasks import __version__
    from migrate_tasks.from_alembic import retire
    from migrate_tasks.from_alembic.project import read_project
    from migrate_tasks.from_alembic.references import scan_root
    from migrate_tasks.report import retire as show

    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    config_path, backup_path = Path(config), Path(backup) if backup else None
    root = scan_root(Path.cwd())
    skip = [settings.directory, *([backup_path] if backup_path else [])]
    if not config_path.is_file():
        print(
            f"no Alembic configuration at {config}: nothing to back up or remove;"
            f" looking for references to Alembic in {root}"
        )
        _references(root, skip, config_path, ["alembic/"])  # the usual script folder
        return
    if backup_path is None:
        raise UsageError(
            "pass --backup DIR: a new or empty folder to copy Alembic's files into before"
            " they are removed"
        )
    plan = retire.plan_retirement(read_project(config_path), settings.directory)
    retire.check_backup_folder(backup_path, plan, settings.directory)
    print(show.project_line(plan))
    replaced, database = _retirement_checks(plan, settings, config, force=force)
    if not dry_run:
        readme = show.backup_readme(
            plan,
            when=retire.utc_now(),
            invocation=command(f"retire-alembic --config {config} --backup {backup}"),
            version=__version__,
            replaced_by=replaced,
            database=database,
            backup=backup,
        )
        retire.write_backup(plan, backup_path, readme)
        retire.remove_files(plan)
    show.write_plan(plan, backup_path, dry_run, sys.stdout)
    skip += [*plan.files, *plan.project.folders]
    kept = [f for f in plan.project.folders if not _holds(f, settings.directory)]
    _references(root, skip, config_path, _spellings(kept, root, config_path))


def _retirement_checks(
    plan: Retirement, settings: Settings, config: str, *, force: bool
) -> tuple[list[str], str]:
    """Is the conversion in place? Prints what it finds; refuses (exit 3) unless --force.
    Returns the lines naming the replacing migrations, and the database checked."""
    from migrate_tasks.files.source import display_path, version_of
    from migrate_tasks.from_alembic import retire

    problems = retire.problems_with_conversion(plan.project, settings.directory, config)
    imported = retire.imported_revisions(settings.directory)
    heads = [h for h in plan.project.heads if h in imported]
    versions = [version_of(imported[h].name) for h in heads]
    replaced = [f"{display_path(imported[h])} (imported from Alembic revision {h})" for h in heads]
    for line in replaced:
        print(f"replaced by: {line}")
    database, notes = "no (none configured: --url, LIBSQL_URL, ...)", []
    if settings.sources.get("url", "default") != "default":
        with open_engine(settings, must_exist=True) as engine:
            found, notes = retire.database_findings(engine, versions)
            problems += found
            database = engine.driver.display_url
            if versions and not found:
                database += f" (records {', '.join(versions)} as applied)"
    print(f"database checked: {database}")
    for note in notes:
        print(f"note: {note}")
    if problems and not force:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise CheckFailed(f"Alembic cannot be retired yet; nothing was changed:\n{listed}")
    for problem in problems:
        logsetup.log.warning("--force: retiring despite: %s", problem)
    return replaced, database


def _holds(folder: Path, migrations: Path) -> bool:
    migrations = migrations.resolve()
    return folder == migrations or folder in migrations.parents


def _spellings(folders: list[Path], root: Path, config: Path) -> list[str]:
    """How a project may spell the script folder: from the root, the config, here."""
    found = []
    for folder in folders:
        for start in (root, config.resolve().parent, Path.cwd()):
            relative = os.path.relpath(folder, start)
            if relative != "." and not relative.startswith(".."):
                found.append(Path(relative).as_posix())
    return found


def _references(root: Path, skip: list[Path], config: Path, folders: list[str]) -> None:
    """List what still points at Alembic; exit 3 if anything does."""
    from migrate_tasks.from_alembic.references import find_references
    from migrate_tasks.report import retire as show

    names = ["alembic.ini", config.name]
    scan = find_references(root, skip=skip, config_names=names, folders=folders)
    show.write_references(scan, root.resolve(), sys.stdout)
    if scan.references:
        count = len(scan.references)
        raise CheckFailed(
            f"{count} reference(s) to Alembic remain (listed above): edit them, then run"
            f" `{command('retire-alembic')}` again to check"
        )
