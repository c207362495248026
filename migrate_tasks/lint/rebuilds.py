"""Table rebuilds in a section: a table that went away and came back under its name.

SQLite's ALTER TABLE cannot change a column's type, constraints or keys, so such changes
are made by rebuilding the table: create the new table, copy the rows, drop the old one,
rename the new one (or rename the old one away first). Many rules compare the table
before the section with the table after it; this finds those pairs once per section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate_tasks.lint.schema import Table
from migrate_tasks.lint.shapes import Shape

if TYPE_CHECKING:
    from migrate_tasks.lint.context import SectionContext


@dataclass(frozen=True)
class Rebuild:
    """Table ``old`` (before the section) was replaced by ``new`` (after it)."""

    old: Table
    new: Table
    #: Line of the statement that made the old table go away (DROP, or RENAME away).
    line: int
    #: The ``INSERT ... SELECT`` that copied its rows, if any.
    copy: Shape | None

    @property
    def name(self) -> str:
        return self.new.name

    def copied(self, column: str) -> bool:
        """Does the copy write ``column`` (by name, or with no column list at all)?"""
        if self.copy is None:
            return False
        return self.copy.columns is None or column.lower() in {c.lower() for c in self.copy.columns}


def find_rebuilds(section: SectionContext) -> list[Rebuild]:
    """The rebuilds of ``section``, in the order their old tables went away."""
    gone: dict[str, int] = {}
    aliases: dict[str, str] = {}  # a name the old table was renamed to -> its old name
    for step in section.steps:
        shape = step.shape
        if shape.kind == "rename_table" and section.before.has_table(shape.table):
            aliases[shape.new_name.lower()] = shape.table.lower()
        for name in step.before.tables:
            if name not in step.after.tables and section.before.has_table(name):
                gone.setdefault(name, step.statement.line)
    found = []
    for name, line in gone.items():
        new = section.after.table(name)
        old = section.before.table(name)
        if new is None or old is None:
            continue
        readers = {name} | {alias for alias, source in aliases.items() if source == name}
        copy = next(
            (
                s.shape
                for s in section.steps
                if s.shape.kind == "insert"
                and s.shape.select
                and any(src.lower() in readers for src in s.shape.sources)
            ),
            None,
        )
        found.append(Rebuild(old, new, line, copy))
    return found
