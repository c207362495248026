"""LS2xx: foreign keys. libSQL turns them on for every connection, so a DROP TABLE of a
referenced table deletes through ``ON DELETE CASCADE`` children or fails."""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.engine.checks import Reference, ReferenceCheck
from migrate_tasks.engine.refusals import Refused
from migrate_tasks.lint.context import SectionContext, StatementContext
from migrate_tasks.lint.registry import Hit, rule
from migrate_tasks.lint.schema import ForeignKey, Schema, Table
from migrate_tasks.lint.target import quiet, statement_refusal


def _renamed_away_drops(section: SectionContext) -> dict[int, tuple[str, str, list[str]]]:
    """Drops of a table that was an existing table renamed away in this section, while
    other tables reference it: line -> (new name, old name, children)."""
    renamed: dict[str, str] = {}
    found = {}
    for step in section.steps:
        shape = step.shape
        if shape.kind == "rename_table" and section.before.has_table(shape.table):
            renamed[shape.new_name.lower()] = shape.table
        elif shape.kind == "drop_table" and shape.table.lower() in renamed:
            children = sorted({t.name for t, _ in step.before.children(shape.table)})
            if children:
                found[step.statement.line] = (shape.table, renamed[shape.table.lower()], children)
    return found


@rule(
    "LS201",
    "drop-referenced-table",
    "error",
    summary="drops or rebuilds a table other tables reference, without foreign_keys:off",
    why="""
sqld and libSQL files turn foreign keys on for every connection, so `DROP TABLE parent`
first deletes every row of parent: `ON DELETE CASCADE` children silently lose theirs,
`SET NULL` children have their references overwritten, and the others make the drop
fail. A table rebuild drops the old table, so it does the same. `up` refuses such a
migration before running it (engine/checks.py); the lint reports it with the same
message before the migration is merged.
""",
    instead="""
Write the section header as `-- migrate:up foreign_keys:off`: the tool turns foreign
keys off around the migration's transaction and checks every reference before it
commits. To drop the referencing tables too, drop them first, in the same migration.
""",
    scope="section",
)
def drop_referenced(section: SectionContext) -> Iterator[Hit]:
    if section.foreign_keys_off:
        return
    pairs = {
        (t.name, fk.parent, fk.on_delete)
        for t in section.before.tables.values()
        for fk in t.foreign_keys
    }
    references = [Reference(c, p, a) for c, p, a in sorted(pairs)]
    check = ReferenceCheck(lambda: references, section.migration.path, section.header)
    skip = _renamed_away_drops(section)
    for step in section.steps:
        try:
            check(step.statement)
        except Refused as refused:
            if step.statement.line not in skip:  # LS202 says it better
                yield Hit(step.statement.line, step.shape.table, quiet(refused.reason))


@rule(
    "LS202",
    "rename-away-then-drop",
    "error",
    summary="renames a referenced table away, then drops it: its children point nowhere",
    why="""
`ALTER TABLE parent RENAME TO parent_old` makes SQLite rewrite every `REFERENCES parent`
in other tables to `REFERENCES parent_old`. After `CREATE TABLE parent ...` and
`DROP TABLE parent_old`, the children reference a table that no longer exists: with
foreign keys on, the drop deletes or blocks their rows; with them off, every later
write to a child fails with "no such table: parent_old". This rebuild order is the one
most tools and tutorials show.
""",
    instead="""
Rebuild the other way round, in a section with `foreign_keys:off`: create the new table
under a temporary name (`_new_parent`), copy the rows, drop `parent`, then rename
`_new_parent` to `parent`. The children's `REFERENCES parent` then stay as they are.
""",
    scope="section",
)
def rename_away_then_drop(section: SectionContext) -> Iterator[Hit]:
    for line, (table, old, children) in sorted(_renamed_away_drops(section).items()):
        yield Hit(
            line,
            table,
            f"{table} is {old} renamed away, and SQLite rewrote the REFERENCES of"
            f" {', '.join(children)} to point at {table}: dropping it leaves them referencing"
            f" a table that no longer exists. Create the new table as _new_{old}, copy, drop"
            f" {old}, then rename _new_{old} to {old} (with foreign_keys:off)",
        )


def _fk_key(table: Table, fk: ForeignKey) -> tuple:
    return (
        table.name.lower(),
        tuple(c.lower() for c in fk.columns),
        fk.parent.lower(),
        tuple(c.lower() for c in fk.parent_columns),
    )


