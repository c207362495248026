"""While ``import-alembic`` runs a project's env.py, every engine it creates is one for the
scratch SQLite file.

Many env.py files take their URL from the application's settings, not from
``sqlalchemy.url``: ``configuration["sqlalchemy.url"] = settings.DATABASE_URL`` before
``engine_from_config``, ``config.set_main_option("sqlalchemy.url", ...)``, or
``create_engine(settings.DATABASE_URL)``. That URL names a production or development
database, often PostgreSQL with no driver installed where the import runs. Asking users
to edit env.py for a one-off import is the wrong way round, so ``scratch_engines`` makes
such engines for the scratch file instead, without the other database's options (pool
sizes, its driver's ``connect_args``): the history runs where import-alembic records it,
and the database the URL names is never contacted. The connection guard in
``alembic_import`` stays as the last line of defence (an engine made before this block,
by a module imported earlier, is still refused).

An async engine (``create_async_engine``, ``async_engine_from_config``) cannot be given
the synchronous scratch database: it is refused with a message saying so.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from migrate_tasks.errors import UsageError

__all__ = ["scratch_engines"]

ASYNC_REFUSED = (
    "env.py creates an async engine (create_async_engine or async_engine_from_config)."
    " import-alembic runs the history on a scratch SQLite file with SQLite's synchronous"
    " driver, so it cannot run this env.py; give it a synchronous env.py for the import"
    " (Alembic's default template: engine_from_config and context.run_migrations), or start"
    " from the models instead (docs/alembic.md)"
)


def _backend(url: Any) -> tuple[str, str | None]:
    """The backend name and database of a URL; ("unparsable", None) if it is not one."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return "unparsable", None
    return parsed.get_backend_name(), parsed.database


@contextlib.contextmanager
def scratch_engines(path: str, redirected: list[str]) -> Iterator[None]:
    """Within this block, ``create_engine`` (and ``engine_from_config``, which calls it)
    gives an engine for the SQLite file ``path`` whatever URL it is asked for; the backend
    name (never the URL, which may hold a password) of each such engine that connects is
    appended to ``redirected``."""
    import sqlalchemy
    import sqlalchemy.engine
    from sqlalchemy import event
    from sqlalchemy.engine import create as create_module
    from sqlalchemy.pool import NullPool

    original = create_module.create_engine
    scratch_url = f"sqlite:///{path}"

    def create_engine(url: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_is_async"):
            raise UsageError(ASYNC_REFUSED)
        backend, database = _backend(url)
        if backend == "sqlite" and database and os.path.abspath(database) == path:
            return original(url, *args, **kwargs)
        engine = original(scratch_url, poolclass=NullPool)

        def used(*_args: Any) -> None:  # an engine made but never used is not worth a word
            if backend not in redirected:
                redirected.append(backend)

        event.listen(engine, "first_connect", used)
        return engine

    patched: list[tuple[Any, str]] = [
        (create_module, "create_engine"),
        (sqlalchemy, "create_engine"),
        (sqlalchemy.engine, "create_engine"),
        # bound when sqlalchemy.ext.asyncio is imported, which may be before or during this
        ("sqlalchemy.ext.asyncio.engine", "_create_engine"),
    ]
    saved = []
    for target, name in patched:
        module = sys.modules.get(target) if isinstance(target, str) else target
        if module is not None:
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, create_engine)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        late = sys.modules.get("sqlalchemy.ext.asyncio.engine")
        if late is not None and getattr(late, "_create_engine", None) is create_engine:
            late._create_engine = original
