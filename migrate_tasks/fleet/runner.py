"""Fleets: the same migrations on many databases, ``jobs`` of them at a time.

Where the databases come from (``discover_targets``, in ``fleet.targets``):

- a file of URLs or paths, one per line (``#`` comments, blank lines), each optionally
  followed by ``token_env=VARNAME``: that database's token is read from the environment
  variable, so the file itself never holds a secret (a token in it is refused);
- a glob of local files (``'tenants/*.db'``), when the argument is not an existing file;
- the namespaces of a sqld (``admin_url`` plus the data-plane ``base_url``): names from a
  names file, or suggested by the admin API's /metrics; each checked to exist (``admin``).

``run_fleet`` gives every database its own driver, engine and migration lock, on a thread
pool: our HTTP driver waits for the network without the GIL, so threads overlap the round
trips, which is where a fleet spends its time. A fleet of local files runs on forked
worker processes instead (``fleet.workers``: the native driver holds the GIL). One
database failing never stops the others unless ``fail_fast``: then running ones finish
and queued ones are ``skipped``.
A rerun continues where each database stopped, because each one's own tracking table
says what it has.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.settings import Settings
from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.catalogue import MigrationSet
from migrate_tasks.engine.core import Engine, RunOptions, current_actor
from migrate_tasks.errors import EXIT_CHECK, EXIT_FAILED, MigrateError, UsageError
from migrate_tasks.fleet import workers
from migrate_tasks.fleet.targets import FleetTarget, discover_targets, namespace_targets

if TYPE_CHECKING:
    from migrate_tasks.engine.plan import StatusRow

__all__ = [
    "FleetFailed",
    "FleetResult",
    "FleetTarget",
    "Operation",
    "check_results",
    "discover_targets",
    "down_operation",
    "namespace_targets",
    "run_fleet",
    "status_operation",
    "up_operation",
    "validate_operation",
]

log = logging.getLogger("migrate_tasks")

OK, FAILED, SKIPPED = "ok", "failed", "skipped"

ProgressCallback = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Done:
    """What an operation did to one database; a ``problem`` makes it count as failed."""

    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class Operation:
    """One task's work on one engine, plus a check of the files done once for the fleet."""

    name: str
    run: Callable[[Engine], Done]
    #: A check of the migration files alone (no database), done once for the fleet.
    precheck: Callable[[MigrationSet], None] | None = None


@dataclass(frozen=True)
class FleetResult:
    """The outcome for one database, in the order the targets were given."""

    target: str
    outcome: str  # ok | failed | skipped
    summary: str
    error: str | None
    duration_ms: float
    namespace: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0


class FleetFailed(MigrateError):
    """Some databases failed; the exit code is theirs if they agree, else 1."""

    def __init__(self, results: Sequence[FleetResult]) -> None:
        failed = [r for r in results if r.outcome == FAILED]
        skipped = sum(r.outcome == SKIPPED for r in results)
        codes = {r.exit_code for r in failed}
        self.exit_code = codes.pop() if len(codes) == 1 else EXIT_FAILED
        tail = f", {skipped} skipped (--fail-fast)" if skipped else ""
        names = ", ".join(r.target for r in failed[:5]) + (", ..." if len(failed) > 5 else "")
        super().__init__(f"{len(failed)} of {len(results)} databases failed{tail}: {names}")


def check_results(results: Sequence[FleetResult]) -> None:
    """Raise ``FleetFailed`` (with a fitting exit code) if any database failed."""
    if any(r.outcome == FAILED for r in results):
        raise FleetFailed(results)


# -- operations -----------------------------------------------------------------------------


def _no_asking(options: RunOptions | None) -> RunOptions:
    options = options or RunOptions()
    if options.dry_run:
        raise UsageError("--dry-run works on one database at a time, not with a fleet")
    if options.confirm is not None:
        raise ValueError("confirm once for the whole fleet before run_fleet, not per database")
    return options


