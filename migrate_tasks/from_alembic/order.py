"""Alembic's batch mode, made to send the same SQL on every run (for ``import-alembic``).

A batch rebuild reflects the table, then copies its constraints and indexes to the new
table in the iteration order of SQLAlchemy's ``Table.constraints`` and ``Table.indexes``:
sets of objects hashed by address. So the order of the FOREIGN KEY and UNIQUE clauses of
``CREATE TABLE _alembic_tmp_x``, and of the ``CREATE INDEX`` statements after it, changes
from one run to the next, and with it the files an import writes (both modes: the head
schema is read back from the tables those rebuilds made). SQLite gives the order no
meaning, but an import must write the same bytes every time. While ``ordered_batch`` is
active, a rebuild copies constraints in the order SQLAlchemy itself renders a table's
constraints (creation order: reflection order for a reflected table, declaration order
for ``copy_from``), and indexes by name. Nothing else about the rebuild changes.

Alembic keeps these elements in private attributes of ``ApplyBatchImpl``; an Alembic
that names them differently is left alone (``tests/test_import_alembic.py`` then fails
its determinism test rather than the import failing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["ordered_batch"]


def _created(constraint: Any) -> int:
    return int(getattr(constraint, "_creation_order", 0))


def _sort_dict(mapping: dict[Any, Any], key: Any) -> None:
    items = sorted(mapping.items(), key=key)
    mapping.clear()
    mapping.update(items)


def _put_in_order(impl: Any) -> None:
    named = getattr(impl, "named_constraints", None)
    if isinstance(named, dict):
        _sort_dict(named, lambda item: _created(item[1]))
    unnamed = getattr(impl, "unnamed_constraints", None)
    if isinstance(unnamed, list):
        unnamed.sort(key=_created)
    indexes = getattr(impl, "indexes", None)
    if isinstance(indexes, dict):
        _sort_dict(indexes, lambda item: str(item[0]))


@contextlib.contextmanager
def ordered_batch() -> Iterator[None]:
    """Within this block, Alembic's batch rebuilds copy constraints and indexes in a fixed
    order (see the module docstring)."""
    from alembic.operations import batch

    cls = getattr(batch, "ApplyBatchImpl", None)
    original = getattr(cls, "__dict__", {}).get("_grab_table_elements")
    if original is None:
        yield
        return

    def grab_table_elements(self: Any) -> None:
        original(self)
        _put_in_order(self)

    cls._grab_table_elements = grab_table_elements  # type: ignore[union-attr]
    try:
        yield
    finally:
        cls._grab_table_elements = original  # type: ignore[union-attr]
