"""The checks the engine adds to a unit because libSQL enforces foreign keys and
``ALTER COLUMN`` trusts existing rows (docs/libsql.md).

* ``ReferenceCheck``: before a unit runs, a ``DROP TABLE`` of a table that other
  tables reference is refused (exit 2). sqld and libSQL files turn foreign keys on for
  every connection, so ``DROP TABLE parent`` first deletes parent's rows: ``ON DELETE
  CASCADE`` children silently lose theirs, and the others make it fail. The way to
  rebuild such a table is a section with ``foreign_keys:off``. Plain renames are
  allowed (SQLite rewrites the children's REFERENCES to the new name), and followed:
  after ``ALTER TABLE parent RENAME TO parent_old`` the children reference parent_old.
* ``foreign_key_guard``: the last step of a ``foreign_keys:off`` unit. It fails, inside
  the transaction so nothing commits, when ``pragma_foreign_key_check`` finds a row
  whose reference points nowhere, and its error names the tables.
* ``alter_column_check``: a step after every ``ALTER TABLE t ALTER COLUMN c TO ...``.
  It fails when ``pragma_quick_check(t)`` (NOT NULL, CHECK, STRICT types) or
  ``pragma_foreign_key_check(t)`` finds existing rows that break the new definition.

SQLite has no way to raise an error with a message of our choosing outside a trigger
(``RAISE`` is trigger-only, CHECK messages are fixed). One built-in function does
fail with text we choose: ``json_extract('{}', path)`` with a path that does not start
with ``$`` fails with "bad JSON path: '<path>'" (sqld, libSQL files) or "JSON path error
near '<path>'" (stdlib sqlite3). The checks put ``migrate_tasks:<kind>:<details>`` in
that path, only when there is something to report, and ``check_failure`` reads it back.
This needs no table (sqld has no TEMP tables) and works identically on every target,
inside one Hrana batch. Measured on sqld 0.24.32, libsql 0.1.11 and sqlite3 3.40.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.engine.refusals import Refused
from migrate_tasks.files.parser import Statement
from migrate_tasks.sql.shapes import schema_change

MARKER = "migrate_tasks:"
FOREIGN_KEY_CHECK = "foreign_key_check"
ALTER_COLUMN = "alter_column"


def _fail_with(kind: str, problems: str) -> str:
    """An expression that is NULL, or fails carrying ``problems`` (a text expression)."""
    return f"json_extract('{{}}', '{MARKER}{kind}:' || {problems})"


#: Every foreign-key violation in the database, one entry per (child, parent) pair.
FOREIGN_KEY_GUARD_SQL = (
    "SELECT CASE WHEN count(*) > 0 THEN "
    + _fail_with(FOREIGN_KEY_CHECK, "group_concat(problem, '; ')")
    + " END FROM (SELECT \"table\" || ' (' || count(*) || ' row(s) referencing '"
    " || parent || CASE WHEN lower(parent) IN"
    " (SELECT lower(name) FROM sqlite_schema WHERE type = 'table')"
    " THEN '' ELSE ', a table that no longer exists' END || ')' AS problem"
    ' FROM pragma_foreign_key_check GROUP BY "table", parent)'
)

#: The rows of one table that break its definition (quick_check reports at most 100).
ALTER_COLUMN_CHECK_SQL = (
    "SELECT CASE WHEN count(*) > 0 THEN "
    + _fail_with(ALTER_COLUMN, "group_concat(problem, '; ')")
    + " END FROM (SELECT DISTINCT quick_check AS problem FROM pragma_quick_check(?)"
    " WHERE quick_check <> 'ok'"
    " UNION SELECT 'rows referencing missing rows in ' || parent"
    " FROM pragma_foreign_key_check(?))"
)

#: Every foreign key of every table: (child, parent, ON DELETE action).
REFERENCES_SQL = (
    'SELECT DISTINCT m.name, f."table", f.on_delete FROM sqlite_schema AS m'
    " JOIN pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table'"
)


def foreign_key_guard() -> Step:
    return Step(FOREIGN_KEY_GUARD_SQL)


def alter_column_check(table: str) -> Step:
    return Step(ALTER_COLUMN_CHECK_SQL, (table, table))


def check_failure(message: str) -> tuple[str, str] | None:
    """``(kind, details)`` if ``message`` is the error of one of our checks."""
    start = message.find(MARKER)
    if start < 0:
        return None
    kind, _, rest = message[start + len(MARKER) :].partition(":")
    end = rest.rfind("'")  # the path is quoted in the message, quotes doubled
    details = (rest[:end] if end >= 0 else rest).replace("''", "'")
    return kind, details


def describe_failure(added: Added, message: str) -> str:
    """What the failed check ``added`` found (its error text is ``message``), for people."""
    found = check_failure(message)
    if found is None:  # the check itself could not run: show the database's words
        return f"the tool's {added.kind.replace('_', ' ')} after this statement failed: {message}"
    details = found[1]
    if added.kind == FOREIGN_KEY_CHECK:
        return (
            "the foreign key check before COMMIT found rows whose foreign key points to no"
            f" row: {details}. The section ran with foreign keys off (foreign_keys:off);"
            " make the new tables keep every referenced row, or delete the referencing"
            " rows in this migration (`SELECT * FROM pragma_foreign_key_check` lists them)"
        )
    return (
        f"existing rows do not satisfy the new column definition: {details}. libSQL's"
        " ALTER COLUMN changes the definition without checking the rows already in the"
        " table, so the tool checks them; fix those rows first (an UPDATE before the ALTER,"
        " in this migration)"
    )


# -- statements in, steps out -------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    """A step the engine added: which check, and the statement it checks (if any)."""

    kind: str
    statement: Statement | None
    #: Index of that statement in the section (-1: none, the final foreign-key check).
    statement_index: int


class GuardedStatements:
    """A section's statements as steps, with the checks above added, consumed lazily
    (a streamed unit is never held). Remembers where it added steps, so the engine can
    map a failing step back to the section's statement.

    ``check`` is called with each statement before its step is produced: a refusal
    raised there stops the unit before (or, when streaming, rolls back) anything.
    """

    def __init__(
        self,
        statements: Iterable[Statement],
        *,
        foreign_keys_off: bool,
        check: Callable[[Statement], None] | None = None,
    ) -> None:
        self._statements = statements
        self.foreign_keys_off = foreign_keys_off
        self._check = check
        self._added: dict[int, Added] = {}

    def __iter__(self) -> Iterator[Step]:
        index = 0  # steps produced so far
        for number, statement in enumerate(self._statements):
            if self._check is not None:
                self._check(statement)
            yield Step(statement.sql)
            index += 1
            if statement.sql[:5].upper() == "ALTER":
                change = schema_change(statement.sql)
                if change is not None and change.kind == "alter_column":
                    self._added[index] = Added(ALTER_COLUMN, statement, number)
                    yield alter_column_check(change.table)
                    index += 1
        if self.foreign_keys_off:
            self._added[index] = Added(FOREIGN_KEY_CHECK, None, -1)
            yield foreign_key_guard()

    def is_added(self, index: int) -> bool:
        """Whether step ``index`` (already produced) is a check added here, not one of the
        section's statements."""
        return index in self._added

    def locate(self, index: int) -> tuple[int, Added | None]:
        """For step ``index`` (counted from the first statement's step): the statement's
        index in the section, and the added check when the step is one."""
        added = self._added.get(index)
        if added is not None:
            return added.statement_index, added
        return index - sum(1 for i in self._added if i < index), None


