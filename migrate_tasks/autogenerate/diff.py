"""What differs between the schema the migrations build and the one the models describe.

Pure data in, pure data out: two ``reflect.Schema`` values (and the renames the user
declared, since a rename cannot be told from a drop and an add) give a list of
``Change`` objects, one line of the summary each. How each change becomes SQL is
render.py's business; which changes can lose data the lint rules decide, on the SQL
(generate.py).

Comparison rules (both sides are read by the same reflector, see reflect.py):

- types by their declared text (``VARCHAR(100)`` vs ``VARCHAR(200)`` is a change);
- NOT NULL is not compared on primary-key columns (SQLAlchemy always writes NOT NULL
  there; a hand-written ``id INTEGER PRIMARY KEY`` cannot hold NULL either);
- defaults, CHECKs and index definitions in canonical, case-folded form;
- a constraint's name counts only when the model gives one (an unnamed UNIQUE in the
  model matches a named one in the database with the same columns);
- names are compared exactly: SQLite finds ``Groups`` when asked for ``groups``, but
  every reader (``SELECT *`` keys, PRAGMAs, reflection) sees the stored spelling, so a
  table, column, index or constraint whose name differs only in case is renamed
  (references to a name, in expressions or ``REFERENCES``, compare case-insensitively).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from migrate_tasks.autogenerate.schema import Column, Schema, Table, column_key
from migrate_tasks.autogenerate.sqltext import quote
from migrate_tasks.errors import UsageError
from migrate_tasks.sql.lexer import unquote
from migrate_tasks.sql.normalise import canonical_tokens, join_tokens

T = TypeVar("T")

#: Changes to whole tables; the others are planned table by table (alter.py).
TABLE_KINDS = ("add_table", "drop_table", "rename_table")


@dataclass(frozen=True)
class Note:
    """A message for the user: ``warning`` (data loss), ``advice`` (PostgreSQL-isms),
    ``info`` (what generate decided for them). ``rule``: the lint rule behind a warning."""

    level: str
    message: str
    rule: str = ""


@dataclass(frozen=True)
class Change:
    """One detected difference. ``name``: the column, index or constraint it concerns;
    ``before``/``after``: the two sides in words; ``warning``: how it can lose data (the
    message of the lint rule that found it in the migration, ``rule`` its id)."""

    kind: str
    table: str
    name: str = ""
    before: str = ""
    after: str = ""
    warning: str = ""
    rule: str = ""
    #: The reflected object itself (Column, ForeignKey, Index, ...) for alter.py.
    item: object = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        where = f"{self.table}.{self.name}"
        text = {
            "add_table": f"+ table {self.table}",
            "drop_table": f"- table {self.table}",
            "rename_table": f"~ table {self.before} renamed to {self.after}",
            "add_column": f"+ column {where} {self.after}",
            "drop_column": f"- column {where}",
            "rename_column": f"~ column {self.table}.{self.before} renamed to {self.after}",
            "alter_type": f"~ column {where} type {self.before} -> {self.after}",
            "alter_nullable": f"~ column {where} {self.before} -> {self.after}",
            "alter_default": f"~ column {where} default {self.before} -> {self.after}",
            "alter_primary_key": f"~ primary key of {self.table} {self.before} -> {self.after}",
            "alter_options": f"~ table {self.table} options {self.before} -> {self.after}",
            "add_index": f"+ index {self.name} on {self.table}",
            "drop_index": f"- index {self.name} on {self.table}",
            "rename_index": f"~ index {self.before} on {self.table} renamed to {self.after}",
            "alter_index": f"~ index {self.name} on {self.table}: {self.after}",
        }.get(self.kind)
        if text is None:  # add_/drop_ unique, check, foreign_key
            sign = "+" if self.kind.startswith("add") else "-"
            what = self.kind.split("_", 1)[1].replace("_", " ")
            named = f" {self.name}" if self.name else ""
            text = f"{sign} {what}{named} on {self.table} {self.after or self.before}"
        return text


# -- renames --------------------------------------------------------------------------------

Renames = Mapping[str, Mapping[str, str]]


def resolve_renames(
    specs: Iterable[str], current: Schema, target: Schema
) -> dict[str, dict[str, str]]:
    """``--rename old:new`` / ``table.old:new`` -> {table: {old: new}} (lower-case keys,
    the model's spelling of ``new``). Refuses a rename that matches nothing, or more
    than one table."""
    found: dict[str, dict[str, str]] = {}
    for spec in specs:
        left, sep, new = spec.partition(":")
        table, dot, old = left.rpartition(".")
        if not sep or not old or not new or (dot and not table):
            raise UsageError(f"--rename {spec!r}: expected old:new or table.old:new (column names)")
        candidates = [
            key
            for key in (target.tables if not table else [table.lower()])
            if key in current.tables
            and key in target.tables
            and current.tables[key].column(old) is not None
            and target.tables[key].column(new) is not None
        ]
        if not candidates:
            where = f"table {table}" if table else "any table"
            raise UsageError(
                f"--rename {spec}: {where} has no column {old} in the migrations' schema"
                f" together with a column {new} in the models"
            )
        if len(candidates) > 1:
            names = ", ".join(target.tables[k].name for k in candidates)
            raise UsageError(f"--rename {spec}: tables {names} all fit; write TABLE.{old}:{new}")
        key = candidates[0]
        if target.tables[key].column(old) is not None:
            raise UsageError(
                f"--rename {spec}: the models still have a column {old} in"
                f" {target.tables[key].name}, so it is not a rename"
            )
        column = target.tables[key].column(new)
        assert column is not None
        found.setdefault(key, {})[old.lower()] = column.name
    return found


def with_case_renames(current: Schema, target: Schema, renames: Renames) -> Renames:
    """``renames`` plus every column whose name differs from the model's only in case
    (SQLite finds it either way; readers see the stored spelling, so it is renamed)."""
    out = {key: dict(mapping) for key, mapping in renames.items()}
    for key, table in target.tables.items():
        old = current.tables.get(key)
        own = out.get(key, {})
        taken = set(own) | {new.lower() for new in own.values()}
        for column in table.columns:
            was = old.column(column.name) if old is not None else None
            if was is not None and was.name != column.name and column.name.lower() not in taken:
                out.setdefault(key, {})[column.name.lower()] = column.name
    return out


def apply_renames(schema: Schema, renames: Renames) -> Schema:
    """``schema`` as it reads once the renamed columns carry their new names (the
    ``CREATE`` texts are kept as they are): what the diff compares with the models."""
    if not renames:
        return schema
    tables = {}
    for key, table in schema.tables.items():
        own = renames.get(key, {})
        fks = tuple(
            replace(fk, ref_columns=_renamed(fk.ref_columns, renames.get(fk.table.lower(), {})))
            for fk in table.foreign_keys
        )
        if own:
            table = replace(
                table,
                columns=tuple(
                    replace(c, name=own.get(c.name.lower(), c.name)) for c in table.columns
                ),
                primary_key=_renamed(table.primary_key, own),
                uniques=tuple(replace(u, columns=_renamed(u.columns, own)) for u in table.uniques),
                checks=tuple(replace(c, sql=_rename_in(c.sql, own)) for c in table.checks),
                indexes=tuple(replace(i, key=_rename_in(i.key, own)) for i in table.indexes),
                column_sql={own.get(k, k).lower(): v for k, v in table.column_sql.items()},
            )
            fks = tuple(replace(fk, columns=_renamed(fk.columns, own)) for fk in fks)
        tables[key] = replace(table, foreign_keys=fks)
    return replace(schema, tables=tables)


def _renamed(columns: Sequence[str], mapping: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(mapping.get(c.lower(), c) for c in columns)


def _rename_in(canonical: str, mapping: Mapping[str, str]) -> str:
    """Rename identifiers in a canonical, case-folded expression."""
    toks = canonical_tokens(canonical, fold_case=True)
    out = [
        t._replace(text=quote(mapping[unquote(t.text)].lower()))
        if t.kind == "ident" and unquote(t.text) in mapping
        else t
        for t in toks
    ]
    return join_tokens(out)


# -- the diff -------------------------------------------------------------------------------


def diff(current: Schema, target: Schema, renames: Renames | None = None) -> list[Change]:
    """Every difference from ``current`` (what the migrations build) to ``target`` (the
    models), in the order the summary lists them."""
    renames = with_case_renames(current, target, renames or {})
    renamed = apply_renames(current, renames)
    changes = [
        Change("rename_table", t.name, before=renamed.tables[k].name, after=t.name)
        for k, t in target.tables.items()
        if k in renamed.tables and renamed.tables[k].name != t.name
    ]
    changes += [
        Change("add_table", t.name) for k, t in target.tables.items() if k not in renamed.tables
    ]
    for key, table in target.tables.items():
        if key in renamed.tables:
            changes += table_changes(
                current.tables[key], renamed.tables[key], table, renames.get(key, {})
            )
    changes += [
        Change("drop_table", t.name) for k, t in renamed.tables.items() if k not in target.tables
    ]
    return changes


def table_changes(
    original: Table, current: Table, target: Table, renames: Mapping[str, str]
) -> list[Change]:
    """Differences within one table; ``current`` has the renames applied already."""
    name = target.name
    out = [
        Change("rename_column", name, new, before=_column_name(original, old), after=new)
        for old, new in renames.items()
    ]
    before = {c.name.lower(): c for c in current.columns}
    after = {c.name.lower(): c for c in target.columns}
    for key, col in after.items():
        if key not in before:
            out.append(Change("add_column", name, col.name, after=_describe_column(col), item=col))
    for key, col in before.items():
        if key not in after:
            out.append(
                Change(
                    "drop_column",
                    name,
                    col.name,
                    before=_describe_column(col),
                    item=col,
                )
            )
    pk = set(column_key(current.primary_key)) | set(column_key(target.primary_key))
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            continue
        if old.type != new.type:
            out.append(
                Change(
                    "alter_type", name, new.name, old.type or "(none)", new.type or "(none)"
                )
            )  # fmt: skip
        if old.notnull != new.notnull and key not in pk:
            out.append(
                Change("alter_nullable", name, new.name, _nullability(old), _nullability(new))
            )
        if old.default != new.default:
            out.append(
                Change(
                    "alter_default", name, new.name, old.default_sql or "(none)",
                    new.default_sql or "(none)",
                )
            )  # fmt: skip
    if column_key(current.primary_key) != column_key(target.primary_key):
        out.append(
            Change(
                "alter_primary_key", name, "", _columns(current.primary_key),
                _columns(target.primary_key),
            )
        )  # fmt: skip
    out += _constraint_changes(
        "unique", name, current.uniques, target.uniques,
        same=lambda c, t: column_key(c.columns) == column_key(t.columns) and _same_name(c.name, t.name),
        text=lambda u: _columns(u.columns), name_of=lambda u: u.name,
    )  # fmt: skip
    out += _constraint_changes(
        "check", name, current.checks, target.checks,
        same=lambda c, t: c.sql == t.sql and _same_name(c.name, t.name),
        text=lambda c: f"({c.sql})", name_of=lambda c: c.name,
    )  # fmt: skip
    out += _constraint_changes(
        "foreign_key", name, current.foreign_keys, target.foreign_keys,
        same=lambda c, t: (
            column_key(c.columns) == column_key(t.columns)
            and c.table.lower() == t.table.lower()
            and column_key(c.ref_columns) == column_key(t.ref_columns)
            and (c.on_delete, c.on_update) == (t.on_delete, t.on_update)
            and _same_name(c.name, t.name)
        ),
        text=lambda f: f.describe(), name_of=lambda f: f.name,
    )  # fmt: skip
    old_options = _options(current)
    new_options = _options(target)
    if old_options != new_options:
        out.append(Change("alter_options", name, "", old_options, new_options))
    out += _index_changes(current, target)
    return out


def _index_changes(current: Table, target: Table) -> list[Change]:
    name = target.name
    before = {i.name.lower(): i for i in current.indexes}
    after = {i.name.lower(): i for i in target.indexes}
    out = []
    for key, index in after.items():
        old = before.get(key)
        if old is None:
            out.append(Change("add_index", name, index.name, after=index.key, item=index))
        elif old.key != index.key:
            out.append(Change("alter_index", name, index.name, old.key, index.key, item=index))
        elif old.name != index.name:
            out.append(Change("rename_index", name, index.name, old.name, index.name, item=index))
    out += [
        Change("drop_index", name, i.name, before=i.key, item=i)
        for k, i in before.items()
        if k not in after
    ]
    return out


def _constraint_changes(
    kind: str,
    table: str,
    current: Sequence[T],
    target: Sequence[T],
    *,
    same: Callable[[T, T], bool],
    text: Callable[[T], str],
    name_of: Callable[[T], str | None],
) -> list[Change]:
    remaining = list(current)
    added = []
    for wanted in target:
        match = next((c for c in remaining if same(c, wanted)), None)
        if match is None:
            added.append(wanted)
        else:
            remaining.remove(match)
    return [
        Change(f"add_{kind}", table, name_of(a) or "", after=text(a), item=a) for a in added
    ] + [Change(f"drop_{kind}", table, name_of(r) or "", before=text(r), item=r) for r in remaining]


def _same_name(current: str | None, target: str | None) -> bool:
    return target is None or current == target


def _columns(columns: Sequence[str]) -> str:
    return f"({', '.join(columns)})"


def _column_name(table: Table, lower: str) -> str:
    column = table.column(lower)
    return column.name if column else lower


def _nullability(column: Column) -> str:
    return "NOT NULL" if column.notnull else "NULL"


def _describe_column(column: Column) -> str:
    text = column.type or "(no type)"
    if column.notnull:
        text += " NOT NULL"
    if column.default_sql is not None:
        text += f" DEFAULT {column.default_sql}"
    return text


def _options(table: Table) -> str:
    words = (["AUTOINCREMENT"] if table.autoincrement else []) + (
        [table.options] if table.options else []
    )
    return " ".join(words) or "(none)"
