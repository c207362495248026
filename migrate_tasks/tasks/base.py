"""What every task shares: flags and their help, settings from flags, error handling.

Task modules stay thin: flags -> settings -> the Python API or an operation -> ``report``.
Everything here is the plumbing between Invoke and the layers below. Invoke derives each
task's flags from its function's signature, so a task spells its parameters out and
hands them on explicitly (``task_settings``), never as a ``locals()`` dict.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from invoke import Argument, Context, Task
from invoke.exceptions import Exit

from migrate_tasks.api.project import plain
from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.settings import Settings, settings_for
from migrate_tasks.errors import (
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    MigrateError,
    UsageError,
)
from migrate_tasks.report import logs as logsetup

if TYPE_CHECKING:  # the engine is imported when a task runs, not when the collection loads
    from migrate_tasks.engine.core import Engine, RunOptions

F = TypeVar("F", bound=Callable[..., Any])

COMMON_HELP = {
    "url": "database URL: file:dev.db, a path, http(s)://, libsql://, ws(s):// "
    f"(default: LIBSQL_URL, DATABASE_URL, config, {defaults.URL})",
    "auth-token": "auth token for a server (default: LIBSQL_AUTH_TOKEN); never printed",
    "dir": f"migrations folder (default: MIGRATIONS_DIR, config, ./{defaults.DIR})",
    "env": "named environment from migrate.environments in invoke.yaml (default: MIGRATE_ENV)",
    "insecure": "allow plain http:// or ws:// to a host that is not loopback",
    "verbose": "log every statement (debug level)",
    "log-format": "log line format on stderr: text or json",
}
WRITE_HELP = {
    "dry-run": "print the exact SQL that would run, in order, and change nothing",
    "lock-timeout": "seconds to wait for another run's migration lock"
    f" (default {defaults.LOCK_TIMEOUT_S})",
}
CONFIRM_HELP = {"yes": "confirm on a protected environment without asking (for CI)"}
RUN_JSON_HELP = (
    "print one JSON document (docs/json.md): the migrations run, with durations;"
    " with --dry-run, the planned statements of each"
)

#: Short flags are chosen, not derived from spelling: no ``-h`` that is not help, and no
#: one-letter way to ``--all`` or to a token.
SHORT_FLAGS = {"url": "u", "env": "e", "step": "s", "to": "t", "dry_run": "n", "verbose": "v"}


@dataclass(frozen=True)
class ConnectionFlags:
    """The flags that choose the database and the migrations; empty means "not given", so
    the environment, ``.env``, config or the default decides (``resolve_settings``)."""

    url: str = ""
    auth_token: str = field(default="", repr=False)
    dir: str = ""
    env: str = ""
    insecure: bool = False
    lock_timeout: str = ""


class MigrateTask(Task):
    """A Task whose short flags come from SHORT_FLAGS only."""

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        long_name = opts["names"][0]
        short = SHORT_FLAGS.get(name.rstrip("_"))
        opts["names"] = [long_name, short] if short and short not in taken_names else [long_name]
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        """Invoke's arguments, with the help text kept for the next call: Invoke pops each
        flag's help as it builds the argument, so a second parse in one process (the
        Python API, the pytest plugin, a test running both programs) lost every help."""
        kept = dict(self.help)
        try:
            arguments = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = kept
        for argument in arguments:
            if argument.kind in _NUMBERS:
                argument.__class__ = _NumberArgument
        return arguments


_NUMBERS = {int: "a whole number", float: "a number"}


class _NumberArgument(Argument):
    """A numeric flag whose bad value is a usage error (exit 2), not Invoke's traceback.

    Invoke casts a flag's text with its kind (``int("x")``) while parsing the command
    line and lets the ValueError escape; both programs print this message instead."""

    def set_value(self, value: Any, cast: bool = True) -> None:
        try:
            super().set_value(value, cast)
        except ValueError:
            flag = "--" + max(self.names, key=len)
            wanted = _NUMBERS[self.kind]
            raise Exit(f"error: {flag} takes {wanted}, not {value!r}", code=EXIT_USAGE) from None


def help_for(*groups: Mapping[str, str], **extra: str) -> dict[str, str]:
    """A task's help: the common flags', then each group's, then its own (later wins)."""
    merged: dict[str, str] = dict(COMMON_HELP)
    for group in groups:
        merged.update(group)
    return {**merged, **extra}


