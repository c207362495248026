"""``libsql-migrate``: the same tasks without a tasks.py (``libsql-migrate up --step 2``).

Both programs must read the same configuration. Invoke's own ``Program`` with a bundled
namespace skips its loader, and the loader is what finds the project: it searches upward
from the working directory for ``tasks.py``, loads ``invoke.yaml`` (``.yml``, ``.json``,
``.py``) beside it and puts that folder on ``sys.path``. ``StandaloneProgram`` does the
same with invoke's own loader, without importing the tasks.py it finds; with no tasks.py
anywhere above, the working directory is the project. Everything else (system and user
files, ``-f``/``INVOKE_RUNTIME_CONFIG``, ``INVOKE_MIGRATE_*`` variables) already goes
through invoke's ``Config`` and ``Executor`` unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from invoke import Config, Executor, FilesystemLoader, Program
from invoke.exceptions import CollectionNotFound, Exit, ParseError

from migrate_tasks import __version__
from migrate_tasks.progname import use_standalone
from migrate_tasks.tasks import migrate


def project_folders(config: Config) -> tuple[str, str]:
    """(folder whose invoke.yaml is read, folder put on sys.path), as ``invoke`` finds them.

    The nearest ``tasks.py`` (or ``tasks/`` package) at or above the working directory
    (``tasks.search_root`` and ``tasks.collection_name`` are honoured, as by invoke) gives
    both: its folder, or for a package the package's parent and the package itself.
    Without one, the working directory is both.
    """
    loader = FilesystemLoader(config=config)
    try:
        spec = loader.find(config.tasks.collection_name)
    except (CollectionNotFound, OSError):  # an unreadable folder on the way up
        spec = None
    if spec is None or not spec.origin:
        cwd = os.getcwd()
        return cwd, cwd
    enclosing = os.path.dirname(spec.origin)
    if spec.submodule_search_locations:  # tasks/__init__.py: config lives one level up
        return os.path.dirname(enclosing), enclosing
    return enclosing, enclosing


def _reading_config(step: Callable[[], None], what: str = "the configuration files") -> None:
    """Run a step that loads configuration files; a file that cannot be read (bad YAML or
    JSON, an invoke.py that raises, an INVOKE_* variable of the wrong type) becomes one
    ``error:`` line and exit 2 instead of a traceback."""
    try:
        step()
    except (Exit, ParseError):
        raise
    except Exception as exc:
        from migrate_tasks.config.secrets import scrub
        from migrate_tasks.errors import EXIT_USAGE

        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        message = scrub(f"cannot read {what}: {type(exc).__name__}: {detail}")
        raise Exit(f"error: {message}", code=EXIT_USAGE) from None


class _Executor(Executor):
    """Loads ``INVOKE_*`` variables under ``_reading_config`` before running the tasks (the
    base class loads them again for each task, over the collection's defaults, which give
    each variable its type; loading twice changes nothing)."""

    def execute(self, *tasks):  # type: ignore[no-untyped-def]
        self.config.load_collection(self.collection.configuration())
        _reading_config(
            self.config.load_shell_env,
            "the INVOKE_* environment variables (a value of the wrong type?)",
        )
        return super().execute(*tasks)


class StandaloneProgram(Program):
    """invoke's ``Program``, plus the project config and ``sys.path`` entry that invoke's
    loader would have given a run through tasks.py."""

    def create_config(self) -> None:
        _reading_config(super().create_config)

    def update_config(self, merge: bool = True) -> None:
        _reading_config(lambda: super(StandaloneProgram, self).update_config(merge))

    def parse_collection(self) -> None:
        _reading_config(self._load_project)

    def _load_project(self) -> None:
        super().parse_collection()
        project, import_root = project_folders(self.config)
        # What Program.load_collection does once its loader has found tasks.py.
        self.config.set_project_location(project)
        self.config.load_project()
        if import_root not in sys.path:
            sys.path.insert(0, import_root)


program = StandaloneProgram(
    namespace=migrate,
    version=__version__,
    name="libsql-migrate",
    binary="libsql-migrate",
    executor_class=_Executor,
)


def main() -> None:
    use_standalone()
    program.run()
