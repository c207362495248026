"""SQLAlchemy models against the migrations, for the API's ``check_models`` and
``generate`` (``migrate_tasks.autogenerate`` does the comparing; SQLAlchemy is imported
only here, when one of them runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from migrate_tasks.api.results import GeneratedMigration
from migrate_tasks.errors import UsageError

if TYPE_CHECKING:
    from migrate_tasks.autogenerate.generate import Generated
    from migrate_tasks.config.settings import Settings

__all__ = ["compare_models", "write_generated"]


def compare_models(
    settings: Settings, spec: str | None, renames: Sequence[str], *, prove: bool
) -> Generated:
    """The changes from the migrations' schema to the models' (``spec``:
    ``package.module:Base``); ``prove``: check the migration on a scratch database."""
    from migrate_tasks.autogenerate.generate import generate as run_generate
    from migrate_tasks.autogenerate.target import load_metadata

    if not spec:
        raise UsageError(
            "generate needs the models: pass --models package.module:Base, or set"
            " migrate.models in invoke.yaml"
        )
    return run_generate(
        load_metadata(spec),
        settings.directory,
        settings.table,
        renames=list(renames),
        label=spec,
        check_on_scratch=prove,
    )


def write_generated(settings: Settings, name: str, result: Generated) -> GeneratedMigration:
    """Write ``result`` as a new migration ``name`` (the integrity file kept current), and
    say whether a file already there would sort after it."""
    from migrate_tasks.files.integrity import keeping_sum_current
    from migrate_tasks.files.source import create_migration, discover, version_of

    directory = settings.directory
    existing = discover(directory) if directory.is_dir() else []
    with keeping_sum_current(directory) as written:
        path = create_migration(directory, name)
        path.write_text(result.text, encoding="utf-8")
        written.append(path)
    newest = max(existing, key=lambda f: int(f.version), default=None)
    later = None
    if newest is not None and int(newest.version) >= int(version_of(path.name)):
        later = newest.path.name
    return GeneratedMigration(result, path, later)
