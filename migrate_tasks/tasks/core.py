"""Invoke tasks: parse flags -> settings -> engine -> report; our errors -> Exit(code).

Every task is thin. A user's tasks.py gets them all with::

    from invoke import Collection
    from migrate_tasks import migrate
    ns = Collection(migrate)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from invoke import Context, task

from migrate_tasks.config.settings import Settings
from migrate_tasks.errors import CheckFailed, MigrateError, UsageError
from migrate_tasks.progname import command
from migrate_tasks.report import logs as logsetup
from migrate_tasks.report import render as report
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    CONFIRM_HELP,
    FLEET_HELP,
    RUN_JSON_HELP,
    WRITE_HELP,
    MigrateTask,
    confirmer,
    describe_target,
    handles_errors,
    help_for,
    open_engine,
    run_options,
    scrub,
    settings_from,
)


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

    settings = settings_from(c, locals())
    print(display_path(create_migration(settings.directory, name)))


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
    jobs: int = 4,
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

    settings = settings_from(c, locals())
    if fleet or admin_url:
        from migrate_tasks.fleet.runner import status_operation

        return _fleet(settings, status_operation(check=check), locals())
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
        print(report.status_json(rows, target, problems, replica=replica))
    else:
        print(report.status_table(rows))
        print(report.status_summary(rows))
    if check and problems:
        raise CheckFailed(f"{len(problems)} migration(s) need attention: " + "; ".join(problems))


@task(klass=MigrateTask, help=help_for(FLEET_HELP, json="print the problems as one JSON document"))
@handles_errors
def validate(
    c: Context,
    json_: bool = False,
    fleet: str = "",
    admin_url: str = "",
    jobs: int = 4,
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
    settings = settings_from(c, locals())
    if fleet or admin_url:
        from migrate_tasks.fleet.runner import validate_operation

        return _fleet(settings, validate_operation(), locals())
    with open_engine(settings) as engine:
        problems = engine.validate()
        target = engine.driver.display_url
    for warning in engine.warnings:
        logsetup.log.warning("%s", warning)
    if json_:
        print(report.problems_json(problems, target, engine.warnings))
    else:
        print(report.problems_text(problems))
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
    jobs: int = 4,
    fail_fast: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Apply pending migrations in version order, each in its own transaction."""
    settings = settings_from(c, locals())
    if fleet or admin_url:
        from migrate_tasks.fleet.runner import up_operation

        if single_transaction:
            raise UsageError("--single-transaction works on one database, not with a fleet")
        options = run_options(settings, dry_run=dry_run)
        op = up_operation(
            step=step or None, to=to or None, allow_out_of_order=allow_out_of_order, options=options
        )
        return _fleet(settings, op, locals())
    with open_engine(settings) as engine, _json_failure(engine, "up", json_, dry_run, auth_token):
        describe_target(settings, engine.driver.display_url)
        outcome = engine.migrate(
            "up",
            step=step or None,
            to=to or None,
            allow_out_of_order=allow_out_of_order,
            single_transaction=single_transaction,
            options=run_options(settings, dry_run=dry_run),
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
    jobs: int = 4,
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
    settings = settings_from(c, locals())
    if fleet or admin_url:
        from migrate_tasks.fleet.runner import down_operation

        if (
            settings.protected
            and not yes
            and not confirmer(settings)("roll back on every database of the fleet")
        ):
            raise UsageError("aborted: nothing was changed")
        op = down_operation(
            step=step or None,
            to=to or None,
            all_=all_,
            options=run_options(settings, dry_run=dry_run),
        )
        return _fleet(settings, op, locals())
    with open_engine(settings) as engine, _json_failure(engine, "down", json_, dry_run, auth_token):
        describe_target(settings, engine.driver.display_url)
        outcome = engine.migrate(
            "down",
            step=step or None,
            to=to or None,
            all_=all_,
            options=run_options(settings, dry_run=dry_run, yes=yes),
        )
    _finish(outcome, json_=json_, dry_run=dry_run, target=engine.driver.display_url)


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
    settings = settings_from(c, locals())
    with open_engine(settings) as engine:
        describe_target(settings, engine.driver.display_url)
        outcome = engine.repair(
            version.split("_", 1)[0],
            "applied" if applied else "rolled_back",
            run_options(settings, dry_run=dry_run, yes=yes),
        )
    if outcome.calls is not None:
        report.write_calls(outcome.calls, sys.stdout)


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
    settings = settings_from(c, locals())
    with open_engine(settings) as engine:
        describe_target(settings, engine.driver.display_url)
        holder = engine.holder()
        if holder is None:
            print("no migration lock is held")
            return
        if dry_run:
            print(f"-- the lock is held by {holder.describe()}")
            report.write_calls(engine.unlock_calls(), sys.stdout)
            return
        # unlock always asks: releasing a live run's lock is how migrations run twice
        engine.unlock(run_options(settings, dry_run=False, yes=yes, always_confirm=True))
    print(f"released the migration lock held by {holder.describe()}")


# -- CI/CD: verify, dump, and --json for up/down -------------------------------------------

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
}


