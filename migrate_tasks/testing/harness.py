"""``MigrationHarness``: a Migrator bound to a test's throw-away database, with the steps
a data-migration test takes (apply up to a version, insert rows, apply the next one,
read the rows back).

It is a ``Migrator``: ``status()``, ``up()``, ``down()``, ``verify()``... work as
documented in docs/python-api.md; ``down`` needs no confirmation (the database is the
test's own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from migrate_tasks.api import Confirm, Migrator, Run

if TYPE_CHECKING:
    from migrate_tasks.engine.progress import Progress

__all__ = ["MigrationHarness"]


def _quoted(name: str) -> str:
    """An identifier as SQL text: double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


class MigrationHarness(Migrator):
    """A Migrator on one test's database, plus helpers for data-migration tests."""

    @property
    def url(self) -> str:
        """The database URL (a local file path, or a sqld namespace's URL)."""
        return self.settings.url

    def versions(self) -> list[str]:
        """Every migration version in the folder, oldest first."""
        return [row.version for row in self.status().migrations]

    def applied(self) -> list[str]:
        """Versions applied on this database, oldest first."""
        return [row.version for row in self.status().applied]

    def up_to(self, version: str) -> Run:
        """Apply every pending migration up to and including ``version``."""
        return self.up(to=version)

    def up_next(self) -> Run:
        """Apply the next pending migration only."""
        return self.up(step=1)

    def down(
        self,
        step: int | None = None,
        to: str | None = None,
        *,
        all: bool = False,
        dry_run: bool = False,
        yes: bool = True,
        confirm: Confirm | None = None,
        progress: Progress | None = None,
    ) -> Run:
        """As ``Migrator.down``, without asking: the database is the test's own."""
        return super().down(
            step, to, all=all, dry_run=dry_run, yes=yes, confirm=confirm, progress=progress
        )

    def insert(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` (dicts of column -> value) into ``table`` in one transaction;
        returns how many. Values are bound parameters; names are quoted."""
        from migrate_tasks.drivers.base import Step

        steps = []
        for row in rows:
            columns = ", ".join(_quoted(c) for c in row)
            marks = ", ".join("?" for _ in row)
            sql = f"INSERT INTO {_quoted(table)} ({columns}) VALUES ({marks})"
            steps.append(Step(sql, tuple(row.values())))
        if steps:
            self._connect().run_atomic(steps)
        return len(steps)

    def rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        """Every row of ``table`` as a dict (column -> value), in ``order_by`` column
        order, else by rowid."""
        names = [str(r[1]) for r in self.query(f"PRAGMA table_info({_quoted(table)})")]
        if not names:
            raise LookupError(f"no table {table!r} in {self.target}")
        order = _quoted(order_by) if order_by else "rowid"
        select = ", ".join(_quoted(n) for n in names)
        found = self.query(f"SELECT {select} FROM {_quoted(table)} ORDER BY {order}")
        return [dict(zip(names, row, strict=True)) for row in found]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None without rows)."""
        found = self.query(sql, params)
        return found[0][0] if found else None
