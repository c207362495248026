"""Invoke tasks: parse flags -> settings -> engine -> report; our errors -> Exit(code).

Every task is thin. A user's tasks.py gets them all with::

    from invoke import Collection
    from migrate_tasks import migrate
    ns = Collection(migrate)
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from invoke import Collection, Context, Task, task
from invoke.exceptions import Exit

from . import logsetup, report
from .errors import CheckFailed, MigrateError
from .settings import CONFIG_DEFAULTS, Settings, load_dotenv_file, resolve_settings

F = TypeVar("F", bound=Callable[..., Any])

COMMON_HELP = {
    "url": "database URL: file:dev.db, a path, http(s)://, libsql://, ws(s):// "
    "(default: LIBSQL_URL, DATABASE_URL, config, file:dev.db)",
    "auth-token": "auth token for a server (default: LIBSQL_AUTH_TOKEN); never printed",
    "dir": "migrations folder (default: MIGRATIONS_DIR, config, ./migrations)",
    "env": "named environment from migrate.environments in invoke.yaml (default: MIGRATE_ENV)",
    "verbose": "log every statement (debug level)",
    "log-format": "log line format on stderr: text or json",
}


#: Short flags are chosen, not derived from spelling: no ``-h`` that is not help, and no
#: one-letter way to ``--all`` or to a token.
SHORT_FLAGS = {"url": "u", "env": "e", "step": "s", "to": "t", "dry_run": "n", "verbose": "v"}


class MigrateTask(Task):
    """A Task whose short flags come from SHORT_FLAGS only."""

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        long_name = opts["names"][0]
        short = SHORT_FLAGS.get(name.rstrip("_"))
        opts["names"] = [long_name, short] if short and short not in taken_names else [long_name]
        return opts


def _help(**extra: str) -> dict[str, str]:
    return {**COMMON_HELP, **extra}


def _plain(value: Any) -> Any:
    """Invoke's DataProxy -> plain dicts, so settings stay pure."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _settings(c: Context, **flags: Any) -> Settings:
    cwd = Path.cwd()
    config = _plain(c.config.get("migrate", {}) or {})
    return resolve_settings(flags, os.environ, load_dotenv_file(cwd), config, cwd=cwd)


def _handles_errors(fn: F) -> F:
    """Expected failures become one message on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            logsetup.configure(kwargs.get("verbose", False), kwargs.get("log_format", "text"))
            return fn(c, *args, **kwargs)
        except MigrateError as exc:
            message = _scrub(str(exc), kwargs.get("auth_token"))
            raise Exit(f"error: {message}", code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _scrub(message: str, *secrets: str | None) -> str:
    """Belt and braces: no token may reach output, even if a library echoed it."""
    for secret in (*secrets, os.environ.get("LIBSQL_AUTH_TOKEN")):
        if secret and len(secret) >= 4:
            message = message.replace(secret, "***")
    return message


@contextlib.contextmanager
def _engine(settings: Settings) -> Iterator[Any]:
    from .drivers import open_driver
    from .engine import Engine

    driver = open_driver(settings.url, settings.auth_token)
    try:
        yield Engine(driver, settings.directory, settings.table)
    finally:
        driver.close()


def _describe_target(settings: Settings, display: str) -> None:
    source = settings.sources.get("url", "default")
    env = f", environment {settings.env}" if settings.env else ""
    logsetup.log.info("database %s (from %s%s)", display, source, env)


@task(
    klass=MigrateTask,
    help=_help(name="lower-case letters, digits and underscores, e.g. create_users"),
)
@_handles_errors
def create(
    c: Context,
    name: str,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Write a new, empty migration file named after the current UTC time."""
    from .source import create_migration, display_path

    settings = _settings(c, url=url, auth_token=auth_token, dir=dir_, env=env)
    path = create_migration(settings.directory, name)
    print(display_path(path))


@task(
    klass=MigrateTask,
    help=_help(
        json="print the status as one JSON document",
        check="exit 3 if anything is pending, rolled back, failed, missing or modified",
    ),
)
@_handles_errors
def status(
    c: Context,
    json_: bool = False,
    check: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Show every migration and whether it is applied."""
    from .plan import PROBLEM_STATES

    settings = _settings(c, url=url, auth_token=auth_token, dir=dir_, env=env)
    with _engine(settings) as engine:
        rows = engine.status()
        target = engine.driver.display_url
    problems = [f"{r.version}_{r.name}: {r.state}" for r in rows if r.state in PROBLEM_STATES]
    if json_:
        print(report.status_json(rows, target, problems))
    else:
        print(report.status_table(rows))
        print(report.status_summary(rows))
    if check and problems:
        raise CheckFailed(f"{len(problems)} migration(s) need attention: " + "; ".join(problems))


@task(
    klass=MigrateTask,
    help=_help(
        step="apply only the next N pending migrations",
        to="apply pending migrations up to and including this version",
        dry_run="print the SQL that would run and change nothing",
    ),
)
@_handles_errors
def up(
    c: Context,
    step: int = 0,
    to: str = "",
    dry_run: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Apply pending migrations in version order, each in its own transaction."""
    settings = _settings(c, url=url, auth_token=auth_token, dir=dir_, env=env)
    _migrate(settings, "up", step=step or None, to=to or None, dry_run=dry_run)


@task(
    klass=MigrateTask,
    help=_help(
        step="roll back the N most recent migrations (default 1)",
        to="roll back every migration applied after this version",
        all="roll back every applied migration",
        dry_run="print the SQL that would run and change nothing",
    ),
)
@_handles_errors
def down(
    c: Context,
    step: int = 0,
    to: str = "",
    all_: bool = False,
    dry_run: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Roll back the most recent migration (or --step N, --to VERSION, --all)."""
    settings = _settings(c, url=url, auth_token=auth_token, dir=dir_, env=env)
    _migrate(settings, "down", step=step or None, to=to or None, all_=all_, dry_run=dry_run)


def _migrate(
    settings: Settings,
    direction: str,
    *,
    step: int | None,
    to: str | None,
    all_: bool = False,
    dry_run: bool,
) -> None:
    with _engine(settings) as engine:
        _describe_target(settings, engine.driver.display_url)
        plan = engine.plan(direction, step=step, to=to, all_=all_)
        for warning in plan.warnings:
            logsetup.log.warning("%s", warning)
        units = engine.prepare(plan)
        if dry_run:
            setup = engine.setup_steps() if units else []
            sys.stdout.write(report.dry_run_sql(setup, units, engine.unit_calls))
            return
        results = engine.apply(units)
    print(report.results_summary(results, direction))


migrate = Collection("migrate", create, status, up, down)
migrate.configure({"migrate": CONFIG_DEFAULTS})

__all__ = ["migrate"]
