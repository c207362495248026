"""LS6xx: migrations too big for one transaction on a server (needs live row counts).

sqld ends a write transaction older than 5 s when another writer waits for the database
(``TRANSACTION_TIMEOUT``, rolled back), and a single statement running over about 5 s
while another writer waits can hang both (docs/libsql-notes.md §10). A migration is one
transaction, so what counts is its total work. The rates below were measured on sqld
0.24.32 on a 2-core machine (docs/lint.md, "Calibration"); a table's live row count
divided by the rate of what a statement does to it gives the estimate.
"""

from __future__ import annotations

from collections.abc import Iterator

from migrate_tasks.lint.context import SectionContext
from migrate_tasks.lint.registry import Hit, rule

#: Rows per second on sqld by what a statement does to every row of a table: about half
#: the slowest rate measured by benchmarks/lint_rates.py (docs/lint.md, "Calibration"),
#: since real rows are wider than the benchmark's and servers are busier.
RATES = {
    "update": 600_000,
    "delete": 800_000,
    "copy": 400_000,
    "index": 700_000,
    "rewrite": 700_000,
}


def _work(step_shape_kind: str, select: bool) -> str | None:
    return {
        "update": "update",
        "delete": "delete",
        "create_index": "index",
        "drop_column": "rewrite",
    }.get(step_shape_kind) or ("copy" if step_shape_kind == "insert" and select else None)


@rule(
    "LS601",
    "long-transaction",
    "warning",
    summary="a rebuild, UPDATE, DELETE or index over a table big enough to pass sqld's 5 s timeout",
    why="""
On sqld a write transaction older than 5 s is rolled back when another writer waits
(`TRANSACTION_TIMEOUT`), and one long statement with a waiting writer can hang both
requests. A migration is one transaction: a rebuild, an UPDATE or DELETE of every row,
or an index over a big table can pass 5 s and fail in production only, under load.
Needs the live row counts (`--url`); estimated from rates measured on sqld.
""",
    instead="""
Move the data work out of the schema migration and into batches (`UPDATE ... WHERE id
BETWEEN ...`, a few thousand rows per migration or per job), run it when nothing else
writes, or raise the namespace's `txn_timeout_s` on sqld.
""",
    scope="section",
)
def long_transaction(section: SectionContext) -> Iterator[Hit]:
    migration = section.migration
    if migration.options.row_counts is None or section.direction != "up":
        return
    total, parts, heaviest = 0.0, [], None
    for step in section.steps:
        work = _work(step.shape.kind, step.shape.select)
        if work is None or step.error or (work == "delete" and not step.shape.where):
            continue
        table = step.shape.sources[0] if work == "copy" and step.shape.sources else step.shape.table
        rows = migration.rows(table)
        if not rows:
            continue
        seconds = rows / RATES[work]
        total += seconds
        parts.append(f"{table}: {rows} rows, line {step.statement.line}")
        if heaviest is None or seconds > heaviest[0]:
            heaviest = (seconds, step.statement.line, table)
    budget = migration.options.transaction_budget_s
    if heaviest is not None and total >= budget:
        yield Hit(
            heaviest[1],
            heaviest[2],
            f"this migration's transaction works through about {total:.1f} s of rows on sqld"
            f" ({'; '.join(parts)}), over sqld's {budget:g} s write-transaction timeout when"
            " another writer waits: batch the data work",
        )
