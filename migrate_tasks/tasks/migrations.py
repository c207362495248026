"""The everyday tasks: ``create``, ``status``, ``validate``, ``up`` and ``down``.

Each is thin: flags -> settings -> the engine (or, with ``--fleet``, ``tasks.fleet``) ->
``report``. The last four also run on a fleet; ``up`` and ``down`` print one JSON
document with ``--json``, even when the run stops part-way.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.errors import CheckFailed, MigrateError, UsageError
from migrate_tasks.report.documents import problems_json, run_failure_json, run_json, status_json
from migrate_tasks.report.dryrun import write_calls, write_plan_json
from migrate_tasks.report.status import (
    problems_text,
    results_summary,
    status_counts,
    status_summary,
    status_table,
)
from migrate_tasks.tasks.base import (
    CONFIRM_HELP,
    RUN_JSON_HELP,
    WRITE_HELP,
    MigrateTask,
    confirmer,
    handles_errors,
    help_for,
    run_options,
    task_settings,
)
from migrate_tasks.tasks.fleet import FLEET_HELP, FleetFlags, run_fleet_task
from migrate_tasks.tasks.integrity import (
    refuse_unsound_folder,
)
from migrate_tasks.tasks.wait import WAIT_HELP

if TYPE_CHECKING:
    from migrate_tasks.api.results import Run
    from migrate_tasks.report.progress import TerminalProgress

__all__ = ["create", "down", "status", "up", "validate"]


@task(
    klass=MigrateTask,
    help=help_for(
        name="lower-case letters, digits and underscores, e.g. create_users",
        python="write a Python migration (VERSION_NAME.py with up(db) and down(db))"
        " instead of a .sql file",
    ),
)
@handles_errors
def create(
    c: Context,
    name: str,
    python: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Write a new, empty migration file named after the current UTC time."""
    from migrate_tasks.files.source import display_path

    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    print(display_path(Migrator.from_settings(settings).create(name, python=python)))


