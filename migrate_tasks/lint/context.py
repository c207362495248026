"""What a rule is given: a migration, its sections, and its statements with the schema
before and after each (read on the scratch database by ``walk.py``)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migrate_tasks.files.parser import Statement
from migrate_tasks.lint.schema import Schema
from migrate_tasks.lint.shapes import Shape

if TYPE_CHECKING:
    from migrate_tasks.lint.rebuilds import Rebuild

#: ``LintOptions.target`` values: where the migrations will run.
TARGETS = ("file", "http", "ws")


@dataclass(frozen=True)
class LintOptions:
    """What the rules know besides the files."""

    #: Where the migrations will run: ``file``, ``http`` or ``ws`` (a server).
    target: str = "file"
    #: Rows per table (lower-case name) on the live database; None: not read.
    row_counts: Mapping[str, int] | None = None
    #: History: the newest version applied on the database (pending mode).
    newest_applied: str | None = None
    #: History: the newest version on the base branch (``--since``), and its name.
    base_newest: str | None = None
    base_label: str = ""
    #: Budget for one migration's transaction on a server, in seconds (size rule).
    transaction_budget_s: float = 5.0

    @property
    def server(self) -> bool:
        return self.target in ("http", "ws")


@dataclass
class Step:
    """One statement of a section and what it did on the scratch database."""

    statement: Statement
    shape: Shape
    before: Schema
    after: Schema
    #: The scratch database's error when the statement failed there.
    error: str | None = None
    #: Not run on the scratch database (the target refuses it, or it reaches outside).
    skipped: bool = False


@dataclass
class MigrationContext:
    version: str
    name: str
    path: str
    options: LintOptions
    #: The schema the earlier migrations build (before this one).
    start: Schema
    has_down: bool
    down_statements: int
    #: Line of the down section's header (None: no down section).
    down_line: int | None = None

    def rows(self, table: str) -> int | None:
        """Rows of ``table`` on the live database; None when unknown."""
        counts = self.options.row_counts
        return None if counts is None else counts.get(table.lower())

    def existing(self, table: str) -> bool:
        """Did ``table`` exist before this migration (so it may hold rows)?"""
        return self.start.has_table(table)

    def may_have_rows(self, table: str) -> bool:
        """An existing table, unless the live database says it is empty."""
        return self.existing(table) and self.rows(table) != 0

    def rows_note(self, table: str) -> str:
        rows = self.rows(table)
        return "" if rows is None else f" ({rows} rows on the live database)"


@dataclass
class SectionContext:
    migration: MigrationContext
    direction: str
    line: int
    options: Mapping[str, str]
    before: Schema
    after: Schema
    #: The statements worth a look (not plain INSERT ... VALUES), in order.
    steps: list[Step] = field(default_factory=list)
    #: ``child -> parent`` pairs the section left with rows referencing no row.
    orphans: list[str] = field(default_factory=list)

    @property
    def transaction(self) -> bool:
        return self.options.get("transaction") != "false"

    @property
    def foreign_keys_off(self) -> bool:
        return self.options.get("foreign_keys") == "off"

    @property
    def header(self) -> str:
        return f"-- migrate:{self.direction}"

    @functools.cached_property
    def rebuilds(self) -> list[Rebuild]:
        from migrate_tasks.lint.rebuilds import find_rebuilds

        return find_rebuilds(self)


@dataclass
class StatementContext:
    section: SectionContext
    step: Step

    @property
    def migration(self) -> MigrationContext:
        return self.section.migration

    @property
    def line(self) -> int:
        return self.step.statement.line
