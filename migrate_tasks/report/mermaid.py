"""A Mermaid ER diagram (``erDiagram``) of the tables a branch touches, for the review report.

The touched tables are drawn with their columns; the tables their foreign keys link them
to are drawn by name only, so a reviewer sees what a change can reach. One relationship
per foreign key between two drawn tables: the parent side ``||`` (``|o`` when the key's
columns may be NULL), the child side ``o{`` (``o|`` when the columns are unique in the
child); ``--`` when the key is part of the child's primary key (identifying), ``..``
otherwise; labelled with the child's columns.

Mermaid's grammar is narrower than SQLite's names, so every name is made safe:

- an entity whose name is not a plain word, or is one of Mermaid's keywords, gets a safe
  id and its real name as a label (``t_order_items["order items"]``);
- a column name or type keeps letters (any script), digits and ``_-()[].,*``; anything
  else becomes ``_``, and a changed column name is given in the attribute's comment;
- ``PK``, ``FK`` and ``UK`` are key markers to Mermaid, so such names get a ``_`` suffix;
- in labels and comments a ``"`` becomes ``'``, and ``%``, backslashes and control
  characters, which break Mermaid's strings, become ``_``.

tests/test_review.py runs every diagram it draws through Mermaid's own parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: presentation does not read databases
    from migrate_tasks.autogenerate.schema import ForeignKey, Schema, Table

__all__ = ["Diagram", "draw", "er_diagram"]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_CHARS = re.compile(r"[^A-Za-z0-9_\-()\[\].,*\u00c0-\uffff]")
_WORD_START = re.compile(r"[A-Za-z_*\u00c0-\uffff]")
_STRING_BREAKERS = re.compile(r"[%\\\x00-\x1f\x7f]")
#: Words Mermaid's ER lexer takes as syntax before it takes them as names.
_KEYWORDS = frozenset(
    {"erdiagram", "style", "classdef", "class", "subgraph", "end", "direction", "one", "many"}
    | {"only", "zero", "to", "optionally", "u", "acctitle", "accdescr", "pk", "fk", "uk"}
)
_KEY_MARKERS = frozenset({"PK", "FK", "UK"})


@dataclass(frozen=True)
class Diagram:
    """An ``erDiagram`` and what a size limit left out of it."""

    text: str  # "" when no table is left to draw
    left_out: tuple[str, ...] = ()  # touched tables over ``max_tables``, not drawn
    linked_left_out: tuple[str, ...] = ()  # linked tables over ``max_linked``, not drawn


def er_diagram(schema: Schema, touched: Iterable[str]) -> str:
    """The ``erDiagram`` text for the ``touched`` tables of ``schema`` (names as stored;
    tables not in ``schema``, e.g. dropped ones, are left out). Empty when none is left."""
    return draw(schema, touched).text


def draw(
    schema: Schema,
    touched: Iterable[str],
    *,
    max_tables: int | None = None,
    max_linked: int | None = None,
) -> Diagram:
    """``er_diagram`` for a big branch: at most ``max_tables`` touched tables (in name
    order) with their columns and ``max_linked`` others by name, saying which are left out."""
    tables = schema.tables
    drawn = sorted({t.lower() for t in touched if t.lower() in tables})
    left_out = drawn[max_tables:] if max_tables is not None else []
    drawn = drawn[: len(drawn) - len(left_out)]
    if not drawn:
        return Diagram("", _names(schema, left_out))
    linked: set[str] = set()
    for key in drawn:
        linked.update(fk.table.lower() for fk in tables[key].foreign_keys)
        linked.update(child.lower() for child, _fk in schema.references_to(key))
    linked = sorted(k for k in linked - set(drawn) - set(left_out) if k in tables)
    linked_out = linked[max_linked:] if max_linked is not None else []
    shown = sorted(set(drawn) | set(linked[: len(linked) - len(linked_out)]))
    return Diagram(
        _render(schema, shown, set(drawn)), _names(schema, left_out), _names(schema, linked_out)
    )


def _names(schema: Schema, keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(schema.tables[k].name for k in keys)


def _render(schema: Schema, shown: list[str], with_columns: set[str]) -> str:
    tables = schema.tables
    ids = _entity_ids([tables[k].name for k in shown])
    lines = ["erDiagram"]
    for key in shown:
        table = tables[key]
        lines += _entity(table, ids[table.name], with_columns=key in with_columns)
    relations = sorted(
        _relation(tables[key], fk, ids)
        for key in shown
        for fk in tables[key].foreign_keys
        if fk.table.lower() in shown
    )
    lines += relations
    return "\n".join(lines) + "\n"


def _entity_ids(names: list[str]) -> dict[str, str]:
    """A Mermaid-safe, unique id per table name."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        plain = _PLAIN.fullmatch(name) and name.lower() not in _KEYWORDS
        candidate = name if plain else "t_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        base, n = candidate, 2
        while candidate.lower() in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate.lower())
        ids[name] = candidate
    return ids


