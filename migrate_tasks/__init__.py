"""Versioned SQL migrations for libSQL, as Invoke tasks.

``from migrate_tasks import migrate`` gives the Invoke collection. It is loaded on
first access so that importing the engine alone never imports Invoke.
"""

from __future__ import annotations

from typing import Any

from migrate_tasks.errors import (
    AuthFailed,
    CheckFailed,
    ConnectionFailed,
    DatabaseError,
    LockLost,
    LockTimeout,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    StatementError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthFailed",
    "CheckFailed",
    "ConnectionFailed",
    "DatabaseError",
    "LockLost",
    "LockTimeout",
    "MigrateError",
    "MigrationFailed",
    "MigrationFileError",
    "StatementError",
    "UsageError",
    "__version__",
    "migrate",
]


def __getattr__(name: str) -> Any:
    if name == "migrate":
        from migrate_tasks.tasks import migrate

        return migrate
    raise AttributeError(f"module 'migrate_tasks' has no attribute {name!r}")
