"""Statements a target cannot run, found before anything is sent (exit 2, file and line).

Pure: a check on parsed statements, section options and the kind of target. Measured
on sqld 0.24.32 and the native libsql 0.1.11 engine (docs/libsql-notes.md §5, and
docs/libsql.md):

* sqld parses every statement itself and answers ``SQL_PARSE_ERROR: unsupported
  statement`` for ``VACUUM``, ``ATTACH``, ``CREATE TEMP``/``TEMPORARY`` (tables, views,
  triggers), ``ANALYZE``, and every PRAGMA that changes a setting except
  ``foreign_keys``, ``defer_foreign_keys``, ``user_version``, ``encoding`` and
  ``legacy_file_format`` (``journal_mode``, ``synchronous``, ``cache_size``, ... and the
  actions ``optimize``, ``wal_checkpoint``, ``incremental_vacuum``, ``shrink_memory``).
  Reading a PRAGMA is allowed.
* A local file runs them all, but ``VACUUM`` and ``PRAGMA journal_mode=WAL`` fail inside
  a transaction: they need ``transaction:false``.
* ``PRAGMA foreign_keys=OFF`` (or any value but on) is refused everywhere: inside the
  migration's transaction it does nothing (SQLite ignores it there), and in a
  ``transaction:false`` section on a local file it would stay in force for later
  migrations. ``foreign_keys:off`` is the way to run a migration with foreign keys off.
  ``PRAGMA foreign_keys=ON``, which many dbmate folders start with, runs as written: every
  connection the tool opens has foreign keys on already, so it changes nothing.
* ``foreign_keys:off`` over ``ws://`` is refused: libsql-client cannot send a PRAGMA
  before ``BEGIN`` on the transaction's own stream, which the option needs.

The target is a ``Target`` value built from the driver's capabilities (never its name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate_tasks.errors import LocatedError
from migrate_tasks.files.parser import Statement
from migrate_tasks.sql.shapes import leading_words, pragma

if TYPE_CHECKING:
    from migrate_tasks.drivers.base import Driver

#: PRAGMAs sqld lets a client set.
_SQLD_SETTABLE = frozenset(
    {"foreign_keys", "defer_foreign_keys", "user_version", "encoding", "legacy_file_format"}
)
#: PRAGMAs whose argument names what to read, not a new setting.
_READ_WITH_ARGUMENT = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_info", "index_xinfo", "index_list",
        "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
    }
)  # fmt: skip
#: PRAGMAs that act even without an argument, all refused by sqld.
_SQLD_ACTIONS = frozenset({"optimize", "wal_checkpoint", "incremental_vacuum", "shrink_memory"})
#: First words worth a closer look; anything else passes at the cost of one slice.
_HEADS = ("VACUUM", "ATTACH", "CREATE", "PRAGMA", "ANALYZE")


@dataclass(frozen=True)
class Target:
    """What the refusals need to know about where a migration runs: the capabilities of
    its driver (``Target.of``), as a plain value so that this module stays pure."""

    #: A sqld server (``Driver.is_server``).
    is_server: bool = False
    #: Can turn foreign keys off around a transaction (``Driver.can_switch_foreign_keys``).
    can_switch_foreign_keys: bool = True

    @classmethod
    def of(cls, driver: Driver) -> Target:
        return cls(driver.is_server, driver.can_switch_foreign_keys)


class Refused(LocatedError):
    """A statement (or option) this target cannot run; nothing of the migration ran.

    Not a ``MigrationFileError``: the file is fine for another target, and the engine
    must not mistake it for a file that changed while being streamed.
    """


def statement_problem(sql: str, *, target: Target, transaction: bool) -> str | None:
    """Why ``sql`` cannot run on ``target`` (None: it can)."""
    head = sql[:7].upper()
    if not head.startswith(_HEADS):
        return None
    words = leading_words(sql, 3)
    server = target.is_server
    first = words[0] if words else ""
    if first == "PRAGMA":
        return _pragma_problem(sql, server=server, transaction=transaction)
    if first == "VACUUM":
        if server:
            return _sqld_refuses("VACUUM", "sqld manages its database file itself; remove it")
        if transaction:
            return (
                "VACUUM cannot run inside a transaction; put it in its own migration whose"
                " header is '-- migrate:up transaction:false'"
            )
    if not server:
        return None
    if first == "ATTACH":
        return _sqld_refuses("ATTACH", "a migration can only change the database it runs on")
    if first == "ANALYZE":
        return _sqld_refuses("ANALYZE", "remove it")
    if first == "CREATE" and len(words) > 1 and words[1] in ("TEMP", "TEMPORARY"):
        return _sqld_refuses(
            f"CREATE {words[1]}",
            "sqld has no temporary tables, views or triggers; create an ordinary table and"
            " drop it at the end of the migration",
        )
    return None


def _pragma_problem(sql: str, *, server: bool, transaction: bool) -> str | None:
    found = pragma(sql)
    if found is None:
        return None
    name, value = found.name, found.value
    if name == "foreign_keys" and value is not None and not _is_on(value):
        return (
            "PRAGMA foreign_keys cannot be set in a migration: inside the migration's"
            " transaction SQLite ignores it, so foreign keys would stay on. To rebuild a"
            " table that others reference, write the section header as"
            " '-- migrate:up foreign_keys:off' (or '-- migrate:down foreign_keys:off'):"
            " the tool turns foreign keys off around the transaction and checks every"
            " reference before it commits"
        )
    if server:
        sets = value is not None and name not in _READ_WITH_ARGUMENT
        if (sets and name not in _SQLD_SETTABLE) or name in _SQLD_ACTIONS:
            what = f"PRAGMA {name}" + (f"={value}" if sets else "")
            return _sqld_refuses(what, "sqld sets up its connections itself; remove it")
        return None
    if name == "journal_mode" and (value or "").lower() == "wal" and transaction:
        return (
            "PRAGMA journal_mode=WAL cannot run inside a transaction; put it in its own"
            " migration whose header is '-- migrate:up transaction:false'"
        )
    return None


def _is_on(value: str) -> bool:
    """SQLite's spellings of a true boolean PRAGMA value (``ON``, ``1``, ``yes``, quoted
    or not)."""
    return value.strip("'\"").lower() in ("on", "1", "yes", "true")


def _sqld_refuses(what: str, hint: str) -> str:
    return (
        f"sqld refuses {what} (SQL_PARSE_ERROR: unsupported statement), so this migration"
        f" cannot run on a server; {hint}. Nothing was run"
    )


def options_problem(options: Mapping[str, str], *, target: Target) -> str | None:
    """Why a section with these header options cannot run on ``target``."""
    if options.get("foreign_keys") == "off" and not target.can_switch_foreign_keys:
        # every driver we ship can; a driver that cannot says so by its capability
        return (
            "foreign_keys:off cannot run on this target: its driver cannot turn foreign"
            " keys off on the connection that runs the transaction. Nothing was run"
        )
    return None


def check_section(
    path: str,
    header_line: int,
    options: Mapping[str, str],
    statements: Iterable[Statement],
    *,
    target: Target,
) -> None:
    """Raise ``Refused`` for the first option or statement the target cannot run."""
    problem = options_problem(options, target=target)
    if problem:
        raise Refused(path, header_line, problem)
    transaction = options.get("transaction") != "false"
    for statement in statements:
        check_statement(path, statement, target=target, transaction=transaction)


def check_statement(path: str, statement: Statement, *, target: Target, transaction: bool) -> None:
    """Raise ``Refused`` (naming the file and line) if the target cannot run ``statement``."""
    problem = statement_problem(statement.sql, target=target, transaction=transaction)
    if problem:
        raise Refused(path, statement.line, problem)
