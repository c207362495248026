"""Changes -> the SQL of a migration: an up section, and a down section that undoes it.

Pure: reflected schemas and changes in, statements out. The migration is built from
operations, each with its own up statements and the down statements that undo exactly
those; the down section runs the operations' downs in reverse order. So down restores
the schema step by step, and every ``CREATE`` it needs is the one stored in the scratch
database, reused verbatim: after a round trip ``dump`` and ``verify`` see the same text.

Operation order in up: drop the views and triggers (of other tables) that mention a
table being rebuilt; create new tables, parents first; change existing tables, parents
first; drop removed tables, children first; create those views and triggers again.

A table is changed in place when SQLite's ``ALTER TABLE`` can do it (``RENAME COLUMN``;
``ADD COLUMN`` of a column that is not part of a key, has a constant default and is
NOT NULL only with a default; ``DROP COLUMN`` of a column no key, index or CHECK uses),
and rebuilt otherwise, with the procedure SQLite documents
(https://sqlite.org/lang_altertable.html#otheralter):

    CREATE TABLE "_new_t" (...the new definition...);
    INSERT INTO "_new_t" (cols) SELECT cols FROM "t";
    DROP TABLE "t";
    ALTER TABLE "_new_t" RENAME TO "t";
    -- then t's indexes and triggers again

The foreign-key steps of that procedure are the engine's: a section that rebuilds a
table that any table references (itself included), or drops a table that is still
referenced, gets ``foreign_keys:off``, and the engine turns enforcement off around the
transaction and runs the foreign-key check before COMMIT (guards.py). A column that
becomes NOT NULL is copied with ``coalesce(col, <its new default>)`` when the model gives
a server default; without one, a NULL makes the INSERT fail, naming the column, and
nothing of the migration is applied.

Down restores a dropped column with a rebuild (``ADD COLUMN`` would move it to the end
of the table); its values are gone, so it gets its default, or for a NOT NULL column
without one a placeholder of its affinity (``''``, ``0``, ``X''``), with a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from migrate_tasks.autogenerate.diff import (
    TABLE_KINDS,
    Change,
    Note,
    Renames,
    apply_renames,
    with_case_renames,
)
from migrate_tasks.autogenerate.reflect import (
    Column,
    ForeignKey,
    Schema,
    Table,
    dependency_order,
    mentions,
    quote,
)
from migrate_tasks.lint.types import affinity

#: Kinds of change ``ALTER TABLE`` (or CREATE/DROP INDEX) can make without a rebuild.
IN_PLACE = frozenset(
    {
        "add_column",
        "drop_column",
        "rename_column",
        "add_index",
        "drop_index",
        "alter_index",
        "rename_index",
    }
)
#: Indexes dropped, and created again from the models' statement.
_RECREATED = ("alter_index", "rename_index")
_TIME_DEFAULTS = frozenset({"CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP"})
TEMP_PREFIX = "_new_"
RENAME_PREFIX = "_rename_"
_CREATE_TABLE = re.compile(
    r"\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE
)
_NAME = r"""(?:"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[^\s(."\[`]+)"""
#: A table name, perhaps schema-qualified (``main."t"``).
_TABLE_NAME = re.compile(rf"(?:{_NAME}\s*\.\s*)?{_NAME}")


@dataclass
class Operation:
    up: list[str] = field(default_factory=list)
    #: In the order the down section runs them.
    down: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Migration:
    """The statements of both sections (entries starting with ``--`` are comments)."""

    up: tuple[str, ...]
    down: tuple[str, ...]
    up_foreign_keys_off: bool = False
    down_foreign_keys_off: bool = False
    #: Tables the up section rebuilds.
    rebuilt: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()

    def text(self, preamble: Sequence[str] = ()) -> str:
        """The migration file: comment lines, then both sections (docs/file-format.md)."""
        lines = [f"-- {line}" if line else "--" for line in preamble]
        for header, statements, off in (
            ("-- migrate:up", self.up, self.up_foreign_keys_off),
            ("-- migrate:down", self.down, self.down_foreign_keys_off),
        ):
            if lines:
                lines.append("")
            lines.append(header + (" foreign_keys:off" if off else ""))
            spaced = False  # a blank line around comments and multi-line statements
            after_comment = False
            for i, statement in enumerate(statements):
                comment = statement.startswith("--")
                block = comment or "\n" in statement.strip()
                if i and (block or spaced) and not after_comment:
                    lines.append("")
                lines.append(_terminated(statement))
                spaced, after_comment = block and not comment, comment
        return "\n".join(lines) + "\n"


def _terminated(statement: str) -> str:
    text = statement.strip()
    if text.startswith("--"):
        return text
    last_line = text.rsplit("\n", 1)[-1]
    return text + ("\n;" if "--" in last_line else ";")


# -- planning -------------------------------------------------------------------------------


def render(
    current: Schema, target: Schema, changes: Sequence[Change], renames: Renames | None = None
) -> Migration:
    """The migration that turns ``current`` into ``target`` (``changes`` from diff.diff)."""
    renames = with_case_renames(current, target, renames or {})
    renamed = apply_renames(current, renames)
    by_table: dict[str, list[Change]] = {}
    for change in changes:
        if change.kind not in TABLE_KINDS:
            by_table.setdefault(change.table.lower(), []).append(change)
    added = [c.table.lower() for c in changes if c.kind == "add_table"]
    dropped = [c.table.lower() for c in changes if c.kind == "drop_table"]

    plans = {
        key: _plan_table(
            current.tables[key], renamed, target.tables[key], by_table[key], renames.get(key, {})
        )
        for key in by_table
    }
    rebuilt_up = [k for k, p in plans.items() if p.rebuild_up]
    rebuilt_down = [k for k, p in plans.items() if p.rebuild_down]
    dependent = _dependent_objects(current, set(rebuilt_up) | set(rebuilt_down), set(dropped))

    operations = [_rename_tables(c for c in changes if c.kind == "rename_table")]
    operations.append(_drop_dependents(dependent))
    target_order = dependency_order(target.tables)
    operations += [_create_table(target.tables[k]) for k in target_order if k in added]
    operations += [plans[k].operation for k in target_order if k in plans]
    current_order = dependency_order(current.tables)
    drop_order = [k for k in reversed(current_order) if k in dropped]
    operations += [_drop_table(current.tables[k]) for k in drop_order]
    operations.append(_restore_dependents(dependent))

    up_off = _references_any(rebuilt_up, current, target) or _drop_needs_off(drop_order, current)
    down_off = _references_any(rebuilt_down, current, target) or _drop_needs_off(
        [k for k in reversed(target_order) if k in added], target
    )
    return Migration(
        up=tuple(s for op in operations for s in op.up),
        down=tuple(s for op in reversed(operations) for s in op.down),
        up_foreign_keys_off=up_off,
        down_foreign_keys_off=down_off,
        rebuilt=tuple(current.tables[k].name for k in rebuilt_up),
        notes=tuple(_view_notes(current, dropped, plans)),
    )


@dataclass
class TablePlan:
    rebuild_up: bool
    rebuild_down: bool
    operation: Operation
    #: Why the table is rebuilt (the first change that needs it), for the summary.
    reason: str = ""


def _plan_table(
    original: Table,
    renamed: Schema,
    target: Table,
    changes: Sequence[Change],
    renames: Mapping[str, str],
) -> TablePlan:
    current = renamed.tables[target.name.lower()]
    new_fks = [c.item for c in changes if c.kind == "add_foreign_key"]
    reason = next((c for c in changes if c.kind not in IN_PLACE | {"add_foreign_key"}), None)
    absorbed: dict[str, ForeignKey] = {}
    if reason is None:
        for change in changes:
            if change.kind == "add_column":
                assert isinstance(change.item, Column)
                ok, fk = _addable(change.item, target, new_fks)
                if not ok:
                    reason = change
                    break
                if fk is not None:
                    absorbed[change.item.name.lower()] = fk
            elif change.kind == "drop_column":
                assert isinstance(change.item, Column)
                if not _droppable(change.item, current, renamed, changes):
                    reason = change
                    break
    if reason is None and len(absorbed) != len(new_fks):
        reason = next(c for c in changes if c.kind == "add_foreign_key")
    if reason is not None:
        return TablePlan(
            True, True, _rebuild_operation(original, target, renames), reason.describe()
        )
    return _in_place(original, target, changes, renames, absorbed)


def _addable(
    column: Column, target: Table, new_fks: Sequence[object]
) -> tuple[bool, ForeignKey | None]:
    """Can ``ALTER TABLE ADD COLUMN`` add ``column``? (SQLite's rules, lang_altertable)"""
    key = column.name.lower()
    default = column.default
    if (
        column.hidden
        or key in _key(target.primary_key)
        or any(key in _key(u.columns) for u in target.uniques)
        or (default is not None and default.upper() in _TIME_DEFAULTS)
        or (column.default_sql or "").strip().startswith("(")
        or (column.notnull and (default is None or default.upper() == "NULL"))
    ):
        return False, None
    fks = [fk for fk in new_fks if isinstance(fk, ForeignKey) and key in _key(fk.columns)]
    if not fks:
        return True, None
    if len(fks) > 1 or len(fks[0].columns) != 1 or (default or "NULL").upper() != "NULL":
        return False, None
    return True, fks[0]


def _droppable(column: Column, current: Table, renamed: Schema, changes: Sequence[Change]) -> bool:
    """Can ``ALTER TABLE DROP COLUMN`` drop ``column`` (after this table's index drops)?"""
    key = column.name.lower()
    going = {c.name.lower() for c in changes if c.kind in ("drop_index", *_RECREATED)}
    return not (
        column.hidden
        or key in _key(current.primary_key)
        or any(key in _key(u.columns) for u in current.uniques)
        or any(key in _key(fk.columns) for fk in current.foreign_keys)
        or any(mentions(ch.sql, [key]) for ch in current.checks)
        or any(key in _key(fk.ref_columns) for _child, fk in renamed.references_to(current.name))
        or any(mentions(i.key, [key]) for i in current.indexes if i.name.lower() not in going)
    )


def _in_place(
    original: Table,
    target: Table,
    changes: Sequence[Change],
    renames: Mapping[str, str],
    absorbed: Mapping[str, ForeignKey],
) -> TablePlan:
    name = quote(target.name)
    kinds: dict[str, list[Change]] = {}
    for change in changes:
        kinds.setdefault(change.kind, []).append(change)
    old_indexes = [c for c in changes if c.kind in ("drop_index", *_RECREATED)]
    new_indexes = [c for c in changes if c.kind in ("add_index", *_RECREATED)]
    up = [f"DROP INDEX {quote(c.name)}" for c in old_indexes]
    for old, new in renames.items():
        up.append(
            f"ALTER TABLE {name} RENAME COLUMN {quote(_spelling(original, old))} TO {quote(new)}"
        )
    for change in kinds.get("add_column", []):
        definition = target.column_sql[change.name.lower()]
        fk = absorbed.get(change.name.lower())
        up.append(f"ALTER TABLE {name} ADD COLUMN {definition}{_references(fk)}")
    drops = kinds.get("drop_column", [])
    up += [f"ALTER TABLE {name} DROP COLUMN {quote(c.name)}" for c in drops]
    up += [_index_sql(target, c.name) for c in new_indexes]
    if drops:  # ADD COLUMN would put the column back at the end: rebuild to the old text
        down = _rebuild_back(original, target, renames)
        return TablePlan(False, True, Operation(up, down))
    down = [f"DROP INDEX {quote(c.name)}" for c in reversed(new_indexes)]
    down += [
        f"ALTER TABLE {name} DROP COLUMN {quote(c.name)}"
        for c in reversed(kinds.get("add_column", []))
    ]
    for old, new in reversed(list(renames.items())):
        down.append(
            f"ALTER TABLE {name} RENAME COLUMN {quote(new)} TO {quote(_spelling(original, old))}"
        )
    by_name = {i.name.lower(): i for i in original.indexes}
    down += [by_name[c.name.lower()].sql for c in reversed(old_indexes)]
    return TablePlan(False, False, Operation(up, down))


def _references(fk: ForeignKey | None) -> str:
    if fk is None:
        return ""
    text = f" REFERENCES {quote(fk.table)} ({', '.join(quote(c) for c in fk.ref_columns)})"
    if fk.on_delete != "NO ACTION":
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update != "NO ACTION":
        text += f" ON UPDATE {fk.on_update}"
    return text


def _index_sql(table: Table, name: str) -> str:
    index = table.index(name)
    assert index is not None
    return index.sql


def _spelling(table: Table, lower: str) -> str:
    column = table.column(lower)
    return column.name if column else lower


# -- rebuilds -------------------------------------------------------------------------------


def _rebuild_operation(original: Table, target: Table, renames: Mapping[str, str]) -> Operation:
    back = {new.lower(): old for old, new in renames.items()}
    up = [f"-- rebuild {target.name}: new table, copy the rows, drop the old one, rename"]
    up += rebuild(target.name, target.sql, target.columns, original.columns, back)
    up += [i.sql for i in target.indexes]
    up += [sql for _name, sql in (*original.unmanaged_indexes, *original.triggers)]
    return Operation(up, _rebuild_back(original, target, renames))


def _rebuild_back(original: Table, target: Table, renames: Mapping[str, str]) -> list[str]:
    """Down: the table exactly as it was (its stored CREATE, indexes and triggers)."""
    down = [f"-- rebuild {original.name} as it was before"]
    down += rebuild(
        original.name, original.sql, original.columns, target.columns, renames, fill_missing=True
    )
    down += [i.sql for i in original.indexes]
    down += [sql for _name, sql in (*original.unmanaged_indexes, *original.triggers)]
    return down


def rebuild(
    name: str,
    create_sql: str,
    columns: Sequence[Column],
    source: Sequence[Column],
    source_of: Mapping[str, str],
    *,
    fill_missing: bool = False,
) -> list[str]:
    """SQLite's table rebuild: create ``_new_<name>`` from ``create_sql`` (whose
    ``columns`` they are), copy the rows of ``name`` (whose columns are ``source``;
    ``source_of`` maps a lower-case new name to its old name), drop, rename.
    ``fill_missing``: give NOT NULL columns without a source and a default a placeholder."""
    temp = TEMP_PREFIX + name
    statements = [rename_create(create_sql, temp)]
    by_name = {c.name.lower(): c for c in source if not c.hidden}
    names: list[str] = []
    values: list[str] = []
    for column in columns:
        if column.hidden:
            continue
        origin = by_name.get(source_of.get(column.name.lower(), column.name).lower())
        if origin is None:
            if fill_missing and column.notnull and column.default is None:
                filler = placeholder(column.type)
                statements.append(
                    f"-- {name}.{column.name} was dropped, its values are gone: rows get {filler}"
                )
                names.append(quote(column.name))
                values.append(filler)
            continue
        value = quote(origin.name)
        if column.notnull and not origin.notnull and column.default_sql is not None:
            value = f"coalesce({value}, {column.default_sql})"
        names.append(quote(column.name))
        values.append(value)
    if names:
        statements.append(
            f"INSERT INTO {quote(temp)} ({', '.join(names)})"
            f" SELECT {', '.join(values)} FROM {quote(name)}"
        )
    statements += [
        f"DROP TABLE {quote(name)}",
        f"ALTER TABLE {quote(temp)} RENAME TO {quote(name)}",
    ]
    return statements


def rename_create(sql: str, new_name: str) -> str:
    """``CREATE TABLE name (...)`` with another name, the rest of the text untouched."""
    head = _CREATE_TABLE.match(sql)
    name = _TABLE_NAME.match(sql, head.end()) if head else None
    if head is None or name is None:
        raise ValueError(f"not a CREATE TABLE statement: {sql[:60]!r}")
    return sql[: head.end()] + quote(new_name) + sql[name.end() :]


def placeholder(declared: str) -> str:
    """A value of the type's affinity for rows that must have one."""
    return {"TEXT": "''", "BLOB": "X''"}.get(affinity(declared), "0")


# -- tables created, dropped and renamed -----------------------------------------------------


def _rename_tables(changes: Iterable[Change]) -> Operation:
    """A name that differs only in case: SQLite refuses ``RENAME TO`` a name it already
    has (it compares names case-insensitively), so through a temporary name. RENAME
    rewrites the references in other tables, triggers and views too."""
    up: list[str] = []
    down: list[str] = []
    for change in changes:
        temp = quote(RENAME_PREFIX + change.after)
        up += [
            f"ALTER TABLE {quote(change.before)} RENAME TO {temp}",
            f"ALTER TABLE {temp} RENAME TO {quote(change.after)}",
        ]
        down[:0] = [
            f"ALTER TABLE {quote(change.after)} RENAME TO {temp}",
            f"ALTER TABLE {temp} RENAME TO {quote(change.before)}",
        ]
    return Operation(up, down)


def _create_table(table: Table) -> Operation:
    return Operation(
        [table.sql, *(i.sql for i in table.indexes)], [f"DROP TABLE {quote(table.name)}"]
    )


def _drop_table(table: Table) -> Operation:
    extras = (*table.unmanaged_indexes, *table.triggers)
    down = [table.sql, *(i.sql for i in table.indexes), *(sql for _n, sql in extras)]
    return Operation([f"DROP TABLE {quote(table.name)}"], down)


# -- views and triggers ---------------------------------------------------------------------


def _dependent_objects(
    current: Schema, rebuilt: set[str], dropped: set[str]
) -> list[tuple[str, str, str]]:
    """(kind, name, sql) of the views, and triggers on other tables, that mention a rebuilt
    table: renaming ``_new_t`` to ``t`` fails while they point at a missing ``t``."""
    if not rebuilt:
        return []
    names = [current.tables[k].name for k in rebuilt]
    found = [("VIEW", n, sql) for n, sql in current.views if mentions(sql, names)]
    for key, table in current.tables.items():
        if key in rebuilt or key in dropped:
            continue
        found += [("TRIGGER", n, sql) for n, sql in table.triggers if mentions(sql, names)]
    return found


def _drop_dependents(objects: Sequence[tuple[str, str, str]]) -> Operation:
    return Operation(
        [f"DROP {kind} {quote(name)}" for kind, name, _sql in reversed(objects)],
        [sql for _kind, _name, sql in objects],
    )


def _restore_dependents(objects: Sequence[tuple[str, str, str]]) -> Operation:
    inverse = _drop_dependents(objects)
    return Operation(inverse.down, inverse.up)


def _view_notes(
    current: Schema, dropped: Iterable[str], plans: Mapping[str, TablePlan]
) -> list[Note]:
    notes = []
    names = [current.tables[k].name for k in dropped]
    for view, sql in current.views:
        if names and mentions(sql, names):
            notes.append(
                Note("warning", f"view {view} uses a table this migration drops; fix or drop it")
            )
    for key, plan in plans.items():
        if plan.rebuild_up:
            notes.append(Note("info", f"{current.tables[key].name} is rebuilt ({plan.reason})"))
    return notes


# -- foreign keys ---------------------------------------------------------------------------


def _references_any(tables: Iterable[str], *schemas: Schema) -> bool:
    """Does any table (itself included) reference one of ``tables`` in either schema?"""
    return any(schema.references_to(t) for t in tables for schema in schemas)


def _drop_needs_off(order: Sequence[str], schema: Schema) -> bool:
    """Dropping ``order`` one by one, is some table still referenced by a table that is
    not dropped before it (the engine refuses that with foreign keys on)?"""
    for i, key in enumerate(order):
        gone = set(order[:i]) | {key}
        if any(child.lower() not in gone for child, _fk in schema.references_to(key)):
            return True
    return False


def _key(columns: Iterable[str]) -> tuple[str, ...]:
    return tuple(c.lower() for c in columns)
