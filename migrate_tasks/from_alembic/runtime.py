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
from collections.abc import Callable, Iterator, Mapping, Sequence
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
            "this step inspects the database's schema (sa.inspect(bind), create_all, or"
            " a batch operation that rebuilds a table), which a revision kept as a Python"
            " migration cannot do: write that step as SQL with db.execute(...) instead"
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
        sql, params = str(compiled), _positional(compiled, first)
        found = self.db.execute(sql, params)
        return Result(found, keys, lambda: column_names(self.db, sql, len(params)))

    def _compile(self, statement: Any, column_keys: list[str]) -> Any:
        from sqlalchemy.schema import DDLElement

        if isinstance(statement, DDLElement):
            return statement.compile(dialect=self.dialect)
        # an insert()/update() without values() takes its columns from the parameters
        return statement.compile(dialect=self.dialect, column_keys=column_keys)

    def exec_driver_sql(self, sql: str, parameters: Sequence[Any] = ()) -> Result:
        """SQL as written, with ``?`` parameters."""
        params = tuple(parameters)
        found = self.db.execute(sql, params)
        return Result(found, None, lambda: column_names(self.db, sql, len(params)))

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

    _result: Result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_result":
            raise AttributeError(name)
        index = self._result.key_index().get(name)
        if index is None:
            raise AttributeError(f"no column {name!r} in this row") from None
        return self[index]

    @property
    def _mapping(self) -> dict[str, Any]:
        return {k: self[i] for k, i in self._result.key_index().items()}

    def _asdict(self) -> dict[str, Any]:
        return self._mapping


class Result:
    """Rows already fetched, with SQLAlchemy's fetching methods. Column names come from
    the statement, or (for ``text()``) from ``resolve`` when first asked for."""

    def __init__(
        self,
        rows: list[tuple[Any, ...]],
        keys: list[str] | None,
        resolve: Callable[[], list[str] | None] | None = None,
    ) -> None:
        self._index = None if keys is None else {k: i for i, k in enumerate(keys)}
        self._resolve = resolve
        self._rows = [_row(r, self) for r in rows]
        self.rowcount = -1

    def key_index(self) -> Mapping[str, int]:
        if self._index is None:
            names = self._resolve() if self._resolve is not None else None
            self._index = {k: i for i, k in enumerate(names or [])}
        return self._index

    def keys(self) -> list[str]:
        return list(self.key_index())

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

    def one_or_none(self) -> Row | None:
        if len(self._rows) > 1:
            raise UsageError(f"expected at most one row, got {len(self._rows)}")
        return self.first()

    def one(self) -> Row:
        if len(self._rows) != 1:
            raise UsageError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

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


def _row(values: tuple[Any, ...], result: Result) -> Row:
    row = Row(values)
    row._result = result
    return row


def column_names(db: Any, sql: str, count: int) -> list[str] | None:
    """The result columns of ``sql`` (a ``text()`` SELECT), as SQLite names them: the
    database's schema is copied into an in-memory SQLite and the statement run there on
    its empty tables (one read of the schema; nothing runs on the database itself)."""
    import sqlite3

    schema = db.query(
        "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY rowid"
    )
    scratch = sqlite3.connect(":memory:")
    try:
        for (ddl,) in schema:
            with contextlib.suppress(sqlite3.Error):  # libSQL-only objects: not needed
                scratch.execute(ddl)
        cursor = scratch.execute(sql, (None,) * count)
        return [d[0] for d in cursor.description] if cursor.description else None
    except sqlite3.Error:
        return None
    finally:
        scratch.close()
