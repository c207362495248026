"""The scratch database: earlier migrations applied whole, linted ones statement by statement.

A private in-memory libSQL database (the engine of a local file, so libSQL syntax
works) with no tracking tables: the lint needs only the schema. A migration before or
between the linted ones is applied as the engine would (one transaction per section,
foreign keys off around it with ``foreign_keys:off``). A linted migration's up section
runs one statement at a time inside that transaction, and the schema is read again
after every statement that can change it (CREATE, DROP, ALTER), so each rule sees the
schema as it was before and after each statement. Cost, measured on a 200-migration
folder: see docs/lint.md ("How it works").

Statements that reach outside the database (``ATTACH``, ``DETACH``, ``VACUUM [INTO]``)
never run here, nor those the target refuses: the engine would stop before them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from migrate_tasks.drivers import open_driver
from migrate_tasks.drivers.base import Step as DriverStep
from migrate_tasks.errors import DatabaseError, StatementError
from migrate_tasks.files.parser import Statement
from migrate_tasks.lint.context import Step
from migrate_tasks.lint.schema import Schema, SchemaReader
from migrate_tasks.lint.shapes import is_schema_change, shape_of
from migrate_tasks.lint.sources import SectionView, Source

#: First words of statements never run on the scratch database (they reach files).
_OUTSIDE = ("ATTACH", "DETACH", "VACUUM")


def reaches_outside(sql: str) -> bool:
    return sql[:6].upper().startswith(_OUTSIDE)


class Scratch:
    """One scratch database for a lint run; close it when done."""

    def __init__(self) -> None:
        self.driver = open_driver(":memory:", None)
        self.reader = SchemaReader(self.driver)

    def close(self) -> None:
        self.driver.close()

    def schema(self) -> Schema:
        return self.reader.read()

    def apply(self, source: Source) -> str | None:
        """Run ``source``'s up section as the engine would; the error, if it failed."""
        section = source.up
        statements = [s for s in section.statements() if not reaches_outside(s.sql)]
        steps = [DriverStep(s.sql) for s in statements]
        try:
            if section.transaction:
                off = section.options.get("foreign_keys") == "off"
                self.driver.run_atomic(steps, foreign_keys_off=off)
            else:
                self.driver.run_each(steps)
        except StatementError as exc:
            failed = statements[exc.index] if exc.index < len(statements) else None
            where = f"{source.display}:{failed.line}" if failed else source.display
            return f"{where}: {exc.message}"
        return None

    def walk(self, section: SectionView, skip: Callable[[Statement], bool]) -> SectionWalk:
        return SectionWalk(self, section, skip)


class SectionWalk:
    """Iterating runs the section statement by statement, yielding a ``Step`` each; then
    ``before`` and ``after`` hold the section's schemas, ``failed`` the failing step.
    Statements after a failure are yielded as skipped (never run), and ``after`` is the
    schema just before the failing statement."""

    def __init__(self, scratch: Scratch, section: SectionView, skip: Callable[[Statement], bool]):
        self.scratch = scratch
        self.section = section
        self.skip = skip
        self.before = scratch.schema()
        self.after = self.before
        self.failed: Step | None = None
        #: ``child -> parent`` pairs with rows whose foreign key points to no row, that
        #: the section left behind (none before it).
        self.orphans: list[str] = []

    def __iter__(self) -> Iterator[Step]:
        query = self.scratch.driver.query
        transaction = self.section.transaction
        # Foreign keys stay off while a linted section runs, whatever its header says: a
        # DROP of a referenced table that holds rows would fail here, and the rules that
        # explain why (LS201, LS202) need the schema after it. Rows left pointing nowhere
        # are counted at the end instead (``orphans``), as the engine's check would.
        query("PRAGMA foreign_keys=OFF")
        known = _orphans(query)
        if transaction:
            query("BEGIN")
        current = self.before
        try:
            for statement in self.section.statements():
                shape = shape_of(statement.sql)
                if (
                    self.failed is not None
                    or reaches_outside(statement.sql)
                    or self.skip(statement)
                ):
                    yield Step(statement, shape, current, current, skipped=True)
                    continue
                try:
                    query(statement.sql)
                except DatabaseError as exc:
                    if transaction:
                        query("ROLLBACK")
                        transaction = False
                    self.failed = Step(statement, shape, current, current, error=exc.message)
                    yield self.failed
                    continue  # the rest is only read, for rules that need no schema
                after = self.scratch.schema() if is_schema_change(statement.sql) else current
                yield Step(statement, shape, current, after)
                current = after
            if self.failed is None:
                self.orphans = [o for o in _orphans(query) if o not in known]
            if transaction:
                query("COMMIT")
                transaction = False
        finally:
            if transaction:
                query("ROLLBACK")  # the consumer stopped early
            query("PRAGMA foreign_keys=ON")
        # After a failure: the schema just before the failing statement (rolled back on
        # the scratch database, but what the statements before it built).
        self.after = self.failed.before if self.failed is not None else current


_CHECK = 'SELECT DISTINCT "table", parent FROM pragma_foreign_key_check'


def _orphans(query) -> list[str]:  # type: ignore[no-untyped-def]
    """``child -> parent`` for every pair with rows whose foreign key points nowhere.

    One malformed foreign key (a missing parent column: LS203) makes the whole check
    fail with "foreign key mismatch", so then each table is checked on its own."""
    try:
        rows = query(_CHECK)
    except DatabaseError:
        rows = []
        for (table,) in query("SELECT name FROM sqlite_schema WHERE type = 'table'"):
            try:
                rows += query(_CHECK + "(?)", (table,))
            except DatabaseError:
                continue
    return [f"{child} -> {parent}" for child, parent in rows]
