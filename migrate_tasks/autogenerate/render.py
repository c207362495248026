"""Changes -> the SQL of a migration: an up section, and a down section that undoes it.

Pure: reflected schemas and changes in, statements out. The migration is built from
operations (``migration.py``), each with its own up statements and the down statements
that undo exactly those; the down section runs the operations' downs in reverse order.
So down restores the schema step by step, and every ``CREATE`` it needs is the one
stored in the scratch database, reused verbatim: after a round trip ``dump`` and
``verify`` see the same text.

Operation order in up: drop the views and triggers (of other tables) that mention a
table being rebuilt; create new tables, parents first; change existing tables, parents
first (``alter.py``: in place, or SQLite's table rebuild, ``rebuild.py``); drop removed
tables, children first; create those views and triggers again.

The foreign-key steps of SQLite's rebuild procedure are the engine's: a section that
rebuilds a table that any table references (itself included), or drops a table that is
still referenced, gets ``foreign_keys:off``, and the engine turns enforcement off around
the transaction and runs the foreign-key check before COMMIT (engine/checks.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from migrate_tasks.autogenerate.alter import TablePlan, plan_table
from migrate_tasks.autogenerate.diff import (
    TABLE_KINDS,
    Change,
    Note,
    Renames,
    apply_renames,
    with_case_renames,
)
from migrate_tasks.autogenerate.migration import Migration, Operation
from migrate_tasks.autogenerate.schema import Schema, Table, dependency_order
from migrate_tasks.autogenerate.sqltext import mentions, quote

RENAME_PREFIX = "_rename_"


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
        key: plan_table(
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