# -- dropping referenced tables -----------------------------------------------------------


@dataclass
class Reference:
    child: str
    parent: str
    on_delete: str


def read_references(driver: Driver) -> list[Reference]:
    """Every foreign key in the database, from ``pragma_foreign_key_list``."""
    return [
        Reference(str(c), str(p), str(a or "NO ACTION")) for c, p, a in driver.query(REFERENCES_SQL)
    ]


class ReferenceCheck:
    """Follows a unit's ``DROP TABLE`` and ``ALTER TABLE ... RENAME TO`` statements over
    the database's foreign keys, and refuses a drop that would hit referencing rows.

    A drop is fine when the table is referenced only by itself, or by tables this
    unit dropped before it. The foreign keys are read (``load``) at the first such
    statement only, so units without one cost no query.
    """

    def __init__(self, load: Callable[[], list[Reference]], path: str, header: str) -> None:
        self._load = load
        self._refs: list[Reference] | None = None
        self._path = path
        self._header = header

    def __call__(self, statement: Statement) -> None:
        head = statement.sql[:5].upper()
        if head not in ("DROP ", "ALTER"):
            return
        change = schema_change(statement.sql)
        if change is None or change.kind == "alter_column":
            return
        if self._refs is None:
            self._refs = self._load()
        table = change.table.lower()
        if change.kind == "rename_table":
            assert change.new_name is not None
            for ref in self._refs:  # SQLite rewrites both sides of every reference
                if ref.child.lower() == table:
                    ref.child = change.new_name
                if ref.parent.lower() == table:
                    ref.parent = change.new_name
            return
        children = [r for r in self._refs if r.parent.lower() == table and r.child.lower() != table]
        if children:
            raise Refused(self._path, statement.line, self._message(change.table, children))
        self._refs = [r for r in self._refs if r.child.lower() != table]

    def _message(self, table: str, children: list[Reference]) -> str:
        names = ", ".join(f"{r.child} (ON DELETE {r.on_delete})" for r in children)
        effects = []
        if any(r.on_delete == "CASCADE" for r in children):
            effects.append("ON DELETE CASCADE children silently lose every row that references it")
        if any(r.on_delete in ("SET NULL", "SET DEFAULT") for r in children):
            effects.append("SET NULL/SET DEFAULT children have their references overwritten")
        if any(r.on_delete in ("NO ACTION", "RESTRICT") for r in children):
            effects.append("the others make the DROP fail once they have rows")
        return (
            f"DROP TABLE {table} is refused: {names} reference {table}. Foreign keys are on"
            " (sqld and libSQL files turn them on for every connection), so dropping"
            f" {table} first deletes all its rows: " + "; ".join(effects) + ". To rebuild"
            f" {table} (create a new table, copy the rows, drop {table}, rename the new"
            f" table to {table}), write the section header as '{self._header}"
            " foreign_keys:off': the tool then runs the migration with foreign keys off"
            " and checks every reference before it commits. To drop the referencing"
            " tables too, drop them first, in this migration. Nothing of this migration"
            " was run"
        )
