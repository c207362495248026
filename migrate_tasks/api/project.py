"""Where a project's configuration is, and reading it as ``invoke`` would.

``invoke migrate.up``, ``libsql-migrate up`` and ``Migrator()`` must see the same
``migrate`` settings, so the Python API reads them through Invoke's own ``Config``: the
system and user files (``/etc/invoke.yaml``, ``~/.invoke.yaml``), the project's
``invoke.yaml`` (beside the nearest ``tasks.py``, else in the working directory), a
runtime file (``-f`` / ``INVOKE_RUNTIME_CONFIG``) and ``INVOKE_MIGRATE_*`` variables,
over the collection's defaults (which give each variable its type). Invoke is imported
only when a Migrator resolves its settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate_tasks.errors import UsageError

if TYPE_CHECKING:
    from invoke.config import Config

    from migrate_tasks.config.settings import Settings

__all__ = ["anchored", "load_config", "plain", "project_folders"]


def project_folders(config: Config, cwd: str | None = None) -> tuple[str, str]:
    """(folder whose invoke.yaml is read, folder put on sys.path), as ``invoke`` finds them.

    The nearest ``tasks.py`` (or ``tasks/`` package) at or above ``cwd`` (the working
    directory; ``tasks.search_root`` and ``tasks.collection_name`` are honoured, as by
    invoke) gives both: its folder, or for a package the package's parent and the package
    itself. Without one, ``cwd`` is both.
    """
    from invoke.exceptions import CollectionNotFound
    from invoke.loader import FilesystemLoader

    start = cwd or os.getcwd()
    loader = FilesystemLoader(config=config, start=config.tasks.search_root or start)
    try:
        spec = loader.find(config.tasks.collection_name)
    except (CollectionNotFound, OSError):  # an unreadable folder on the way up
        spec = None
    if spec is None or not spec.origin:
        return start, start
    enclosing = os.path.dirname(spec.origin)
    if spec.submodule_search_locations:  # tasks/__init__.py: config lives one level up
        return os.path.dirname(enclosing), enclosing
    return enclosing, enclosing


def plain(value: Any) -> Any:
    """Invoke's DataProxy -> plain dicts, so settings stay pure."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


def load_config(cwd: Path | None = None, config_file: str | Path | None = None) -> dict[str, Any]:
    """The ``migrate`` section of the Invoke configuration a task run from ``cwd`` sees.

    ``config_file`` is ``libsql-migrate -f FILE`` (default: ``INVOKE_RUNTIME_CONFIG``).
    A file that cannot be read is a UsageError naming it (exit 2), as for the programs.
    """
    from invoke.config import Config

    from migrate_tasks.config.settings import CONFIG_DEFAULTS

    where = str(cwd) if cwd is not None else None
    runtime = config_file or os.environ.get("INVOKE_RUNTIME_CONFIG")
    try:
        config = Config(runtime_path=Path(runtime) if runtime else None)
        config.load_collection({"migrate": CONFIG_DEFAULTS})
        project, _ = project_folders(config, where)
        config.set_project_location(project)
        config.load_project()
        config.load_runtime()
        config.load_shell_env()
    except Exception as exc:  # bad YAML or JSON, an invoke.py that raises, a bad variable
        from migrate_tasks.config.secrets import scrub

        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise UsageError(
            scrub(f"cannot read the configuration files: {type(exc).__name__}: {detail}")
        ) from None
    return dict(plain(config.get("migrate", {}) or {}))


def anchored(settings: Settings, cwd: Path) -> Settings:
    """A relative local database path taken as relative to ``cwd`` (the folder the
    settings were resolved for), as a task run in ``cwd`` takes it."""
    import dataclasses

    from migrate_tasks.config.urls import parse_target

    target = parse_target(settings.url)
    if target.kind != "file" or target.path in (None, ":memory:"):
        return settings
    path = Path(target.path)
    if path.is_absolute():
        return settings
    return dataclasses.replace(settings, url=str(cwd / path))