def _fk_problem(schema: Schema, table: Table, fk: ForeignKey) -> str | None:
    parent = schema.table(fk.parent)
    ref = fk.describe(table.name)
    if parent is None:
        return f"{ref}: table {fk.parent} does not exist"
    columns = list(fk.parent_columns) or list(parent.primary_key)
    if not columns:
        return (
            f"{ref}: {parent.name} has no PRIMARY KEY to reference; name the referenced"
            " columns (which must be UNIQUE)"
        )
    missing = [c for c in columns if parent.column(c) is None]
    if missing:
        return f"{ref}: {parent.name} has no column {', '.join(missing)}"
    if frozenset(c.lower() for c in columns) not in schema.unique_keys(parent.name):
        return (
            f"{ref}: {parent.name}({', '.join(columns)}) is neither its PRIMARY KEY nor UNIQUE,"
            " so every write to it or to the child fails with 'foreign key mismatch'"
        )
    return None


@rule(
    "LS203",
    "reference-missing",
    "error",
    summary="a REFERENCES names a table or column that does not exist (or is not unique)",
    why="""
SQLite accepts `REFERENCES` to anything when the table is created, and complains only
when a row is written: "no such table", or "foreign key mismatch" when the referenced
columns are not the parent's PRIMARY KEY or UNIQUE. So a typo, or a parent dropped for
good in a later migration, breaks every insert into the child, in production.
""",
    instead="""
Reference an existing table's PRIMARY KEY or UNIQUE columns; create the parent first;
drop the children (or their foreign key, by a rebuild) before dropping a parent for
good.
""",
    scope="section",
)
def reference_missing(section: SectionContext) -> Iterator[Hit]:
    before = {_fk_key(t, fk) for t in section.before.tables.values() for fk in t.foreign_keys}
    after = section.after
    away = {table.lower() for table, _, _ in _renamed_away_drops(section).values()}  # LS202
    for table in after.tables.values():
        for fk in table.foreign_keys:
            parent_gone = section.before.has_table(fk.parent) and not after.has_table(fk.parent)
            if (_fk_key(table, fk) in before and not parent_gone) or fk.parent.lower() in away:
                continue
            problem = _fk_problem(after, table, fk)
            if problem:
                yield Hit(_line_of(section, table.name, fk), table.name, problem)


def _line_of(section: SectionContext, child: str, fk: ForeignKey) -> int:
    """The statement that dropped the parent, else the one that gave the child its key."""
    for step in section.steps:
        if step.before.has_table(fk.parent) and not step.after.has_table(fk.parent):
            return step.statement.line
    for step in section.steps:
        had = step.before.table(child)
        now = step.after.table(child)
        if (
            now is not None
            and fk in now.foreign_keys
            and (had is None or fk not in had.foreign_keys)
        ):
            return step.statement.line
    return section.line


@rule(
    "LS204",
    "pragma-foreign-keys-off",
    "error",
    summary="PRAGMA foreign_keys=OFF in a migration (refused by up)",
    why="""
Inside the migration's transaction SQLite ignores `PRAGMA foreign_keys`, so foreign
keys stay on and a rebuild still cascades. In a `transaction:false` section on a local
file it would stay off for the migrations after it. `up` refuses the statement.
""",
    instead="""
Write the section header as `-- migrate:up foreign_keys:off`: the tool turns foreign
keys off around the transaction and checks every reference before it commits.
""",
    directions=("up", "down"),
    reads_schema=False,
)
def pragma_foreign_keys_off(ctx: StatementContext) -> Iterator[Hit]:
    shape = ctx.step.shape
    if shape.kind == "pragma" and shape.name == "foreign_keys" and shape.value is not None:
        problem = statement_refusal(
            ctx.step.statement.sql,
            target=ctx.migration.options.target,
            transaction=ctx.section.transaction,
        )
        if problem:
            yield Hit(ctx.line, "PRAGMA foreign_keys", quiet(problem))


@rule(
    "LS205",
    "pragma-foreign-keys-noop",
    "notice",
    summary="PRAGMA foreign_keys inside a transactional section does nothing",
    why="""
SQLite ignores `PRAGMA foreign_keys` inside a transaction, and every migration section
runs in one unless it says `transaction:false`. Foreign keys are on already on every
connection the tool opens, so `PRAGMA foreign_keys=ON` (common in dbmate folders) is a
no-op; reading it tells nothing about the connection that runs the next migration.
""",
    instead="""
Remove it. To run a rebuild with foreign keys off, use `foreign_keys:off` on the section
header.
""",
    directions=("up", "down"),
    reads_schema=False,
)
def pragma_foreign_keys_noop(ctx: StatementContext) -> Iterator[Hit]:
    shape = ctx.step.shape
    if shape.kind != "pragma" or shape.name != "foreign_keys" or not ctx.section.transaction:
        return
    if shape.value is None or shape.value.strip("'\"").lower() in ("on", "1", "yes", "true"):
        yield Hit(
            ctx.line,
            "PRAGMA foreign_keys",
            "PRAGMA foreign_keys does nothing inside the migration's transaction (foreign keys"
            " are already on); remove it",
        )