def _file_errors(migrations: MigrationSet) -> None:
    errors = migrations.file_errors()
    if errors:
        raise errors[0]


def _file_names(migrations: MigrationSet) -> None:
    migrations.files()  # raises the first badly named file


def up_operation(
    *,
    step: int | None = None,
    to: str | None = None,
    allow_out_of_order: bool = False,
    options: RunOptions | None = None,
) -> Operation:
    options = _no_asking(options)

    def run(engine: Engine) -> Done:
        outcome = engine.migrate(
            "up", step=step, to=to, allow_out_of_order=allow_out_of_order, options=options
        )
        return _migrated(outcome.results, "applied", "nothing to apply")

    return Operation("up", run, _file_errors)


def down_operation(
    *,
    step: int | None = None,
    to: str | None = None,
    all_: bool = False,
    options: RunOptions | None = None,
) -> Operation:
    options = _no_asking(options)

    def run(engine: Engine) -> Done:
        outcome = engine.migrate("down", step=step, to=to, all_=all_, options=options)
        return _migrated(outcome.results, "rolled back", "nothing to roll back")

    return Operation("down", run, _file_names)


def _migrated(results: Sequence[Any], verb: str, nothing: str) -> Done:
    done = [f"{r.version}_{r.name}" for r in results]
    summary = f"{verb} {len(done)}" if done else nothing
    return Done(summary, {verb.replace(" ", "_"): done})


def status_operation(
    *,
    summary: Callable[[Sequence[StatusRow]], str],
    counts: Callable[[Sequence[StatusRow]], dict[str, int]],
    check: bool = False,
) -> Operation:
    """Each database's counts; with ``check`` anything not applied makes it fail.

    ``summary`` and ``counts`` are how a status reads (``report.status``): the caller
    passes them, since fleet sits below the presentation layer and never imports it.
    """
    from migrate_tasks.engine.plan import PROBLEM_STATES

    def run(engine: Engine) -> Done:
        rows = engine.status()
        problems = [f"{r.version}_{r.name}: {r.state}" for r in rows if r.state in PROBLEM_STATES]
        details = {"counts": counts(rows), "problems": problems}
        problem = "; ".join(problems) if check and problems else None
        return Done(summary(rows), details, problem)

    return Operation("status", run, _file_names)


def validate_operation() -> Operation:
    def run(engine: Engine) -> Done:
        problems = engine.validate()
        listed = [{"kind": p.kind, "version": p.version, "message": p.message} for p in problems]
        if not problems:
            return Done("ok", {"problems": []})
        text = "\n".join(f"{p.kind}: {p.message}" for p in problems)
        return Done(f"{len(problems)} problem(s)", {"problems": listed}, text)

    return Operation("validate", run)


# -- running --------------------------------------------------------------------------------


