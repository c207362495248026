"""Migrations written in Python: ``VERSION_name.py`` beside the ``.sql`` files, defining
``up(db)`` and, optionally, ``down(db)``.

The module is loaded from its file under a private name and never left in
``sys.modules``, so two folders (or a rerun in one process) never see each other's
modules, and a migration named like a real package shadows nothing. Loading runs the
module's top level (imports, constants), never ``up``. The working directory is on
``sys.path`` while user code runs, as it is for ``tasks.py`` under invoke, so a
migration can import the project's own packages; what it prints goes to stderr.

What user code raises becomes ours, located in the migration file: a syntax error
at its line, an exception at the innermost line of the file on its way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from migrate_tasks.errors import MigrationFileError

#: What ``create NAME --python`` writes.
TEMPLATE = '''\
"""A migration written in Python: up(db) applies it, down(db) reverts it.

db.execute(sql, params) runs one statement (and returns its rows),
db.executemany(sql, rows) runs one statement for each row (in few round trips),
db.query(sql, params) returns rows as tuples.
Everything up(db) runs, and the migration's tracking row, commit together or not at
all. Keep it short on sqld: the transaction stays open while up(db) runs.
"""


def up(db):
    raise NotImplementedError("write up(db) in this file")


def down(db):
    raise NotImplementedError("write down(db) in this file, or delete it if there is none")
'''

_counter = itertools.count()
#: ``user_code_path``'s shared setup, and the lock around it.
_users = threading.Lock()
_state: dict[str, Any] = {"depth": 0, "added": None, "stdout": None}


def is_python(path: Path | str) -> bool:
    """Whether a migration file is a Python one (by its name)."""
    return str(path).lower().endswith(".py")


@contextlib.contextmanager
def user_code_path() -> Iterator[None]:
    """While user code runs: the working directory on ``sys.path`` (first), as invoke
    puts the project there, taken out again afterwards if we added it; and what it
    prints goes to stderr, with the log lines, so that stdout stays the tool's results
    (one JSON document with ``--json``). Nested and concurrent uses (a fleet runs
    databases on threads) share one setup: the first in sets it up, the last out undoes
    it."""
    with _users:
        if not _state["depth"]:
            folder = os.getcwd()
            _state["added"] = folder if folder not in sys.path else None
            if _state["added"] is not None:
                sys.path.insert(0, folder)
            _state["stdout"] = sys.stdout
            sys.stdout = sys.stderr
        _state["depth"] += 1
    try:
        yield
    finally:
        with _users:
            _state["depth"] -= 1
            if not _state["depth"]:
                sys.stdout = _state["stdout"]
                if _state["added"] is not None:
                    with contextlib.suppress(ValueError):
                        sys.path.remove(_state["added"])


def load_module(path: Path, display: str, data: bytes) -> types.ModuleType:
    """Compile and run the module's top level from ``data`` (the bytes checksummed);
    any failure is a ``MigrationFileError`` at the file's line."""
    try:
        code = compile(data, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno if exc.filename in (None, str(path)) else None
        raise MigrationFileError(display, line, f"Python syntax error: {exc.msg}") from None
    except ValueError as exc:  # e.g. NUL bytes
        raise MigrationFileError(display, None, f"not a Python source file: {exc}") from None
    name = f"_migrate_tasks_migration_{next(_counter)}"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[name] = module  # while it runs: dataclasses, pickling and typing ask for it
    try:
        with user_code_path():
            exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        raise MigrationFileError(
            display, user_line(exc, path), f"importing it failed: {describe(exc)}"
        ) from None
    finally:
        sys.modules.pop(name, None)
    return module


def function(module: types.ModuleType, name: str) -> Callable[[Any], Any] | None:
    """The module's ``up`` or ``down``, if it defines one that can be called."""
    found = getattr(module, name, None)
    return found if callable(found) else None


def require_up(module: types.ModuleType, display: str) -> None:
    if function(module, "up") is None:
        raise MigrationFileError(
            display,
            None,
            "a Python migration must define up(db) (and may define down(db)); see"
            " docs/file-format.md#migrations-written-in-python",
        )


def describe(exc: BaseException) -> str:
    """``TypeName: message`` (just the name when the message is empty)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def user_line(exc: BaseException, path: Path | str) -> int | None:
    """The innermost line of ``path`` in the exception's traceback."""
    line = None
    target = str(path)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError) and exc.filename == target:
        line = exc.lineno
    return line


def calling_line(path: Path | str) -> int | None:
    """The innermost line of ``path`` on the current call stack (where user code
    called us)."""
    target = str(path)
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == target:
            return frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None
