"""LS3xx: changes that depend on the rows already in a table.

The scratch database has no rows, so these statements succeed there and may fail, or
leave rows that break the new rule, on a database that has data. "Existing table" means
one the earlier migrations created; with live row counts (``--url``), a table the live
database says is empty is safe and not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from migrate_tasks.lint.context import SectionContext, StatementContext
from migrate_tasks.lint.registry import Hit, rule
from migrate_tasks.lint.schema import Table
from migrate_tasks.lint.types import narrowing


def _columns(key: frozenset[str]) -> str:
    return ", ".join(sorted(key))


@rule(
    "LS301",
    "unique-on-existing-table",
    "warning",
    summary="a UNIQUE index or constraint on a table that already has rows",
    why="""
Creating a unique index (or adding UNIQUE/PRIMARY KEY in a rebuild) fails when the
rows already in the table hold duplicates: the migration works on every fresh database
and fails in production, where the duplicates are.
""",
    instead="""
Find and fix duplicates first, in an earlier migration or in this one before the
index (`SELECT cols, count(*) FROM t GROUP BY cols HAVING count(*) > 1`). With `--url`,
the lint reads the live row counts and stays quiet for an empty table.
""",
    scope="section",
)
def unique_on_existing(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    updated: set[str] = set()
    for step in section.steps:
        shape = step.shape
        if shape.kind == "update":
            updated.add(shape.table.lower())
        if not (shape.kind == "create_index" and shape.unique) or step.error or step.skipped:
            continue
        index = step.after.indexes.get(shape.name.lower())
        fresh = (
            index is not None
            and shape.table.lower() not in updated
            and _all_null(
                migration.start.table(shape.table), step.after.table(shape.table), index.columns
            )
        )
        if migration.may_have_rows(shape.table) and not fresh:
            yield Hit(
                step.statement.line,
                shape.name,
                f"unique index {shape.name} on {shape.table}, which may already hold rows"
                f"{migration.rows_note(shape.table)}: duplicates make the migration fail",
            )
    for rebuild in section.rebuilds:
        if not migration.may_have_rows(rebuild.name):
            continue
        before = section.before.unique_keys(rebuild.name)
        for key in sorted(section.after.unique_keys(rebuild.name) - before, key=sorted):
            uncopied = [c for c in key if not rebuild.copied(c)]
            if _all_null(rebuild.old, rebuild.new, uncopied):
                continue
            if not any(old <= key for old in before):
                yield Hit(
                    rebuild.line,
                    rebuild.name,
                    f"the rebuild of {rebuild.name} makes ({_columns(key)}) unique: duplicates"
                    f" already in the table make the migration fail{migration.rows_note(rebuild.name)}",
                )


def _all_null(old: Table | None, new: Table | None, columns: Iterable[str | None]) -> bool:
    """Is some column of a key new in ``new`` (not in ``old``) with no default, so that
    every existing row holds NULL there, and NULLs never clash in a UNIQUE key?"""
    if old is None or new is None:
        return False
    for name in columns:
        column = new.column(name) if name else None
        if column is not None and old.column(name) is None and column.default is None:
            return True
    return False


def _not_null_message(table: str, column: str) -> str:
    return (
        f"{table}.{column} is NOT NULL without a default: rows already in {table} make the"
        " migration fail"
    )


@rule(
    "LS302",
    "add-not-null-without-default",
    "error",
    summary="a new NOT NULL column without a default on a table that already has rows",
    why="""
SQLite refuses `ALTER TABLE t ADD COLUMN c ... NOT NULL` without a default as soon as
`t` has a row ("Cannot add a NOT NULL column with default value NULL"); a rebuild that
adds such a column and does not fill it fails the same way. The migration works on an
empty database and fails on the real one.
""",
    instead="""
Give the column a default (`NOT NULL DEFAULT ''`), or add it nullable, fill it with an
UPDATE, and make it NOT NULL in a later rebuild.
""",
    scope="section",
)
def add_not_null(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    for step in section.steps:
        shape = step.shape
        if shape.kind != "add_column" or step.error or not migration.may_have_rows(shape.table):
            continue
        table = step.after.table(shape.table)
        column = table.column(shape.column) if table else None
        if (
            column is not None
            and column.notnull
            and column.default is None
            and not column.generated
        ):
            yield Hit(
                step.statement.line,
                f"{shape.table}.{shape.column}",
                _not_null_message(shape.table, shape.column) + migration.rows_note(shape.table),
            )
    for rebuild in section.rebuilds:
        if rebuild.copy is None or not migration.may_have_rows(rebuild.name):
            continue
        for column in rebuild.new.columns:
            new = rebuild.old.column(column.name) is None
            if (
                new
                and column.notnull
                and column.default is None
                and not column.pk
                and not column.generated
            ) and not rebuild.copied(column.name):
                yield Hit(
                    rebuild.line,
                    f"{rebuild.name}.{column.name}",
                    _not_null_message(rebuild.name, column.name),
                )


@rule(
    "LS303",
    "rebuild-not-null",
    "warning",
    summary="a rebuild makes a nullable column NOT NULL",
    why="""
