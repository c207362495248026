"""The typed Python API (docs/python-api.md): ``Migrator`` and what its calls return.

``from migrate_tasks import Migrator`` is the same class. Importing this package loads no
driver, no engine and no Invoke: they come with the first call that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_tasks.api.migrator import Confirm, Migrator
from migrate_tasks.api.results import GeneratedMigration, Repair, Run, Status, Unlock, Validation

if TYPE_CHECKING:  # the engine's values, named for annotations without importing the engine
    from migrate_tasks.autogenerate.generate import Generated
    from migrate_tasks.engine.plan import Problem, StatusRow
    from migrate_tasks.engine.tracking import Holder
    from migrate_tasks.engine.units import Result
    from migrate_tasks.lint.model import LintReport
    from migrate_tasks.ops.adopt_dbmate import AdoptOutcome
    from migrate_tasks.ops.baseline import BaselineOutcome
    from migrate_tasks.ops.dump import DumpOutcome
    from migrate_tasks.ops.verify import VerifyResult

__all__ = [
    "AdoptOutcome",
    "BaselineOutcome",
    "Confirm",
    "DumpOutcome",
    "Generated",
    "GeneratedMigration",
    "Holder",
    "LintReport",
    "Migrator",
    "Problem",
    "Repair",
    "Result",
    "Run",
    "Status",
    "StatusRow",
    "Unlock",
    "Validation",
    "VerifyResult",
]

_LAZY = {
    "AdoptOutcome": "migrate_tasks.ops.adopt_dbmate",
    "BaselineOutcome": "migrate_tasks.ops.baseline",
    "DumpOutcome": "migrate_tasks.ops.dump",
    "Generated": "migrate_tasks.autogenerate.generate",
    "Holder": "migrate_tasks.engine.tracking",
    "LintReport": "migrate_tasks.lint.model",
    "Problem": "migrate_tasks.engine.plan",
    "Result": "migrate_tasks.engine.units",
    "StatusRow": "migrate_tasks.engine.plan",
    "VerifyResult": "migrate_tasks.ops.verify",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'migrate_tasks.api' has no attribute {name!r}")
