"""LS5xx: transactions, and what the target (a local file or a sqld server) refuses."""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import MigrationContext, SectionContext, StatementContext
from migrate_tasks.lint.registry import Hit, rule
from migrate_tasks.lint.target import quiet, statement_refusal


@rule(
    "LS501",
    "no-transaction",
    "warning",
    summary="a transaction:false section is not atomic",
    why="""
In a `transaction:false` section each statement commits on its own. If one fails, the
ones before it stay applied, the migration is recorded as `failed`, and `up` and `down`
refuse to go on until someone repairs the database by hand.
""",
    instead="""
Keep only the statement that needs it (e.g. `VACUUM` on a local file) in its own
`transaction:false` migration, and everything else in ordinary migrations.
""",
    scope="section",
    directions=("up", "down"),
    reads_schema=False,
)
def no_transaction(section: SectionContext) -> Iterator[Hit]:
    if not section.transaction:
        yield Hit(
            section.line,
            f"{section.header} transaction:false",
            f"{section.header} transaction:false: each statement commits on its own, so a"
            " failure leaves the migration half applied (recorded as failed)",
        )


@rule(
    "LS502",
    "refused-by-target",
    "error",
    summary="a statement the target refuses (VACUUM, ATTACH, TEMP, journal_mode on sqld)",
    why="""
sqld parses every statement itself and refuses `VACUUM`, `ATTACH`, `CREATE TEMP ...`,
`ANALYZE` and PRAGMAs that change settings (`journal_mode`, ...); a local file refuses
`VACUUM` inside a transaction. `up` refuses such a migration before running it; the lint
reports the same message before it is merged. The target is the configured database's
kind (`--url`, `LIBSQL_URL`, config).
""",
    instead="""
Remove the statement (sqld manages its file and connections itself), or follow the
message: for a local file, move `VACUUM` into its own `transaction:false` migration.
""",
    directions=("up", "down"),
    reads_schema=False,
)
def refused_by_target(ctx: StatementContext) -> Iterator[Hit]:
    shape = ctx.step.shape
    if shape.kind == "pragma" and shape.name == "foreign_keys":
        return  # LS204
    target = ctx.migration.options.target
    problem = statement_refusal(
        ctx.step.statement.sql, target=target, transaction=ctx.section.transaction
    )
    if problem:
        first = ctx.step.statement.sql.split(None, 1)[0].upper()
        yield Hit(ctx.line, first, quiet(problem))


@rule(
    "LS504",
    "no-down",
    "notice",
    summary="a migration without a down section (or with an empty one)",
    why="""
`down` refuses to roll back a migration whose down section has no statements, so a bad
deploy cannot be undone with the tool, and `verify` cannot prove the migration.
""",
    instead="""
Write the statements that undo the up section under `-- migrate:down`; for a migration
that cannot be undone, write `SELECT 1;` there and say why in a comment.
""",
    scope="migration",
    reads_schema=False,
)
def no_down(migration: MigrationContext) -> Iterator[Hit]:
    if not migration.has_down:
        yield Hit(
            None,
            migration.name,
            "no '-- migrate:down' section: down cannot roll this migration back",
        )
    elif migration.down_statements == 0:
        yield Hit(
            migration.down_line,
            migration.name,
            "the down section has no statements: down cannot roll this migration back",
        )
