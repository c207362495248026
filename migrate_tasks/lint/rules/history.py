"""LS7xx: where a new migration sits in the history."""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import MigrationContext
from migrate_tasks.lint.registry import Hit, rule


@rule(
    "LS701",
    "out-of-order",
    "error",
    summary="a new migration is older than the newest applied one, or than the base branch's newest",
    why="""
Migrations run in version order. A new migration whose version is older than one
already applied is out of order: `up` refuses it (unless `--allow-out-of-order`), and
databases that applied the newer one first end up with a different history than fresh
ones. With `--since`, a migration older than the newest one on the base branch is what
two branches that each add a migration look like after the merge.
""",
    instead="""
Give the migration a newer version: rename the file with a current timestamp
(`create` makes one), keeping its content.
""",
    scope="migration",
    reads_schema=False,
)
def out_of_order(migration: MigrationContext) -> Iterator[Hit]:
    options, version = migration.options, int(migration.version)
    if options.newest_applied is not None and version < int(options.newest_applied):
        yield Hit(
            None,
            migration.version,
            f"version {migration.version} is older than {options.newest_applied}, the newest"
            " migration applied on the database: up refuses it as out of order; give it a"
            " newer version",
        )
    if options.base_newest is not None and version <= int(options.base_newest):
        yield Hit(
            None,
            migration.version,
            f"version {migration.version} is not newer than {options.base_newest}, the newest"
            f" migration on {options.base_label or 'the base branch'}: after the merge it runs"
            " out of order; give it a newer version",
        )
