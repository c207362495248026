"""Finding the models: ``package.module:Base`` (or a ``MetaData``) -> a ``MetaData``.

SQLAlchemy is an optional extra, so it is imported here, on demand, and its absence is a
usage error with the install command rather than a traceback. Like Alembic, the current
directory goes on ``sys.path`` first, so ``--models blog.models:Base`` works from the
folder that holds the ``blog`` package.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from migrate_tasks.errors import UsageError

SQLALCHEMY_MISSING = "generate needs SQLAlchemy: pip install 'migrate_tasks[sqlalchemy]'"
#: Attributes tried, in order, when the target names only a module.
DEFAULT_ATTRIBUTES = ("Base", "metadata")


def require_sqlalchemy() -> ModuleType:
    """The ``sqlalchemy`` module, or a UsageError (exit 2) saying how to install it."""
    try:
        import sqlalchemy
    except ImportError:
        raise UsageError(SQLALCHEMY_MISSING) from None
    return sqlalchemy


def load_metadata(spec: str, *, cwd: Path | None = None) -> Any:
    """The ``MetaData`` that ``spec`` (``module:attr``, ``attr`` may be dotted) names: a
    declarative base, anything with a ``.metadata``, or a MetaData itself."""
    sa = require_sqlalchemy()
    module_name, _, attr = spec.strip().partition(":")
    if not module_name:
        raise UsageError(
            f"--models {spec!r}: expected package.module:Base (or package.module:metadata)"
        )
    folder = str((cwd or Path.cwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.split(".")[0] == exc.name.split(".")[0]:
            raise UsageError(
                f"--models {spec}: no module named {module_name!r} (looked in {folder} and on"
                " sys.path); run from the folder that holds the package, or add it to"
                " PYTHONPATH"
            ) from None
        raise UsageError(f"--models {spec}: importing {module_name} failed: {exc}") from None
    except Exception as exc:  # the user's module raised while importing: say so, briefly
        raise UsageError(
            f"--models {spec}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
    names = [attr] if attr else list(DEFAULT_ATTRIBUTES)
    for name in names:
        found = _attribute(module, name)
        if found is not None:
            return _as_metadata(sa, found, spec)
    tried = " or ".join(names)
    raise UsageError(f"--models {spec}: module {module_name} has no attribute {tried}")


def _attribute(module: ModuleType, dotted: str) -> Any:
    value: Any = module
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _as_metadata(sa: ModuleType, value: Any, spec: str) -> Any:
    if isinstance(value, sa.MetaData):
        return value
    metadata = getattr(value, "metadata", None)
    if isinstance(metadata, sa.MetaData):
        return metadata
    raise UsageError(
        f"--models {spec}: expected a declarative base or a MetaData, got {type(value).__name__}"
    )
