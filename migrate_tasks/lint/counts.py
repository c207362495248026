"""Live row counts for the tables the linted migrations touch (``--url``).

Only those tables are counted, all in one round trip on a server (``query_many``): a
``count(*)`` of a big table is not free, and a database may have many.
"""

from __future__ import annotations

from collections.abc import Iterable

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.lint.shapes import shape_of
from migrate_tasks.lint.sources import Source


def tables_named(sources: Iterable[Source]) -> set[str]:
    """Lower-case names of the tables the up sections' statements name."""
    names: set[str] = set()
    for source in sources:
        for statement in source.up.statements():
            shape = shape_of(statement.sql)
            if shape.kind == "insert" and not shape.select:
                continue
            names.update(n.lower() for n in (shape.table, *shape.sources) if n)
    return names


def row_counts(driver: Driver, names: set[str]) -> dict[str, int]:
    """Rows per table (lower-case name) of ``names``; a table the database does not have
    yet counts 0: a pending migration creates it, and what pending migrations write into
    it the scratch database has too (a duplicate there fails the walk, LS001)."""
    existing = [
        str(n)
        for (n,) in driver.query("SELECT name FROM sqlite_schema WHERE type = 'table'")
        if str(n).lower() in names
    ]
    quoted = ['"' + n.replace('"', '""') + '"' for n in existing]
    answers = driver.query_many([Step(f"SELECT count(*) FROM {q}") for q in quoted])
    counts = dict.fromkeys(names, 0)
    for name, answer in zip(existing, answers, strict=True):
        if isinstance(answer, list) and answer:
            counts[name.lower()] = int(answer[0][0])
        else:
            del counts[name.lower()]  # unknown: the count failed
    return counts