def run_fleet(
    targets: Sequence[FleetTarget],
    operation: Operation,
    *,
    settings: Settings,
    jobs: int = defaults.FLEET_JOBS,
    fail_fast: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[FleetResult]:
    """Run ``operation`` on every target, ``jobs`` at a time; one result per target, in order.

    ``on_progress(done, failed, remaining)`` is called from this thread at the start and
    after each database (``done`` counts every finished one, ``failed`` those that
    failed). Ctrl-C: queued databases are dropped, running ones finish (each migration
    is atomic, and their locks get released), then ``KeyboardInterrupt`` propagates.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    # One catalogue for the fleet: every file is read, hashed and parsed once, not once
    # per database (with 100 databases that was most of our own CPU time), and every
    # database runs the bytes that were checked.
    migrations = MigrationSet(settings.directory)
    if operation.precheck is not None:
        # A bad migration file would fail every database the same way: say it once.
        operation.precheck(migrations)
    total = len(targets)
    results: list[FleetResult | None] = [None] * total
    processes = workers.use_processes(all(t.kind == "file" for t in targets), min(jobs, total))
    stop = workers.stop_flag(processes)
    actor = current_actor()

    def one(index: int) -> FleetResult:
        target = targets[index]
        if stop.is_set():
            return FleetResult(target.display, SKIPPED, "not started", None, 0.0, target.namespace)
        secrets = [target.token, settings.auth_token]
        who = current_actor() if processes else actor  # a lease names the process holding it
        result = _run_one(target, operation, settings, who, secrets, migrations)
        if result.outcome == FAILED and fail_fast:
            stop.set()
        return result

    progress = on_progress or (lambda done, failed, remaining: None)
    progress(0, 0, total)
    finished = failed = 0
    with _prefix_logs(), workers.pool(one, min(jobs, total or 1), processes) as pool:
        futures: dict[Future[FleetResult], int] = {pool.submit(i): i for i in range(total)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    target = targets[futures[future]]
                    result = pool.result(
                        future, futures[future], functools.partial(_worker_died, target)
                    )
                    results[futures[future]] = result
                    finished += 1
                    failed += result.outcome == FAILED
                progress(finished, failed, total - finished)
        except BaseException:
            stop.set()  # queued ones return at once; running ones finish
            pool.cancel()
            raise
    return [r for r in results if r is not None]


def _run_one(
    target: FleetTarget,
    operation: Operation,
    settings: Settings,
    actor: Any,
    secrets: Sequence[str | None],
    migrations: MigrationSet,
) -> FleetResult:
    started = time.perf_counter()
    _current.display = target.display
    try:
        driver = open_driver(
            target.location,
            target.token,
            timeout=settings.timeout,
            host_header=target.host_header,
            display_url=target.display,
            batch=(settings.batch_steps, settings.batch_bytes),
        )
        try:
            engine = Engine(
                driver, settings.directory, settings.table, actor, migrations=migrations
            )
            done = operation.run(engine)
        finally:
            driver.close()
    except MigrateError as exc:
        return _failed(target, str(exc), exc.exit_code, started, secrets)
    except Exception as exc:  # a bug must not take the other databases down with it
        log.debug("unexpected error on %s", target.display, exc_info=True)
        message = f"unexpected {type(exc).__name__}: {exc}"
        return _failed(target, message, EXIT_FAILED, started, secrets)
    finally:
        _current.display = None
    elapsed = (time.perf_counter() - started) * 1000
    if done.problem is not None:
        error = scrub(done.problem, *secrets)
        return FleetResult(
            target.display, FAILED, done.summary, error, elapsed, target.namespace,
            done.details, EXIT_CHECK,
        )  # fmt: skip
    return FleetResult(
        target.display, OK, done.summary, None, elapsed, target.namespace, done.details
    )


def _worker_died(target: FleetTarget) -> FleetResult:
    """A worker process ended without a result (killed, out of memory): its database may
    have been in the middle of a migration, which its own transaction rolled back."""
    message = (
        "a worker process ended unexpectedly (killed?) before this database was done; each"
        " migration is atomic, so a rerun continues where it stopped"
    )
    return FleetResult(
        target.display, FAILED, "error", message, 0.0, target.namespace, {}, EXIT_FAILED
    )


def _failed(
    target: FleetTarget, message: str, code: int, started: float, secrets: Sequence[str | None]
) -> FleetResult:
    elapsed = (time.perf_counter() - started) * 1000
    error = scrub(message, *secrets)
    return FleetResult(target.display, FAILED, "error", error, elapsed, target.namespace, {}, code)


# Log lines from a worker name their database: fifty interleaved "applied ..." lines
# are useless otherwise.
_current = threading.local()


class _TargetPrefix(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        display = getattr(_current, "display", None)
        if display:
            record.msg = f"{display}: {record.getMessage()}"
            record.args = ()
        return True


@contextmanager
def _prefix_logs() -> Iterator[None]:
    prefix = _TargetPrefix()
    log.addFilter(prefix)
    try:
        yield
    finally:
        log.removeFilter(prefix)