@task(
    klass=MigrateTask,
    help=help_for(
        FLEET_HELP,
        json="print the status as one JSON document",
        check="exit 3 if anything is pending, rolled back, failed, missing or modified",
    ),
)
@handles_errors
def status(
    c: Context,
    json_: bool = False,
    check: bool = False,
    fleet: str = "",
    admin_url: str = "",
    jobs: int = defaults.FLEET_JOBS,
    fail_fast: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Show every migration and whether it is applied."""

    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import status_operation

        operation = status_operation(summary=status_summary, counts=status_counts, check=check)
        return run_fleet_task(settings, operation, fleet_flags)
    with Migrator.from_settings(settings) as migrator:
        found = migrator.status()
    rows, problems = found.migrations, found.problems
    if json_:
        print(status_json(rows, found.target, problems, replica=found.replica))
    else:
        print(status_table(rows))
        print(status_summary(rows))
    if check and problems:
        raise CheckFailed(f"{len(problems)} migration(s) need attention: " + "; ".join(problems))


@task(klass=MigrateTask, help=help_for(FLEET_HELP, json="print the problems as one JSON document"))
@handles_errors
def validate(
    c: Context,
    json_: bool = False,
    fleet: str = "",
    admin_url: str = "",
    jobs: int = defaults.FLEET_JOBS,
    fail_fast: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Check files against history and target: modified, missing, out of order, bad, refused."""
    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import validate_operation

        refuse_unsound_folder(settings, "validate the fleet")
        return run_fleet_task(settings, validate_operation(), fleet_flags)
    with Migrator.from_settings(settings) as migrator:
        found = migrator.validate()
    problems = found.problems
    if json_:
        print(problems_json(problems, found.target, found.warnings))
    else:
        print(problems_text(problems))
    if problems:
        raise CheckFailed(f"validation found {len(problems)} problem(s)")


@task(
    klass=MigrateTask,
    help=help_for(
        WRITE_HELP,
        FLEET_HELP,
        step="apply only the next N pending migrations",
        to="apply pending migrations up to and including this version",
        allow_out_of_order="apply pending migrations older than the newest applied one",
        single_transaction="apply all pending migrations in ONE transaction: if one fails,"
        " none is applied or recorded (for CI databases). Refused for transaction:false,"
        " foreign_keys:off and Python migrations",
        json=RUN_JSON_HELP,
        wait="first wait until the database answers (a server still starting), as the"
        " task wait does",
        **WAIT_HELP,
    ),
)
@handles_errors
def up(
    c: Context,
    step: int = 0,
    to: str = "",
    dry_run: bool = False,
    allow_out_of_order: bool = False,
    single_transaction: bool = False,
    json_: bool = False,
    lock_timeout: str = "",
    fleet: str = "",
    admin_url: str = "",
    jobs: int = defaults.FLEET_JOBS,
    fail_fast: bool = False,
    wait: bool = False,
    wait_timeout: float = float(defaults.WAIT_TIMEOUT_S),
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Apply pending migrations in version order, each in its own transaction."""
    settings = task_settings(c, url, auth_token, dir_, env, insecure, lock_timeout)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import up_operation

        refuse_unsound_folder(settings, "migrate up")
        if single_transaction:
            raise UsageError("--single-transaction works on one database, not with a fleet")
        if wait:
            raise UsageError("--wait works on one database, not with a fleet")
        options = run_options(settings, dry_run=dry_run)
        op = up_operation(
            step=step or None, to=to or None, allow_out_of_order=allow_out_of_order, options=options
        )
        return run_fleet_task(settings, op, fleet_flags)
    migrator = Migrator.from_settings(settings)
    with (
        migrator,
        _json_failure(migrator, "up", json_, dry_run, auth_token),
        _progress(quiet=json_ or dry_run) as line,
    ):
        run = migrator.up(
            step,
            to,
            dry_run=dry_run,
            allow_out_of_order=allow_out_of_order,
            single_transaction=single_transaction,
            wait=wait_timeout if wait else None,
            progress=line,
        )
    _finish(run, json_=json_)


@task(
    klass=MigrateTask,
    help=help_for(
        WRITE_HELP,
        CONFIRM_HELP,
        FLEET_HELP,
        step="roll back the N most recent migrations (default 1)",
        to="roll back every migration applied after this version",
        all="roll back every applied migration",
        json=RUN_JSON_HELP,
    ),
)
@handles_errors
def down(
    c: Context,
    step: int = 0,
    to: str = "",
    all_: bool = False,
    dry_run: bool = False,
    json_: bool = False,
    yes: bool = False,
    lock_timeout: str = "",
    fleet: str = "",
    admin_url: str = "",
    jobs: int = defaults.FLEET_JOBS,
    fail_fast: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Roll back the most recent migration (or --step N, --to VERSION, --all)."""
    settings = task_settings(c, url, auth_token, dir_, env, insecure, lock_timeout)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import down_operation

        asking = run_options(settings, dry_run=dry_run, yes=yes)
        asking.confirm_or_abort("roll back on every database of the fleet")
        options = run_options(settings, dry_run=dry_run)  # asked once, not per database
        op = down_operation(step=step or None, to=to or None, all_=all_, options=options)
        return run_fleet_task(settings, op, fleet_flags)
    migrator = Migrator.from_settings(settings)
    with (
        migrator,
        _json_failure(migrator, "down", json_, dry_run, auth_token),
        _progress(quiet=json_ or dry_run) as line,
    ):
        run = migrator.down(
            step,
            to,
            all=all_,
            dry_run=dry_run,
            yes=yes,
            confirm=confirmer(settings),
            progress=line,
        )
    _finish(run, json_=json_)


@contextlib.contextmanager
def _progress(*, quiet: bool) -> Iterator[TerminalProgress | None]:
    """A live progress line on stderr when it is a terminal (not with --json or
    --dry-run); gone when the run ends, however it ends."""
    from migrate_tasks.report.progress import progress_for, shown_while

    with shown_while(progress_for(sys.stderr, enabled=not quiet)) as line:
        yield line


@contextlib.contextmanager
def _json_failure(
    migrator: Migrator, direction: str, enabled: bool, dry_run: bool, token: str
) -> Iterator[None]:
    """With ``--json``, a run that stops still prints its one document (then re-raises),
    with what completed before the failure as the error carries it (docs/json.md)."""
    try:
        yield
    except MigrateError as exc:
        if enabled:
            message = scrub(str(exc), token)
            completed = exc.completed
            print(
                run_failure_json(
                    direction, migrator.target, completed, exc.exit_code, message, dry_run=dry_run
                )
            )
        raise


def _finish(run: Run, *, json_: bool) -> None:
    """Print what ``up``/``down`` did: JSON, the dry-run SQL, or one summary line."""
    outcome = run.outcome
    if json_:  # --json: one document on stdout (docs/json.md)
        if run.dry_run:
            write_plan_json(outcome, run.target, sys.stdout)
        else:
            print(run_json(outcome, run.target))
        return
    if outcome.calls is not None:
        write_calls(outcome.calls, sys.stdout)
        return
    print(results_summary(outcome.results, outcome.direction))
