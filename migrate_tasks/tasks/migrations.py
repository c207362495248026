"""The everyday tasks: ``create``, ``status``, ``validate``, ``up`` and ``down``.

Each is thin: flags -> settings -> the engine (or, with ``--fleet``, ``tasks.fleet``) ->
``report``. The last four also run on a fleet; ``up`` and ``down`` print one JSON
document with ``--json``, even when the run stops part-way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoke import Context, task

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.errors import CheckFailed, MigrateError, UsageError
from migrate_tasks.report import logs as logsetup
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
    ConnectionFlags,
    MigrateTask,
    describe_target,
    handles_errors,
    help_for,
    open_engine,
    run_options,
    settings_from,
)
from migrate_tasks.tasks.fleet import FLEET_HELP, FleetFlags, run_fleet_task
from migrate_tasks.tasks.integrity import (
    folder_problems,
    keeping_sum_current,
    refuse_unsound_folder,
)
from migrate_tasks.tasks.wait import WAIT_HELP, wait_for_database

if TYPE_CHECKING:
    from migrate_tasks.engine.core import Engine, Outcome, RunOptions

__all__ = ["create", "down", "status", "up", "validate"]


@task(
    klass=MigrateTask,
    help=help_for(name="lower-case letters, digits and underscores, e.g. create_users"),
)
@handles_errors
def create(
    c: Context,
    name: str,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Write a new, empty migration file named after the current UTC time."""
    from migrate_tasks.files.source import create_migration, display_path

    connection = ConnectionFlags(
        url=url, auth_token=auth_token, dir=dir_, env=env, insecure=insecure
    )
    settings = settings_from(c, connection)
    with keeping_sum_current(settings.directory) as written:
        written.append(create_migration(settings.directory, name))
    print(display_path(written[0]))


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
    from migrate_tasks.engine.plan import PROBLEM_STATES

    connection = ConnectionFlags(
        url=url, auth_token=auth_token, dir=dir_, env=env, insecure=insecure
    )
    settings = settings_from(c, connection)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import status_operation

        operation = status_operation(summary=status_summary, counts=status_counts, check=check)
        return run_fleet_task(settings, operation, fleet_flags)
    with open_engine(settings) as engine:
        rows = engine.status(probe_replica=True)  # over HTTP: one round trip for both
        target = engine.driver.display_url
        replica = engine.replica()
    if replica:
        logsetup.log.warning(
            "%s is a read replica: its answer may lag behind the primary by a moment;"
            " ask the primary for an exact status",
            target,
        )
    problems = [f"{r.version}_{r.name}: {r.state}" for r in rows if r.state in PROBLEM_STATES]
    if json_:
        print(status_json(rows, target, problems, replica=replica))
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
    connection = ConnectionFlags(
        url=url, auth_token=auth_token, dir=dir_, env=env, insecure=insecure
    )
    settings = settings_from(c, connection)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import validate_operation

        refuse_unsound_folder(settings, "validate the fleet")
        return run_fleet_task(settings, validate_operation(), fleet_flags)
    folder = folder_problems(settings)  # the integrity file: no database needed
    with open_engine(settings) as engine:
        problems = [*folder, *engine.validate()]
        target = engine.driver.display_url
    for warning in engine.warnings:
        logsetup.log.warning("%s", warning)
    if json_:
        print(problems_json(problems, target, engine.warnings))
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
        " none is applied or recorded (for CI databases). Refused for transaction:false"
        " and foreign_keys:off migrations",
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
    connection = ConnectionFlags(
        url=url,
        auth_token=auth_token,
        dir=dir_,
        env=env,
        insecure=insecure,
        lock_timeout=lock_timeout,
    )
    settings = settings_from(c, connection)
    fleet_flags = FleetFlags(
        fleet=fleet, admin_url=admin_url, jobs=jobs, fail_fast=fail_fast, json=json_
    )
    refuse_unsound_folder(settings, "migrate up")
    if fleet_flags.enabled:
        from migrate_tasks.fleet.runner import up_operation

        if single_transaction:
            raise UsageError("--single-transaction works on one database, not with a fleet")
        if wait:
            raise UsageError("--wait works on one database, not with a fleet")
        options = run_options(settings, dry_run=dry_run)
        op = up_operation(
            step=step or None, to=to or None, allow_out_of_order=allow_out_of_order, options=options
        )
        return run_fleet_task(settings, op, fleet_flags)
    if wait:
        logsetup.log.info("%s", wait_for_database(settings, wait_timeout))
    with (
        open_engine(settings) as engine,
        _json_failure(engine, "up", json_, dry_run, auth_token),
        _progress(run_options(settings, dry_run=dry_run), quiet=json_ or dry_run) as options,
    ):
        describe_target(settings, engine.driver.display_url)
        outcome = engine.migrate(
            "up",
            step=step or None,
            to=to or None,
            allow_out_of_order=allow_out_of_order,
            single_transaction=single_transaction,
            options=options,
        )
    _finish(outcome, json_=json_, dry_run=dry_run, target=engine.driver.display_url)


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
    connection = ConnectionFlags(
        url=url,
        auth_token=auth_token,
        dir=dir_,
        env=env,
        insecure=insecure,
        lock_timeout=lock_timeout,
    )
    settings = settings_from(c, connection)
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
    asking = run_options(settings, dry_run=dry_run, yes=yes)
    with (
        open_engine(settings) as engine,
        _json_failure(engine, "down", json_, dry_run, auth_token),
        _progress(asking, quiet=json_ or dry_run) as options,
    ):
        describe_target(settings, engine.driver.display_url)
        outcome = engine.migrate(
            "down", step=step or None, to=to or None, all_=all_, options=options
        )
    _finish(outcome, json_=json_, dry_run=dry_run, target=engine.driver.display_url)


@contextlib.contextmanager
def _progress(options: RunOptions, *, quiet: bool) -> Iterator[RunOptions]:
    """``options`` with a live progress line on stderr when it is a terminal (not with
    --json or --dry-run); the line is gone when the run ends, however it ends."""
    from migrate_tasks.report.progress import progress_for, shown_while

    with shown_while(progress_for(sys.stderr, enabled=not quiet)) as line:
        yield dataclasses.replace(options, progress=line) if line else options


@contextlib.contextmanager
def _json_failure(
    engine: Engine, direction: str, enabled: bool, dry_run: bool, token: str
) -> Iterator[None]:
    """With ``--json``, a run that stops still prints its one document (then re-raises),
    with what completed before the failure as the error carries it (docs/json.md)."""
    try:
        yield
    except MigrateError as exc:
        if enabled:
            message = scrub(str(exc), token)
            target = engine.driver.display_url
            completed = exc.completed
            print(
                run_failure_json(
                    direction, target, completed, exc.exit_code, message, dry_run=dry_run
                )
            )
        raise


def _finish(outcome: Outcome, *, json_: bool, dry_run: bool, target: str) -> None:
    """Print what ``up``/``down`` did: JSON, the dry-run SQL, or one summary line."""
    if json_:  # --json: one document on stdout (docs/json.md)
        if dry_run:
            write_plan_json(outcome, target, sys.stdout)
        else:
            print(run_json(outcome, target))
        return
    if outcome.calls is not None:
        write_calls(outcome.calls, sys.stdout)
        return
    print(results_summary(outcome.results, outcome.direction))