def task_settings(
    c: Context,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    lock_timeout: str = "",
) -> Settings:
    """A task's settings from its connection flags (passed in the order every task
    declares them; those it does not take, by keyword), the environment, ``.env`` and
    Invoke's config: a flag left empty lets them decide (``config.settings``)."""
    flags = ConnectionFlags(url, auth_token, dir_, env, insecure, lock_timeout)
    return settings_for(asdict(flags), plain(c.config.get("migrate", {}) or {}))


def handles_errors(fn: F) -> F:
    """Expected failures become one message on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            logsetup.configure(kwargs.get("verbose", False), kwargs.get("log_format", "text"))
            with sigterm_as_interrupt():
                result = fn(c, *args, **kwargs)
            sys.stdout.flush()  # a reader that went away shows here, not at exit
            return result
        except MigrateError as exc:
            message = scrub(str(exc), kwargs.get("auth_token"))
            raise Exit(f"error: {message}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit(
                "error: interrupted; a migration in progress was rolled back"
                " (a transaction:false one is left 'failed')",
                EXIT_INTERRUPTED,
            ) from None
        except BrokenPipeError:
            if not stdout_reader_gone():
                raise
            # ``... | head``: what the task did is done, only its printing stops, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=EXIT_PIPE_CLOSED) from None

    return wrapper  # type: ignore[return-value]


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe nobody reads any more (so a BrokenPipeError was ours to
    print, not a connection's). Without ``poll`` (Windows), assume it is."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
    except (AttributeError, OSError, ValueError):
        return True
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A cancelled CI job sends SIGTERM: unwind like Ctrl-C, so the open transaction is
    rolled back and the lock released instead of waiting for the lease to expire."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def open_engine(settings: Settings, *, must_exist: bool = False) -> Iterator[Engine]:
    """The engine on the configured database; ``must_exist``: a missing local file is an
    error (exit 5) rather than an empty database."""
    from migrate_tasks.drivers import open_configured
    from migrate_tasks.engine.core import Engine

    driver = open_configured(settings, must_exist=must_exist)
    try:
        yield Engine(driver, settings.directory, settings.table)
    finally:
        driver.close()


def run_options(
    settings: Settings, *, dry_run: bool, yes: bool = True, always_confirm: bool = False
) -> RunOptions:
    """The engine's options from settings, as the API builds them; it asks first
    (``confirmer``) on a protected environment, or always with ``always_confirm``, unless
    ``--yes`` was given."""
    from migrate_tasks.api.migrator import Migrator

    return Migrator.from_settings(settings).run_options(
        dry_run=dry_run, yes=yes, confirm=confirmer(settings), always_confirm=always_confirm
    )


def confirmer(settings: Settings) -> Callable[[str], bool]:
    """Ask on a terminal to type the environment's name; refuse outright without one."""
    name = settings.env or "yes"

    def confirm(what: str) -> bool:
        if not sys.stdin.isatty():
            where = f"environment {name!r} is protected: " if settings.env else ""
            raise UsageError(
                f"{where}about to {what}. There is no terminal to confirm on;"
                " pass --yes to confirm (for CI)"
            )
        where = f"Environment {name!r} is protected. " if settings.env else ""
        sys.stderr.write(f"{where}About to {what}.\nType {name!r} to continue: ")
        sys.stderr.flush()
        return sys.stdin.readline().strip() == name

    return confirm
