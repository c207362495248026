"""``lint``: catch dangerous migrations before they merge (docs/lint.md).

The migrations chosen (pending on a database, added since a git branch point, or given
files) are run on a scratch database in order, the linted ones statement by statement,
and every rule looks at each statement with the schema before and after it. One module
per job:

    model.py      Rule, Finding, Suppressed, LintReport: plain data for every reader
    registry.py   the one rule set: ``@rule`` registers a check with its id and docs
    rules/        the rules, one module per family (LS0xx ... LS7xx)
    shapes.py     what a statement does, from the package's one lexer
    schema.py     a database's tables, columns, keys and indexes, read with PRAGMAs
    walk.py       the scratch database: earlier migrations whole, linted ones step by step
    context.py    what a rule is given (migration, section, statement, options)
    rebuilds.py   table rebuilds in a section (the old table and the new one)
    suppress.py   ``-- migrate:nolint RULE`` comments and header options
    selection.py  which migrations: pending on a database, or added since a git ref
    target.py     the engine's refusals, asked through one adapter
    types.py      column type affinity and narrowing (shared with ``generate``)
    run.py        ``lint(...) -> LintReport``, ``lint_since`` (a branch) and ``lint_text``
                  (``generate``): the entry points; ``report/lint.py`` presents them

Presentation (text, JSON, SARIF) is ``report/lint.py``.
"""

from migrate_tasks.lint.context import LintOptions
from migrate_tasks.lint.model import Finding, LintReport, Rule, Suppressed
from migrate_tasks.lint.run import lint, lint_since, lint_text

__all__ = [
    "Finding", "LintOptions", "LintReport", "Rule", "Suppressed", "lint", "lint_since", "lint_text",
]  # fmt: skip