@task(klass=MigrateTask, help=VERIFY_HELP)
@handles_errors
def verify(
    c: Context,
    url: str = "",
    force: bool = False,
    json_: bool = False,
    auth_token: str = "",
    dir_: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Prove on a scratch database that every down undoes its up, and up applies again."""
    from migrate_tasks.ops.verify import scratch_path
    from migrate_tasks.ops.verify import verify as run_verify

    if force and not url:
        raise UsageError("--force drops everything in the --url database; it needs --url")
    with contextlib.ExitStack() as stack:
        target = url or stack.enter_context(scratch_path())
        flags = {"url": target, "auth_token": auth_token, "dir_": dir_, "insecure": insecure}
        settings = settings_from(c, flags)
        engine = stack.enter_context(open_engine(settings))
        logsetup.log.info("verify: database %s", engine.driver.display_url)
        result = run_verify(
            engine,
            run_options(settings, dry_run=False),
            temporary=not url,
            force=force,
        )
    print(report.verify_json(result) if json_ else report.verify_text(result))
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
    from migrate_tasks.ops.schema import compare_dump, write_dump

    settings = settings_from(c, locals())
    # A typo in a file URL must not write an empty schema.sql: the database must exist.
    with open_engine(settings, must_exist=True) as engine:
        outcome = compare_dump(engine, Path(output))
    if not check and not outcome.up_to_date:
        write_dump(Path(output), outcome.text)
    if json_:
        print(report.dump_json(outcome, output=output, check=check))
    elif check:
        print(outcome.diff if outcome.diff else f"{output} is up to date")
    else:
        print(f"{'unchanged' if outcome.up_to_date else 'wrote'} {output}")
    if check and not outcome.up_to_date:
        raise CheckFailed(
            f"{output} is out of date with {outcome.target}: run `{command('dump')}` and commit it"
        )


def _fleet(settings: Settings, operation: Any, flags: Mapping[str, Any]) -> None:
    """Fleet mode: the same operation on many databases, a live progress line, one table."""
    import time

    from migrate_tasks.fleet import runner as fleet

    targets = fleet.discover_targets(
        flags["fleet"] or None,
        admin_url=flags["admin_url"] or None,
        base_url=settings.url if flags["admin_url"] else None,
        auth_token=settings.auth_token,
        insecure=settings.insecure,
    )
    started = time.perf_counter()
    results = fleet.run_fleet(
        targets,
        operation,
        settings=settings,
        jobs=flags["jobs"],
        fail_fast=flags["fail_fast"],
        on_progress=report.fleet_progress_printer(sys.stderr),
    )
    elapsed = time.perf_counter() - started
    if flags.get("json_"):
        print(report.fleet_json(results, operation.name, elapsed))
    else:
        print(report.fleet_table(results))
        print(report.fleet_summary(results, elapsed))
    fleet.check_results(results)


@contextlib.contextmanager
def _json_failure(
    engine: Any, direction: str, enabled: bool, dry_run: bool, token: str
) -> Iterator[None]:
    """``--json``: when the run stops, still one document on stdout (docs/json.md), with
    what completed before the failure, as the error carries it; then the error goes on
    to stderr and its exit code."""
    try:
        yield
    except MigrateError as exc:
        if enabled:
            message = scrub(str(exc), token)
            print(
                report.run_failure_json(
                    direction,
                    engine.driver.display_url,
                    exc.completed,
                    exc.exit_code,
                    message,
                    dry_run=dry_run,
                )
            )
        raise


def _finish(outcome: Any, *, json_: bool = False, dry_run: bool = False, target: str = "") -> None:
    if json_:  # --json: one document on stdout (docs/json.md)
        if dry_run:
            report.write_plan_json(outcome, target, sys.stdout)
        else:
            print(report.run_json(outcome, target))
        return
    if outcome.calls is not None:
        report.write_calls(outcome.calls, sys.stdout)
        return
    print(report.results_summary(outcome.results, outcome.direction))
