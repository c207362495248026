"""LS0xx: the migration does not even run on the schema the earlier migrations build."""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import StatementContext
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
