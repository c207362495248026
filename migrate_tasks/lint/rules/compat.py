"""LS4xx: changes that break the version of the application still running.

A deploy runs the migration while the old code still serves requests (and a rollback
of the code runs the old code on the new schema). Renames break it at once; dropped
columns too (LS102). The safe way is expand, then contract: add the new name, have the
code use both, move the data, and remove the old name in a later release.
"""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import SectionContext
from migrate_tasks.lint.registry import Hit, rule


@rule(
    "LS401",
    "rename-table",
    "warning",
    summary="renames a table the running application still uses",
    why="""
The application version running during the deploy still queries the old name and fails
from the moment the migration commits until the new version is out everywhere.
""",
    instead="""
Expand, then contract: create the new table (or a view with the new name), make the
application use it, copy or keep the data in step, and drop the old table in a later
release. If nothing uses the table yet, say so with `-- migrate:nolint LS401`.
""",
    scope="section",
)
def rename_table(section: SectionContext) -> Iterator[Hit]:
    for step in section.steps:
        shape = step.shape
        if shape.kind != "rename_table" or not section.migration.existing(shape.table):
            continue
        if section.after.has_table(shape.table) or step.error:
            continue  # renamed away for a rebuild: the name comes back
        yield Hit(
            step.statement.line,
            shape.table,
            f"renames table {shape.table} to {shape.new_name}: the application still running"
            " uses the old name (expand, then contract)",
        )


@rule(
    "LS402",
    "rename-column",
    "warning",
    summary="renames a column the running application still uses",
    why="""
Queries of the application version still running name the old column and fail as soon
as the migration commits.
""",
    instead="""
Expand, then contract: add the new column, write both from the application, copy the
values, switch reads, and drop the old column in a later release.
""",
    scope="section",
)
def rename_column(section: SectionContext) -> Iterator[Hit]:
    for step in section.steps:
        shape = step.shape
        if (
            shape.kind == "rename_column"
            and section.migration.existing(shape.table)
            and not step.error
        ):
            where = f"{shape.table}.{shape.column}"
            yield Hit(
                step.statement.line,
                where,
                f"renames column {where} to {shape.new_name}: the application still running"
                " uses the old name (expand, then contract)",
            )
