"""Run ``invoke`` or ``libsql-migrate`` inside the test process, as isolated as a child.

Starting Python and importing the package costs about half a second of a loaded 2-core
machine per run, and the suite makes well over a thousand runs. In-process, the console
script's own entry point is called (``invoke.main.program.run()`` or
``migrate_tasks.cli.main()``, with ``sys.argv`` set as the script sets it), and whatever a
run can change in the process is put back afterwards:

- the environment (``os.environ`` holds the run's mapping, then the test's again), the
  working directory, ``sys.argv``, ``sys.path`` (what the console script's interpreter
  has: the scripts folder first, no test folders), ``sys.dont_write_bytecode`` (invoke
  sets it);
- ``sys.stdin`` (empty, not a terminal, as the ``DEVNULL`` of a subprocess run),
  ``sys.stdout`` and ``sys.stderr`` (bytes, decoded as ``subprocess.run(text=True)``
  decodes a child's, newline translation included);
- modules from outside the interpreter's folders and the package (a project's tasks.py,
  models, a ``blog`` package): hidden during the run, dropped after it, so a child's
  fresh imports are what the run sees and nothing leaks into the next test;
- logging (the ``migrate_tasks`` handler; what an Alembic env.py's ``fileConfig`` did),
  warnings (a plain interpreter's filters, not pytest's ``error``; the default hook for
  unraisable exceptions), the SIGTERM and SIGINT handlers, and the package's
  module-level state: flags (``progname``'s prefix, warn-once flags) and the help texts
  of its invoke tasks (invoke pops each from ``Task.help`` as it builds the task's
  flags, which a process does once).

Some things only a real process shows, and tests that depend on them start one: its
start-up, exit with threads left behind, signals, and a lease left by a run that has
ended (taken over at once only once its process is gone).

The exit code is the console script's: ``SystemExit``'s code, or 1 and a traceback on
stderr for an uncaught exception. A run that leaves a non-daemon thread running fails:
a real process would hang at exit. Output that native code writes straight to file
descriptors 1 and 2 is not captured (pytest's capture gets it); the package writes
through ``sys.stdout``, ``sys.stderr`` and logging.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import logging
import os
import pkgutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import migrate_tasks

BIN = Path(sys.executable).parent
_PACKAGE = str(Path(migrate_tasks.__file__).resolve().parent) + os.sep
#: Variables that change how a child interpreter starts in ways not reproduced here: a
#: run whose environment sets one goes to a real process.
_CHILD_ONLY_ENV = ("PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONSTARTUP", "PYTHONHOME")
#: A plain interpreter's warning filters (a release build, no -W), in priority order.
_PLAIN_FILTERS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)
#: Module-level values the package may change while it runs (flags, a prefix): these
#: types are restored after every run.
_SCALARS = (bool, int, float, str, bytes, type(None))

#: Seconds a run's own non-daemon threads get to end after it returns (a bound, not an
#: expectation: they normally end with it).
THREAD_GRACE = 30.0

_child_paths: dict[str, list[str]] = {}
_active = threading.Lock()


class RunTimedOut(BaseException):
    """The in-process run outlived its timeout (a BaseException, so the tool's own
    ``except Exception`` handlers let it through)."""


def can_run_in_process(env: Mapping[str, str]) -> bool:
    """True when a run with ``env`` can be reproduced in this process: only from the
    main thread (signal handlers, ``os.environ``), one run at a time, and where a run's
    timeout can interrupt it (SIGALRM: not on Windows, where every run is a process)."""
    return (
        hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
        and not any(key in env for key in _CHILD_ONLY_ENV)
    )


def run(argv: list[str], env: Mapping[str, str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the console script ``argv[0]`` run with ``argv``.

    ``argv[0]`` is ``BIN / "invoke"`` or ``BIN / "libsql-migrate"``; ``env`` is the whole
    environment, as a subprocess would get it."""
    entry = _entry_point(Path(argv[0]).name)
    if not _active.acquire(blocking=False):
        raise RuntimeError("in-process runs cannot nest or overlap; use subprocess=True")
    try:
        out, err = _Capture(), _Capture(errors="backslashreplace")
        with _isolated(argv, env, cwd, out.stream, err.stream):
            code = _exit_code(entry, err.stream, argv, timeout)
            gc.collect()  # finalizers of the run's garbage run under its warning filters
        return code, out.text(), err.text()
    finally:
        _active.release()


