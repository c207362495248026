"""``import-alembic``, part four: why Alembic failed, in one message with a hint that fits.

Alembic imports the project's ``env.py`` and revision files (and through them the
application: its packages, its settings) and runs them, so anything can be raised. It
becomes one message naming the file and line where it happened and the exception, plus a
hint when we recognise the case. A project that cannot be loaded (a revision or env.py
that raises, a module that is not importable, a syntax error) is a usage error (exit 2);
a revision that fails while it runs on SQLite fails the import (exit 1).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from migrate_tasks.errors import MigrateError, UsageError
from migrate_tasks.files.source import display_path
from migrate_tasks.progname import command

__all__ = ["cause", "importing", "innermost", "load_failure", "loading", "revision_failure"]

_OURS = os.path.dirname(os.path.abspath(__file__))
_LIBRARIES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})

IMPORT_HINT = (
    "Modules a revision or env.py imports must be importable where import-alembic runs, as"
    " for `alembic upgrade`: run it from the project's root folder, in the project's"
    " virtualenv (or set PYTHONPATH)"
)
BATCH_HINT = (
    "SQLite's ALTER TABLE cannot do this: put the operation inside"
    ' `with op.batch_alter_table("{table}") as batch_op:`, which Alembic runs as a table'
    " rebuild on SQLite (render_as_batch=True in env.py's context.configure makes"
    " autogenerate write it that way)"
)
DIALECT_HINT = (
    "Revisions that use PostgreSQL-only SQL need a dialect check"
    ' (`if op.get_context().dialect.name == "postgresql":`) or a portable spelling'
)
MISSING_HINT = (
    "The history has not created it by this revision (import-alembic starts from an empty"
    " database): probably the revision depends on tables or data made outside the Alembic"
    " history (metadata.create_all, by hand, a dump). Create them in an earlier revision,"
    " or, if the application builds its schema with metadata.create_all and the history"
    " only alters it, start from the models: `{generate}`"
)
UNNAMED_HINT = (
    "On SQLite a constraint has no name unless its CREATE TABLE gave it one, so batch mode"
    " cannot find it by the name another database gave it: pass naming_convention to"
    " op.batch_alter_table (Alembic's docs: 'Dropping Unnamed or Named Foreign Key"
    " Constraints'), or guard the operation with a dialect check"
)
URL_HINT = (
    "import-alembic runs env.py with sqlalchemy.url set to a scratch SQLite file, and env.py"
    " built its engine from {what} instead. Make env.py take its URL from the configuration"
    ' (config.get_main_option("sqlalchemy.url") or engine_from_config)'
)
ENV_NOTE = (
    "import-alembic runs env.py as `alembic upgrade` does, with sqlalchemy.url set to a"
    " scratch SQLite file"
)

_ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+(\"(?:[^\"]|\"\")+\"|\w+)", re.IGNORECASE)
#: ALTER TABLE forms SQLite lacks and Alembic's batch mode provides.
_BATCH_ALTER = re.compile(
    r"^\s*ALTER\s+TABLE\s.*?\b(?:ALTER\s|(?:ADD|DROP|RENAME)\s+CONSTRAINT\b"
    r"|ADD\s+(?:PRIMARY|UNIQUE|FOREIGN|CHECK)\b|DROP\s+PRIMARY\b)",
    re.IGNORECASE | re.DOTALL,
)


def _frames(exc: BaseException) -> list[tuple[FrameType, int]]:
    found = []
    tb = exc.__traceback__
    while tb is not None:
        found.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return found


def _same(one: str, other: str) -> bool:
    return os.path.realpath(one) == os.path.realpath(other)


def innermost(exc: BaseException, paths: Iterable[str]) -> tuple[str, int | None] | None:
    """The innermost place in one of ``paths`` where ``exc`` passed (or, for a syntax
    error in one of them, where it is)."""
    wanted = list(paths)
    if isinstance(exc, SyntaxError) and exc.filename:
        for path in wanted:
            if _same(exc.filename, path):
                return path, exc.lineno
    place = None
    for frame, line in _frames(exc):
        for path in wanted:
            if _same(frame.f_code.co_filename, path):
                place = (path, line)
    return place


def loading(exc: BaseException) -> str | None:
    """The file Alembic was importing (env.py or a revision) when ``exc`` was raised."""
    path = None
    for frame, _ in _frames(exc):
        if frame.f_code.co_name == "load_module_py" and "path" in frame.f_locals:
            path = str(frame.f_locals["path"])
    return path


def importing(exc: BaseException, path: str) -> bool:
    """Was ``exc`` raised while Alembic imported ``path`` (rather than ran its code)?"""
    loaded = loading(exc)
    return loaded is not None and _same(loaded, path)


def _raised_at(exc: BaseException, shown: str) -> str:
    """Where in the project's own code (not a library, not this tool) ``exc`` was raised,
    when that is not the place already shown."""
    place = None
    for frame, line in _frames(exc):
        name = frame.f_code.co_filename
        if name.startswith("<") or name.startswith(_OURS) or name.startswith(_LIBRARIES):
            continue
        if "site-packages" in name or "dist-packages" in name:
            continue
        place = (name, line)
    if place is None or _same(place[0], shown):
        return ""
    return f" (raised at {display_path(Path(place[0]))}:{place[1]})"


def cause(exc: BaseException) -> str:
    """The exception (the database's own, for a SQLAlchemy error) as one line."""
    orig = getattr(exc, "orig", None)
    shown = orig if isinstance(orig, BaseException) else exc
    text = shown.msg if isinstance(shown, SyntaxError) else str(shown)
    text = " ".join(str(text).split())
    if len(text) > 400:
        text = text[:397] + "..."
    return f"{type(shown).__name__}: {text}" if text else type(shown).__name__


def _where(path: str, line: int | None) -> str:
    shown = display_path(Path(path))
    return f"{shown}:{line}" if line else shown


def _engine_url(exc: BaseException, scratch_url: str) -> str | None:
    """If env.py called create_engine with a URL other than the scratch one: what it was
    (a backend name, never the URL, which may hold a password)."""
    for frame, _ in reversed(_frames(exc)):
        if frame.f_code.co_name != "create_engine" or "sqlalchemy" not in (
            frame.f_code.co_filename
        ):
            continue
        url = frame.f_locals.get("url")
        if url is None:
            return None
        try:
            from sqlalchemy.engine import make_url

            parsed = make_url(url)
        except Exception:
            return "a URL SQLAlchemy cannot parse"
        if str(parsed) == scratch_url:
            return None
        return f"a {parsed.get_backend_name()} URL"
    return None


def load_failure(
    exc: BaseException, env_py: str, revision_paths: Iterable[str], scratch_url: str = ""
) -> UsageError:
    """env.py or a revision could not be imported, or env.py raised: where, and why."""
    revision_paths = list(revision_paths)
    loaded = loading(exc)
    candidates = [p for p in (loaded,) if p] + revision_paths + [env_py]
    place = innermost(exc, candidates)
    if place is None and loaded:
        place = (loaded, None)
    reason = cause(exc)
    if place is None:
        return UsageError(f"Alembic cannot load the project: {reason}")
    path, line = place
    env = _same(path, env_py)
    hint = None
    other = _engine_url(exc, scratch_url) if env else None
    if other:
        hint = URL_HINT.format(what=other)
    elif isinstance(exc, ImportError):
        hint = IMPORT_HINT
    elif env and not isinstance(exc, SyntaxError):
        hint = ENV_NOTE
    if env:
        what = "Alembic cannot import env.py:" if isinstance(exc, SyntaxError) else "env.py raised"
    else:
        what = "Alembic cannot import this revision:"
    text = f"{_where(path, line)}: {what} {reason}{_raised_at(exc, path)}"
    return UsageError(f"{text.rstrip('.')}. {hint}" if hint else text)


def _table_of(exc: BaseException, sql: str) -> str:
    """The table an ALTER was for: from its statement, else from the Alembic operation's
    arguments (``op.create_foreign_key`` fails before it renders any SQL)."""
    match = _ALTER_TABLE.match(sql)
    if match:
        return match.group(1).strip('"')
    for frame, _ in reversed(_frames(exc)):
        if "alembic" in frame.f_code.co_filename:
            for name in ("table_name", "source_table"):
                if isinstance(frame.f_locals.get(name), str):
                    return frame.f_locals[name]
    return "TABLE"


def hint(exc: BaseException, statement: str | None) -> str | None:
    """What to do about a revision SQLite (or Alembic on SQLite) refused, if we know."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc)
    sql = statement or ""
    batch = BATCH_HINT.format(table=_table_of(exc, sql))
    if isinstance(exc, ImportError):
        return IMPORT_HINT
    if isinstance(exc, NotImplementedError) and "ALTER of constraints" in message:
        return batch
    if "syntax error" in message and _BATCH_ALTER.match(sql):
        return batch
    if "after drop column" in message or re.search(r"cannot drop \w+( \w+)? column", message):
        return batch
    if message.startswith("Cannot add a"):  # ADD COLUMN with UNIQUE, PRIMARY KEY, ...
        return batch
    if message.startswith(("no such table", "no such column")):
        return MISSING_HINT.format(
            generate=command("generate initial_schema --models package.module:Base")
        )
    if "syntax error" in message or message.startswith(("no such function", "no such collation")):
        return DIALECT_HINT
    if isinstance(exc, ValueError) and message.startswith(
        ("No such constraint", "Constraint must have a name")
    ):
        return UNNAMED_HINT
    return None


def revision_failure(
    exc: BaseException,
    direction: str,
    revision: Any | None,
    line: int | None,
) -> MigrateError:
    """A revision failed while Alembic ran it on the scratch SQLite database: which one
    (file and line), SQLite's own words, the statement, and a hint that fits."""
    where = ""
    if revision is not None:
        where = f" in revision {revision.id} ({revision.message!r}, {_where(revision.path, line)})"
    text = f"Alembic {direction}grade failed{where} on the scratch SQLite database: {cause(exc)}"
    statement = getattr(exc, "statement", None)
    if statement:
        text += f"\n  statement: {' '.join(str(statement).split())[:300]}"
    advice = hint(exc, str(statement) if statement else None)
    if advice:
        text += f"\n  {advice}"
    return MigrateError(text)
