"""One existing table's changes: in place with ``ALTER TABLE`` where SQLite allows it,
else a rebuild (``rebuild.py``).

In place means ``RENAME COLUMN``; ``ADD COLUMN`` of a column that is not part of a key,
has a constant default and is NOT NULL only with a default; ``DROP COLUMN`` of a column
no key, index or CHECK uses; and indexes dropped and created. Down undoes each step, but
restores a dropped column with a rebuild: ``ADD COLUMN`` would move it to the end of the
table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from migrate_tasks.autogenerate.diff import Change
from migrate_tasks.autogenerate.migration import Operation
from migrate_tasks.autogenerate.rebuild import rebuild_back, rebuild_operation
from migrate_tasks.autogenerate.schema import Column, ForeignKey, Schema, Table, column_key
from migrate_tasks.autogenerate.sqltext import mentions, quote

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


@dataclass
class TablePlan:
    """How one table changes: whether up and down rebuild it, and the statements."""

    rebuild_up: bool
    rebuild_down: bool
    operation: Operation
    #: Why the table is rebuilt (the first change that needs it), for the summary.
    reason: str = ""


def plan_table(
    original: Table,
    renamed: Schema,
    target: Table,
    changes: Sequence[Change],
    renames: Mapping[str, str],
) -> TablePlan:
    """How ``original`` becomes ``target``: in place when every change allows it (a new
    column may take its new foreign key along as ``REFERENCES``), else rebuilt.
    ``renamed``: the current schema with the column renames made; ``renames``: this
    table's, a lower-case old name -> its new name."""
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
            True, True, rebuild_operation(original, target, renames), reason.describe()
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
        or key in column_key(target.primary_key)
        or any(key in column_key(u.columns) for u in target.uniques)
        or (default is not None and default.upper() in _TIME_DEFAULTS)
        or (column.default_sql or "").strip().startswith("(")
        or (column.notnull and (default is None or default.upper() == "NULL"))
    ):
        return False, None
    fks = [fk for fk in new_fks if isinstance(fk, ForeignKey) and key in column_key(fk.columns)]
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
        or key in column_key(current.primary_key)
        or any(key in column_key(u.columns) for u in current.uniques)
        or any(key in column_key(fk.columns) for fk in current.foreign_keys)
        or any(mentions(ch.sql, [key]) for ch in current.checks)
        or any(
            key in column_key(fk.ref_columns) for _child, fk in renamed.references_to(current.name)
        )
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
        down = rebuild_back(original, target, renames)
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
