"""Our exception tree. Only the task layer turns these into exit codes.

    MigrateError                      exit 1   anything we expect and can explain
    ├── DatabaseError                 exit 1   the database refused something
    │   └── StatementError            exit 1   ... one step of a unit, with its index
    ├── MigrationFailed               exit 1   a migration's statement failed (file, line, SQL)
    ├── UsageError                    exit 2   bad flags or configuration
    │   └── LocatedError              exit 2   a problem at a file and line
    │       ├── MigrationFileError    exit 2   a migration file is malformed
    │       └── compat.Refused        exit 2   a statement this target cannot run
    ├── CheckFailed                   exit 3   --check found something to fix
    ├── LockTimeout                   exit 4   another run holds the migration lock
    │   └── LockLost                  exit 4   our lease expired and another run took it
    └── ConnectionFailed              exit 5   cannot reach the database
        └── AuthFailed                exit 5   the server refused our credentials

Messages never contain auth tokens: drivers build them from server text and
redacted URLs only.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CHECK = 3
EXIT_LOCKED = 4
EXIT_CONNECTION = 5
#: Ctrl-C or SIGTERM, as a shell reports a process killed by SIGINT.
EXIT_INTERRUPTED = 130
#: The reader of stdout went away (``| head``), as a shell reports a process killed by SIGPIPE.
EXIT_PIPE_CLOSED = 141


class MigrateError(Exception):
    """Base of every error the tool expects; carries the process exit code."""

    exit_code = EXIT_FAILED
    #: Set by ``Engine.migrate`` on the error that stopped it: the results (``Result``)
    #: of the migrations completed before it, or None when that cannot be known (the
    #: connection failed, so the migration in flight may or may not have committed).
    completed: list[Any] | None = None
    #: ``completed`` was read back from the database after the connection failed, so
    #: it is known even though the request in flight was lost (``engine.batching``).
    read_back: bool = False


class DatabaseError(MigrateError):
    """The database answered with an error (``code`` is the server's or SQLite's code)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class StatementError(DatabaseError):
    """Step ``index`` of a unit sent to a driver failed; nothing of an atomic unit remains."""

    def __init__(self, index: int, message: str, code: str | None = None) -> None:
        super().__init__(message, code)
        self.index = index


class MigrationFailed(MigrateError):
    """A statement of a migration failed: names the file, line, statement and DB message."""

    def __init__(
        self,
        version: str,
        path: str,
        line: int | None,
        sql: str | None,
        db_message: str,
        *,
        direction: str = "up",
        partial: bool = False,
    ) -> None:
        self.version = version
        self.path = path
        self.line = line
        self.sql = sql
        self.db_message = db_message
        self.direction = direction
        self.partial = partial
        where = f"{path}:{line}" if line else path
        text = f"migration {version} ({direction}) failed at {where}: {db_message}"
        if sql:
            text += f"\n  statement: {_shorten(sql)}"
        if partial:
            text += (
                "\n  this section runs with transaction:false, so statements before this one"
                " stayed applied; the migration is recorded as 'failed'"
            )
        else:
            text += "\n  nothing of this migration was applied"
        super().__init__(text)


class UsageError(MigrateError):
    """Bad flags, configuration or input that the user must correct."""

    exit_code = EXIT_USAGE


class LocatedError(UsageError):
    """A problem at a place in a migration file: the message starts with ``path:line``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class MigrationFileError(LocatedError):
    """A migration file cannot be used; found before anything touches the database."""


class CheckFailed(MigrateError):
    """``--check`` found pending, failed, missing or modified migrations."""

    exit_code = EXIT_CHECK


class LockTimeout(MigrateError):
    """Another run holds the migration lock."""

    exit_code = EXIT_LOCKED


class LockLost(LockTimeout):
    """Our lease expired during a long run and another run took the lock."""


class ConnectionFailed(MigrateError):
    """The database cannot be reached (refused, DNS, TLS, timeout, missing file folder)."""

    exit_code = EXIT_CONNECTION


class AuthFailed(ConnectionFailed):
    """The server refused our credentials (missing, invalid, expired or read-only token)."""


def _shorten(sql: str, limit: int = 300) -> str:
    one_line = " ".join(sql.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."
