"""Alembic's ``op`` for a revision kept as a Python migration (``import-alembic
--per-revision`` keeps a revision that transforms rows in Python as a ``.py`` migration:
its own ``upgrade()``/``downgrade()``, run through ``alembic_ops(db)``).

Inside the block, ``alembic.op`` is a real Alembic ``Operations`` whose connection is a
small stand-in for SQLAlchemy's ``Connection`` over ``db`` (also what
``op.get_bind()`` returns): ``execute(text(...) or a Core construct, params)`` and
``exec_driver_sql(sql, params)``, with results that fetch rows (tuples that also
answer to column names when the statement says them). Every schema operation Alembic
runs goes through the same stand-in: it compiles the construct for SQLite and sends it
through ``db``, in the revision's own order, inside the migration's transaction.
Operations that must read the database's definitions first (a batch rebuild reflecting
its table) are refused with a clear message: write that step as SQL.

Needs ``alembic`` and ``sqlalchemy`` (the ``[alembic]`` extra) where it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from migrate_tasks.errors import UsageError


@contextlib.contextmanager
def alembic_ops(db: Any) -> Iterator[Any]:
    """``alembic.op`` bound to ``db`` for the block (see the module docstring)."""
    try:
        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext
    except ImportError:
        raise UsageError(
            "this migration was imported from Alembic and runs its revision's code, which"
            " needs alembic and sqlalchemy: pip install 'migrate_tasks[alembic]'"
        ) from None
    from sqlalchemy.exc import NoInspectionAvailable

    bind = Bind(db)
    context = MigrationContext.configure(connection=bind)  # type: ignore[arg-type]
    try:
        with Operations.context(context) as op:
            yield op
    except NoInspectionAvailable:
        raise NotImplementedError(
            "this step reads the table's definition from the database (a batch operation"
            " that rebuilds the table), which a revision kept as a Python migration cannot"
            " do: write that step as SQL with db.execute(...) instead"
        ) from None


class Bind:
    """What ``op.get_bind()`` returns: enough of SQLAlchemy's ``Connection``."""

    def __init__(self, db: Any) -> None:
        self.db = db
        from sqlalchemy.dialects import sqlite

        self.dialect = sqlite.dialect(paramstyle="qmark")

    def execute(self, statement: Any, parameters: Any = None) -> Result:
        """A ``text()`` or Core construct (or a SQL string), with a dict of parameters
        or a list of dicts (run once per dict)."""
        from sqlalchemy import text

        if isinstance(statement, str):
            statement = text(statement)
        many = isinstance(parameters, Sequence) and not isinstance(parameters, (str, bytes))
        first = (parameters[0] if parameters else {}) if many else (parameters or {})
        compiled = self._compile(statement, list(first))
        keys = _keys(statement)
        if many:
            rows = [_positional(compiled, p) for p in parameters]
            self.db.executemany(str(compiled), rows)
            return Result([], keys)
        found = self.db.execute(str(compiled), _positional(compiled, first))
        return Result(found, keys)

    def _compile(self, statement: Any, column_keys: list[str]) -> Any:
        from sqlalchemy.schema import DDLElement

        if isinstance(statement, DDLElement):
            return statement.compile(dialect=self.dialect)
        # an insert()/update() without values() takes its columns from the parameters
        return statement.compile(dialect=self.dialect, column_keys=column_keys)

    def exec_driver_sql(self, sql: str, parameters: Sequence[Any] = ()) -> Result:
        """SQL as written, with ``?`` parameters."""
        return Result(self.db.execute(sql, tuple(parameters)), None)

    def begin_nested(self) -> contextlib.AbstractContextManager[None]:
        raise UsageError(
            "a revision imported as a Python migration runs in the migration's one"
            " transaction: begin(), begin_nested() and commit() are not available"
        )

    begin = commit = begin_nested


def _positional(compiled: Any, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
    """The compiled statement's parameters in ``?`` order, through its type processors."""
    values = compiled.construct_params(dict(parameters))
    processors = getattr(compiled, "_bind_processors", {}) or {}
    out = []
    for key in getattr(compiled, "positiontup", None) or ():
        value = values[key]
        processor = processors.get(key)
        out.append(processor(value) if processor is not None and value is not None else value)
    return tuple(out)


def _keys(statement: Any) -> list[str] | None:
    columns = getattr(statement, "selected_columns", None)
    if columns is None:
        return None
    try:
        return [str(getattr(c, "key", None) or getattr(c, "name", "")) for c in columns]
    except Exception:  # a construct that cannot say; rows stay plain tuples
        return None


class Row(tuple):  # type: ignore[type-arg]
    """A row: a tuple that also answers to its column names (``row.email``)."""

    _keys: Mapping[str, int] = MappingProxyType({})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._keys[name]]
        except KeyError:
            raise AttributeError(
                f"no column {name!r} in this row (a text() SELECT gives plain tuples: use"
                " row[0], or text(...).columns(...))"
            ) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return {k: self[i] for k, i in self._keys.items()}


class Result:
    """Rows already fetched, with SQLAlchemy's fetching methods."""

    def __init__(self, rows: list[tuple[Any, ...]], keys: list[str] | None) -> None:
        index = {k: i for i, k in enumerate(keys or [])}
        self._rows = [_row(r, index) for r in rows]
        self.rowcount = -1

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def fetchall(self) -> list[Row]:
        rows, self._rows = self._rows, []
        return rows

    all = fetchall

    def fetchone(self) -> Row | None:
        return self._rows.pop(0) if self._rows else None

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Row:
        if len(self._rows) != 1:
            raise UsageError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> _Items:
        return _Items(r[0] for r in self._rows)

    def mappings(self) -> _Items:
        return _Items(r._mapping for r in self._rows)


class _Items(list):  # type: ignore[type-arg]
    """``scalars()``/``mappings()``: a list that also has ``all()`` and ``first()``."""

    def all(self) -> list[Any]:
        return list(self)

    def first(self) -> Any:
        return self[0] if self else None


def _row(values: tuple[Any, ...], keys: dict[str, int]) -> Row:
    row = Row(values)
    row._keys = keys
    return row
