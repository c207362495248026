"""Testing with migrate_tasks: the pytest plugin (``plugin``, docs/pytest.md), the harness
its fixtures give (``MigrationHarness``), a session sqld (``sqld``), the built-in tests.

Importing this package (pytest does, through the ``pytest11`` entry point) loads nothing
else: the rest comes with the first fixture a test uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate_tasks.testing.harness import MigrationHarness

__all__ = ["MigrationHarness"]


def __getattr__(name: str) -> object:
    if name == "MigrationHarness":
        from migrate_tasks.testing.harness import MigrationHarness

        return MigrationHarness
    raise AttributeError(f"module 'migrate_tasks.testing' has no attribute {name!r}")