Copying the rows into the new table fails on the first row whose value is NULL, so the
migration fails where such rows exist (not on a fresh database).
""",
    instead="""
Fill the NULLs in the copy (`INSERT INTO _new_t (c) SELECT coalesce(c, '') FROM t`), or
with an UPDATE before the rebuild.
""",
    scope="section",
)
def rebuild_not_null(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    for rebuild in section.rebuilds:
        if rebuild.copy is None or not migration.may_have_rows(rebuild.name):
            continue
        for column in rebuild.new.columns:
            old = rebuild.old.column(column.name)
            if old is None or old.notnull or old.pk or column.pk or not column.notnull:
                continue
            if rebuild.copied(column.name) and column.name.lower() not in rebuild.copy.coalesced:
                yield Hit(
                    rebuild.line,
                    f"{rebuild.name}.{column.name}",
                    f"{rebuild.name}.{column.name} becomes NOT NULL: rows where"
                    f" {rebuild.name}.{column.name} is NULL make the migration fail",
                )


@rule(
    "LS304",
    "new-check-on-existing-table",
    "warning",
    summary="a rebuild adds a CHECK constraint to a table that already has rows",
    why="""
The copy into the new table fails on the first existing row that breaks the new CHECK,
so the migration fails where such rows exist.
""",
    instead="""
Fix the rows first (an UPDATE before the rebuild, in this migration), or make the copy
write values that pass.
""",
    scope="section",
)
def new_check(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    for rebuild in section.rebuilds:
        if rebuild.copy is None or not migration.may_have_rows(rebuild.name):
            continue
        for check in sorted(rebuild.new.checks - rebuild.old.checks):
            yield Hit(
                rebuild.line,
                rebuild.name,
                f"the rebuild of {rebuild.name} adds {check}: existing rows that break"
                " it make the migration fail",
            )


@rule(
    "LS305",
    "alter-column-constraint",
    "warning",
    summary="libSQL ALTER COLUMN adds NOT NULL, CHECK or REFERENCES; existing rows are not checked",
    why="""
libSQL's `ALTER TABLE t ALTER COLUMN c TO c ...` only rewrites the table's definition:
rows already there are not checked against a new NOT NULL, CHECK or REFERENCES, so they
may break it silently (`PRAGMA integrity_check` reports them later). The tool adds a
check after the statement, so `up` fails if any row breaks the new definition.
""",
    instead="""
Fix the rows first with an UPDATE in the same migration, before the ALTER COLUMN.
""",
)
def alter_column_constraint(ctx: StatementContext) -> Iterator[Hit]:
    shape, step = ctx.step.shape, ctx.step
    if shape.kind != "alter_column" or step.error or not ctx.migration.may_have_rows(shape.table):
        return
    old_table, new_table = step.before.table(shape.table), step.after.table(shape.table)
    if old_table is None or new_table is None:
        return
    new_col = new_table.column(shape.column)
    old_col = old_table.column(shape.column)
    if new_col is None or old_col is None:
        return
    added = []
    if new_col.notnull and not old_col.notnull:
        added.append("NOT NULL")
    if new_table.checks - old_table.checks:
        added.append("CHECK")
    old_fks = {fk for fk in old_table.foreign_keys}
    if any(
        fk not in old_fks and new_col.name.lower() in (c.lower() for c in fk.columns)
        for fk in new_table.foreign_keys
    ):
        added.append("REFERENCES")
    if added:
        where = f"{shape.table}.{shape.column}"
        yield Hit(
            ctx.line,
            where,
            f"ALTER COLUMN adds {', '.join(added)} to {where}; libSQL does not check the rows"
            f" already in {shape.table}{ctx.migration.rows_note(shape.table)} (the tool checks"
            " them after the statement and fails the migration if one breaks it): fix them first",
        )


@rule(
    "LS306",
    "type-change",
    "warning",
    summary="a rebuild or ALTER COLUMN changes a column's type in a way that can change values",
    why="""
SQLite converts stored values to the new column's affinity where it can and keeps the
others as they are: TEXT to INTEGER leaves non-numeric text in an INTEGER column, and a
shorter `VARCHAR(n)` is not enforced, so longer values stay.
""",
    instead="""
Convert the values yourself in the copy (`CAST(c AS INTEGER)`) and check them first, or
keep the old type.
""",
    scope="section",
)
def type_change(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    pairs = [(r.line, r.old, r.new) for r in section.rebuilds]
    for step in section.steps:
        shape = step.shape
        if shape.kind == "alter_column" and not step.error:
            old, new = step.before.table(shape.table), step.after.table(shape.table)
            if old is not None and new is not None:
                pairs.append((step.statement.line, old, new))
    for line, old, new in pairs:
        if not migration.may_have_rows(new.name):
            continue
        for column in new.columns:
            before = old.column(column.name)
            if before is None or before.type == column.type:
                continue
            warning = narrowing(f"{new.name}.{column.name}", before.type, column.type)
            if warning:
                yield Hit(line, f"{new.name}.{column.name}", warning)