def _entity(table: Table, entity_id: str, *, with_columns: bool) -> list[str]:
    head = entity_id if entity_id == table.name else f'{entity_id}["{_string(table.name)}"]'
    if not with_columns:
        return [f"    {head}"]
    keys = _keys(table)
    lines = [f"    {head} {{"]
    for column in table.columns:
        name = _word(column.name)
        markers = ", ".join(keys.get(column.name.lower(), ()))
        comment = f' "{_string(column.name)}"' if name != column.name else ""
        lines.append(
            f"        {_type(column.type)} {name}{' ' + markers if markers else ''}{comment}"
        )
    lines.append("    }")
    return lines


def _keys(table: Table) -> dict[str, list[str]]:
    """Lower-case column name -> its markers, in Mermaid's order (PK, FK, UK)."""
    found: dict[str, list[str]] = {}
    for column in table.primary_key:
        found.setdefault(column.lower(), []).append("PK")
    for column in {c.lower() for fk in table.foreign_keys for c in fk.columns}:
        found.setdefault(column, []).append("FK")
    for unique in table.uniques:
        if len(unique.columns) == 1 and "PK" not in found.get(unique.columns[0].lower(), []):
            found.setdefault(unique.columns[0].lower(), []).append("UK")
    return {k: sorted(set(v), key=["PK", "FK", "UK"].index) for k, v in found.items()}


def _relation(child: Table, fk: ForeignKey, ids: dict[str, str]) -> str:
    parent_name = next(n for n in ids if n.lower() == fk.table.lower())
    columns = {c.lower() for c in fk.columns}
    nullable = any(
        (col := child.column(c)) is not None and not col.notnull and c.lower() not in
        {p.lower() for p in child.primary_key}
        for c in fk.columns
    )  # fmt: skip
    unique = columns == {c.lower() for c in child.primary_key} or any(
        columns == {c.lower() for c in u.columns} for u in child.uniques
    )
    identifying = bool(columns) and columns <= {c.lower() for c in child.primary_key}
    left = "|o" if nullable else "||"
    right = "o|" if unique else "o{"
    line = "--" if identifying else ".."
    label = _string(", ".join(fk.columns))
    return f'    {ids[parent_name]} {left}{line}{right} {ids[child.name]} : "{label}"'


def _type(declared: str) -> str:
    """``NUMERIC(10, 2)`` -> ``NUMERIC(10,2)``, ``DOUBLE PRECISION`` -> ``DOUBLE_PRECISION``;
    no type at all (SQLite allows it) -> ``ANY``."""
    return _word(re.sub(r",\s+", ",", declared)) or "ANY"


def _word(text: str) -> str:
    """A column name or type as one Mermaid attribute word."""
    word = _WORD_CHARS.sub("_", text)
    if word and not _WORD_START.match(word):
        word = "_" + word
    if word.upper() in _KEY_MARKERS:
        word += "_"
    return word


def _string(text: str) -> str:
    """Text for inside Mermaid's double quotes."""
    return _STRING_BREAKERS.sub("_", text.replace('"', "'"))
