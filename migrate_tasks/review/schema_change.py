"""The schema before and after a branch's migrations, table by table, as lines a reviewer reads.

Both schemas are built on scratch databases (``before_and_after``, with ``generate``'s
``current_schema``): no production access is needed, and one reader
(``autogenerate.reflect``) describes both sides, so a difference is a difference in the schema, never in how it was read.

Each table becomes a card of lines: its columns in order (name, declared type, NOT
NULL, DEFAULT as written), then its primary key, unique constraints, checks, foreign
keys and indexes, each on a line of its own. A table the branch touches is one whose
card differs; its lines are marked ``+`` (only after), ``-`` (only before) or `` ``
(both), in the order of a line diff, so a changed column shows as its old line and its
new one. Triggers are listed by name only and views, in ``view_changes``, by name and
kind of change (their text is in the migration).
"""

from __future__ import annotations

import contextlib
import difflib
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.autogenerate.generate import current_schema
from migrate_tasks.autogenerate.schema import Schema, Table
from migrate_tasks.config import defaults
from migrate_tasks.sql.normalise import normalise_sql

__all__ = [
    "Line", "TableChange", "ViewChange", "before_and_after", "table_card", "table_changes",
    "view_changes",
]  # fmt: skip

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class Line:
    """One line of a table's card: ``mark`` is "+", "-" or " "; ``part`` what it is."""

    mark: str
    part: str  # column | primary key | unique | check | foreign key | index | option | trigger
    text: str


@dataclass(frozen=True)
class TableChange:
    """A table the branch adds, removes or changes, with its card's lines."""

    name: str
    kind: str  # added | removed | changed
    lines: tuple[Line, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        """(part, "+" or "-") -> how many such lines: for a one-line summary."""
        found: dict[tuple[str, str], int] = {}
        for line in self.lines:
            if line.mark != " ":
                found[(line.part, line.mark)] = found.get((line.part, line.mark), 0) + 1
        return found


def table_card(table: Table) -> list[tuple[str, str]]:
    """The (part, text) lines that describe ``table``; equal cards, equal tables."""
    lines = [("column", _column(table, c.name)) for c in table.columns]
    if table.primary_key:
        pk = ", ".join(table.primary_key)
        auto = " AUTOINCREMENT" if table.autoincrement else ""
        lines.append(("primary key", f"PRIMARY KEY ({pk}){auto}"))
    lines += [("unique", f"UNIQUE ({', '.join(u.columns)})") for u in table.uniques]
    lines += [("check", f"CHECK ({c.sql})") for c in table.checks]
    lines += [("foreign key", f"FOREIGN KEY {fk.describe()}") for fk in table.foreign_keys]
    lines += [("index", _index(i.sql)) for i in sorted(table.indexes, key=lambda i: i.name)]
    lines += [("index", f"{name} (not managed)") for name, _ in table.unmanaged_indexes]
    if table.options:
        lines.append(("option", table.options))
    lines += [("trigger", f"TRIGGER {name}") for name, _ in sorted(table.triggers)]
    return lines


def _column(table: Table, name: str) -> str:
    column = table.column(name)
    assert column is not None
    text = f"{column.name} {column.type}".rstrip()
    if column.hidden in (2, 3):
        definition = table.column_sql.get(name.lower(), "")
        return definition or f"{text} GENERATED"
    if column.notnull:
        text += " NOT NULL"
    if column.default_sql is not None:
        text += f" DEFAULT {column.default_sql}"
    return text


def _index(sql: str) -> str:
    return normalise_sql(sql).removeprefix("CREATE ")


def table_changes(before: Schema, after: Schema) -> list[TableChange]:
    """Every table whose card differs, in name order (pure)."""
    changes = []
    for key in sorted(set(before.tables) | set(after.tables)):
        old, new = before.tables.get(key), after.tables.get(key)
        left = table_card(old) if old else []
        right = table_card(new) if new else []
        same = [_key(x) for x in left] == [_key(x) for x in right]
        if old is not None and new is not None and same and old.name == new.name:
            continue
        kind = ADDED if old is None else REMOVED if new is None else CHANGED
        name = (new or old).name  # type: ignore[union-attr]
        changes.append(TableChange(name, kind, tuple(_diff(left, right))))
    return changes


@dataclass(frozen=True)
class ViewChange:
    """A view the branch adds, removes or changes (its text is in the migration)."""

    name: str
    kind: str  # added | removed | changed


def view_changes(before: Schema, after: Schema) -> list[ViewChange]:
    """Every view whose definition differs, in name order (pure)."""
    old = {name.lower(): (name, normalise_sql(sql, fold_case=True)) for name, sql in before.views}
    new = {name.lower(): (name, normalise_sql(sql, fold_case=True)) for name, sql in after.views}
    changes = []
    for key in sorted(set(old) | set(new)):
        if key in old and key in new and old[key][1] == new[key][1]:
            continue
        kind = ADDED if key not in old else REMOVED if key not in new else CHANGED
        changes.append(ViewChange((new.get(key) or old[key])[0], kind))
    return changes


def _key(line: tuple[str, str]) -> tuple[str, str]:
    """What a card line means: keywords and names in one case, literals as written, so
    ``text ... stored`` in one migration and ``TEXT ... STORED`` in another are one line."""
    part, text = line
    return part, normalise_sql(text, fold_case=True)


def _diff(left: Sequence[tuple[str, str]], right: Sequence[tuple[str, str]]) -> Iterator[Line]:
    matcher = difflib.SequenceMatcher(
        a=[_key(x) for x in left], b=[_key(x) for x in right], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":  # shown as the branch has it
            yield from (Line(" ", part, text) for part, text in right[j1:j2])
            continue
        yield from (Line("-", part, text) for part, text in left[i1:i2])
        yield from (Line("+", part, text) for part, text in right[j1:j2])


@contextlib.contextmanager
def folder_of(files: Mapping[str, bytes]) -> Iterator[Path]:
    """A temporary migrations folder holding ``files`` (name -> bytes), removed after."""
    root = Path(tempfile.mkdtemp(prefix="migrate-review-"))
    try:
        for name, data in files.items():
            (root / name).write_bytes(data)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def before_and_after(
    before_files: Mapping[str, bytes], directory: Path, table: str = defaults.TABLE
) -> tuple[Schema, Schema]:
    """The schema of ``before_files`` (the base branch's migrations, name -> bytes) and of
    the folder as it is, each built on its own scratch database."""
    with folder_of(before_files) as folder:
        before = current_schema(folder, table)
    return before, current_schema(directory, table)
