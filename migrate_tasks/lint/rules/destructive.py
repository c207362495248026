"""LS1xx: statements that lose data or a guarantee the data had."""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import SectionContext, StatementContext
from migrate_tasks.lint.registry import Hit, rule


def _columns(key: frozenset[str]) -> str:
    return ", ".join(sorted(key))


@rule(
    "LS101",
    "drop-table",
    "warning",
    summary="drops a table and every row in it",
    why="""
`DROP TABLE` deletes the table's rows with it, and a down section cannot bring them
back. A running application that still reads or writes the table fails from then on.
""",
    instead="""
Stop using the table in the application first and release that; drop it in a later
migration (expand, then contract). Keep a copy if the data may be needed
(`CREATE TABLE t_archive AS SELECT * FROM t`). If the drop is intended, say so with
`-- migrate:nolint LS101` on the line before the statement.
""",
)
def drop_table(ctx: StatementContext) -> Iterator[Hit]:
    shape = ctx.step.shape
    if shape.kind != "drop_table" or not ctx.migration.existing(shape.table):
        return
    if ctx.section.after.has_table(shape.table) or not ctx.step.before.has_table(shape.table):
        return  # a rebuild (it comes back), or a table already renamed away
    yield Hit(
        ctx.line,
        shape.table,
        f"drops table {shape.table} and every row in it{ctx.migration.rows_note(shape.table)}",
    )


@rule(
    "LS102",
    "drop-column",
    "warning",
    summary="drops a column and its data; breaks the running application that still uses it",
    why="""
`ALTER TABLE ... DROP COLUMN` deletes the column's values, and a down section can only
add the column back empty. The version of the application still running during and
after the deploy fails on every query that names the column.
""",
    instead="""
Expand, then contract: release the application without any use of the column first,
then drop it in a later migration. If the drop is intended, say so with
`-- migrate:nolint LS102`.
""",
)
def drop_column(ctx: StatementContext) -> Iterator[Hit]:
    shape = ctx.step.shape
    table = ctx.migration.start.table(shape.table) if shape.kind == "drop_column" else None
    if table is None or table.column(shape.column) is None:
        return  # a column this migration added
    where = f"{shape.table}.{shape.column}"
    yield Hit(
        ctx.line,
        where,
        f"drops column {where} and its data; the application still running breaks on it"
        " (stop using it first, drop it later)",
    )


@rule(
    "LS103",
    "drop-unique-index",
    "warning",
    summary="drops an index or constraint that keeps a column set unique",
    why="""
Once the unique index (or a UNIQUE/PRIMARY KEY constraint, lost in a table rebuild) is
gone, duplicates can be written, and the down section that recreates it fails as soon
as there are any. The application may also rely on it (upserts, `ON CONFLICT`).
""",
    instead="""
Keep uniqueness while you change things: create the new unique index before dropping
the old one, or recreate it after a rebuild. If the table may lose it, say so with
`-- migrate:nolint LS103`.
""",
    scope="section",
)
def drop_unique(section: SectionContext) -> Iterator[Hit]:
    for step in section.steps:
        shape = step.shape
        index = step.before.indexes.get(shape.name.lower()) if shape.kind == "drop_index" else None
        if index is None or not index.unique or not section.before.indexes.get(index.name.lower()):
            continue
        if not section.after.has_table(index.table) or None in index.columns:
            continue
        key = frozenset(str(c).lower() for c in index.columns)
        if key not in section.after.unique_keys(index.table):
            yield Hit(
                step.statement.line,
                index.name,
                f"drops unique index {index.name} on {index.table}({_columns(key)}): duplicates"
                " can be written from now on",
            )
    for rebuild in section.rebuilds:
        before = section.before.unique_keys(rebuild.name)
        after = section.after.unique_keys(rebuild.name)
        names = {c.name.lower() for c in rebuild.new.columns}
        for key in sorted(before - after, key=sorted):
            if key <= names and not any(k <= key for k in after):
                yield Hit(
                    rebuild.line,
                    rebuild.name,
                    f"the rebuild of {rebuild.name} loses the uniqueness of ({_columns(key)}):"
                    " duplicates can be written from now on",
                )


@rule(
    "LS104",
    "rebuild-loses-data",
    "warning",
    summary="a table rebuild loses columns, or copies none of the rows",
    why="""
A rebuild (create the new table, copy, drop the old one, rename) keeps only what the
copy writes. A column missing from the new table is dropped with its values, silently:
no `DROP COLUMN` shows it. A rebuild with no `INSERT INTO ... SELECT ... FROM` the old
table empties the table.
""",
    instead="""
List every column you mean to keep in the new table and in the copy. To drop a column,
prefer `ALTER TABLE t DROP COLUMN c` (visible, LS102), or keep the rebuild and say so
with `-- migrate:nolint LS104`.
""",
    scope="section",
)
def rebuild_loses(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    for rebuild in section.rebuilds:
        kept = {c.name.lower() for c in rebuild.new.columns}
        lost = [
            c.name for c in rebuild.old.columns if c.name.lower() not in kept and not c.generated
        ]
        if lost:
            shown = ", ".join(f"{rebuild.name}.{c}" for c in lost)
            yield Hit(
                rebuild.line,
                rebuild.name,
                f"the rebuild of {rebuild.name} drops column{'s' if len(lost) > 1 else ''}"
                f" {shown} and {'their' if len(lost) > 1 else 'its'} data",
            )
        if rebuild.copy is None and migration.may_have_rows(rebuild.name):
            yield Hit(
                rebuild.line,
                rebuild.name,
                f"the rebuild of {rebuild.name} copies none of its rows (no INSERT INTO ..."
                f" SELECT ... FROM {rebuild.old.name}): the table ends up empty"
                + migration.rows_note(rebuild.name),
            )
