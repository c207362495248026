"""LS0xx: the migration does not even run on the schema the earlier migrations build."""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import SectionContext, StatementContext
from migrate_tasks.lint.registry import Hit, rule


@rule(
    "LS001",
    "statement-fails",
    "error",
    summary="a statement fails on the schema the earlier migrations build",
    why="""
The lint runs every migration on a scratch database, in order. A statement that fails
there (a table or column that does not exist yet, a name already taken, a syntax error)
fails the same way on every database built by these migrations, and `up` stops there.
The rest of that migration is not linted: its schema is unknown.
""",
    instead="""
Fix the statement, or the order of the migrations. The message is the database's own.
""",
    reads_schema=False,
)
def statement_fails(ctx: StatementContext) -> Iterator[Hit]:
    if ctx.step.error is not None:
        yield Hit(
            ctx.line,
            ctx.step.shape.table or "",
            f"fails on a scratch database built by the earlier migrations: {ctx.step.error}",
        )


@rule(
    "LS002",
    "breaks-references",
    "error",
    summary="the section leaves rows whose foreign key points to no row",
    why="""
Every connection the tool opens has foreign keys on, so a statement that writes a row
referencing a missing row fails, and a `foreign_keys:off` section fails its check before
COMMIT. The lint runs the section with foreign keys off (to see what a drop of a
referenced table does) and checks the references at the end, on the rows the earlier
migrations wrote (seed data): references still broken there break the migration on
every database.
""",
    instead="""
Write the parent rows first, or fix the references in the same migration; in a table
rebuild, keep every row that others reference.
""",
    scope="section",
)
def breaks_references(section: SectionContext) -> Iterator[Hit]:
    if section.orphans:
        yield Hit(
            section.line,
            section.orphans[0].split(" -> ")[0],
            "leaves rows whose foreign key points to no row ("
            + "; ".join(section.orphans)
            + "): with foreign keys on, up fails",
        )