def _entry_point(script: str):  # type: ignore[no-untyped-def]
    """What the console script calls (see its file in the scripts folder)."""
    if script == "invoke":
        from invoke.main import program

        return program.run
    if script == "libsql-migrate":
        from migrate_tasks.cli import main

        return main
    raise ValueError(f"no in-process entry point for {script!r}")


def _exit_code(entry, stderr: io.TextIOBase, argv: list[str], timeout: float) -> int:  # type: ignore[no-untyped-def]
    """``sys.exit(entry())`` as the interpreter ends it: the exit status it reports."""
    try:
        with _alarm(timeout):
            result = entry()
    except SystemExit as exc:
        result = exc.code
    except RunTimedOut:
        raise subprocess.TimeoutExpired(argv, timeout) from None
    except BaseException as exc:  # the interpreter prints it (from the entry on) and exits 1
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb, file=stderr)
        return 1
    if result is None:
        return 0
    if isinstance(result, int):
        return result & 0xFF
    print(result, file=stderr)  # sys.exit("message")
    return 1


@contextlib.contextmanager
def _alarm(timeout: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise RunTimedOut

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Capture:
    """A text stream over bytes, like a child's stdout or stderr on a pipe."""

    def __init__(self, errors: str = "strict") -> None:
        self._bytes = io.BytesIO()
        self.stream = io.TextIOWrapper(self._bytes, encoding="utf-8", errors=errors)

    def text(self) -> str:
        """What ``subprocess.run(..., text=True)`` would return."""
        self.stream.flush()
        data = self._bytes.getvalue().decode("utf-8")
        return data.replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def _isolated(
    argv: list[str], env: Mapping[str, str], cwd: Path, stdout: io.TextIOBase, stderr: io.TextIOBase
) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(_process_state(argv, env, cwd))
        stack.enter_context(_streams(stdout, stderr))
        stack.enter_context(_own_modules(env))
        stack.enter_context(_logging_state())
        stack.enter_context(_plain_warnings())
        stack.enter_context(_signal_handlers())
        stack.enter_context(_package_globals())
        stack.enter_context(_no_thread_left(argv))
        yield


@contextlib.contextmanager
def _process_state(argv: list[str], env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    """Environment, working directory, argv, bytecode flag."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv, saved_flag = sys.argv, sys.dont_write_bytecode
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
        sys.argv = list(argv)
        yield
    finally:
        sys.argv, sys.dont_write_bytecode = saved_argv, saved_flag
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


@contextlib.contextmanager
def _streams(stdout: io.TextIOBase, stderr: io.TextIOBase) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    with open(os.devnull, encoding="utf-8") as stdin:
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                stdout.flush()
                stderr.flush()
            sys.stdin, sys.stdout, sys.stderr = saved


def child_sys_path(env: Mapping[str, str]) -> list[str]:
    """``sys.path`` of a console script run by this interpreter with ``env``: the scripts
    folder, then PYTHONPATH, the standard library and site-packages (asked once)."""
    key = env.get("PYTHONPATH", "")
    if key not in _child_paths:
        probe = subprocess.run(
            [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
            env=dict(env),
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        _child_paths[key] = [str(BIN), *json.loads(probe.stdout)]
    return _child_paths[key]


@contextlib.contextmanager
def _own_modules(env: Mapping[str, str]) -> Iterator[None]:
    """sys.path as the child's, and only the modules a child could have imported from it."""
    path = child_sys_path(env)
    roots = (*(os.path.join(p, "") for p in path if p), _PACKAGE)
    saved_path = list(sys.path)
    hidden = _take_foreign(roots)
    sys.path[:] = path
    importlib.invalidate_caches()  # files the test just wrote must be found
    try:
        yield
    finally:
        sys.path[:] = saved_path
        _take_foreign(roots)  # the project's modules: a child would import them afresh
        sys.modules.update(hidden)


def _take_foreign(roots: tuple[str, ...]) -> dict[str, ModuleType]:
    """Remove (and return) every module loaded from a file outside ``roots``."""
    taken = {}
    for name, module in list(sys.modules.items()):
        if name != "__main__" and _is_foreign(module, roots):
            taken[name] = sys.modules.pop(name)
    return taken


def _is_foreign(module: object, roots: tuple[str, ...]) -> bool:
    try:
        files = [module.__file__] if getattr(module, "__file__", None) else []  # type: ignore[attr-defined]
        files += list(getattr(module, "__path__", None) or ()) if not files else []
    except Exception:  # an odd lazy module object: leave it alone
        return False
    return any(isinstance(f, str) and not f.startswith(roots) for f in files)


@contextlib.contextmanager
def _logging_state() -> Iterator[None]:
    """Every logger as it was (handlers, level, propagation, disabled), and no new ones
    configured: the run configures ``migrate_tasks`` and may call ``fileConfig``."""
    manager = logging.root.manager
    saved_disable = manager.disable
    saved = {lg: _logger_state(lg) for lg in _loggers()}
    try:
        yield
    finally:
        logging.disable(saved_disable)
        for lg in _loggers():
            state = saved.get(lg, (logging.NOTSET, [], True, False, []))
            for handler in lg.handlers:
                if handler not in state[1]:
                    handler.close()
            lg.setLevel(state[0])
            lg.handlers[:], lg.propagate, lg.disabled, lg.filters[:] = state[1:]


def _loggers() -> list[logging.Logger]:
    found = [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [logging.root, *found]


def _logger_state(lg: logging.Logger) -> tuple:
    return lg.level, list(lg.handlers), lg.propagate, lg.disabled, list(lg.filters)


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    """A plain interpreter's warning filters and unraisable-exception hook."""
    saved_hook = sys.unraisablehook
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for action, category, module in reversed(_PLAIN_FILTERS):
            warnings.filterwarnings(action, category=category, module=module)
        sys.unraisablehook = sys.__unraisablehook__
        try:
            yield
        finally:
            sys.unraisablehook = saved_hook


@contextlib.contextmanager
def _signal_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


PackageState = tuple[list[tuple[ModuleType, str, object]], list[tuple[Any, dict]]]


def _package_state() -> PackageState:
    """The package's module-level scalars (a warn-once flag, progname's prefix), and its
    invoke tasks with their help texts."""
    from invoke import Task

    modules = [m for n, m in sys.modules.items() if n.split(".")[0] == "migrate_tasks"]
    values = [(module, name, value) for module in modules for name, value in vars(module).items()]
    scalars = [(m, name, value) for m, name, value in values if isinstance(value, _SCALARS)]
    tasks = {id(v): (v, dict(v.help)) for _, _, v in values if isinstance(v, Task)}
    return scalars, list(tasks.values())


def _set_package_state(state: PackageState) -> None:
    scalars, tasks = state
    for module, name, value in scalars:
        if vars(module).get(name) is not value:
            setattr(module, name, value)
    for task, help_texts in tasks:
        task.help = dict(help_texts)


@contextlib.contextmanager
def _package_globals() -> Iterator[None]:
    """The package's state as a new process has it (as imported) for the run, and as the
    test had it afterwards."""
    saved = _package_state()
    _set_package_state(_PRISTINE)
    try:
        yield
    finally:
        _set_package_state(saved)


@contextlib.contextmanager
def _no_thread_left(argv: list[str]) -> Iterator[None]:
    """A real process waits for its non-daemon threads at exit: one left running would
    hang it, so it fails the run here (after a grace period for threads that are ending)."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and not t.daemon]
    deadline = time.monotonic() + THREAD_GRACE
    for thread in left:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    alive = [t.name for t in left if t.is_alive()]
    if alive:
        raise AssertionError(f"{argv} left threads running (a real process would hang): {alive}")


def _import_package() -> PackageState:
    """Import every module of the package, so that none is first imported (its flags first
    set) during a run, and return its state as a new process has it. Done when this module
    is imported, at collection, before any test can have changed that state."""
    for info in pkgutil.walk_packages(migrate_tasks.__path__, "migrate_tasks."):
        with contextlib.suppress(ImportError):
            importlib.import_module(info.name)
    state = _package_state()
    # The modules' objects live as long as the process: moved out of the collector's
    # sight, they make the collection after each run cheap (a few ms instead of ~30).
    gc.collect()
    gc.freeze()
    return state


_PRISTINE = _import_package()
