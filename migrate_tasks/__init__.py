"""Versioned SQL migrations for libSQL, as Invoke tasks and a Python API.

``from migrate_tasks import Migrator`` is the typed Python API (docs/python-api.md);
``from migrate_tasks import migrate`` gives the Invoke collection. Both load on first
access, so that importing the package (or the engine alone) never imports Invoke.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from migrate_tasks.api import Migrator, Run, Status, Validation
    from migrate_tasks.tasks import migrate

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
    "Migrator",
    "Run",
    "StatementError",
    "Status",
    "UsageError",
    "Validation",
    "__version__",
    "migrate",
]


def __getattr__(name: str) -> Any:
    if name == "migrate":
        from migrate_tasks.tasks import migrate

        return migrate
    if name in ("Migrator", "Run", "Status", "Validation"):
        from migrate_tasks import api

        return getattr(api, name)
    raise AttributeError(f"module 'migrate_tasks' has no attribute {name!r}")
