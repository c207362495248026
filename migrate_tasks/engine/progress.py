"""Progress of a long run, as events for whoever shows them: the engine never prints.

A run of many migrations, a streamed data file of hundreds of megabytes or a slow server
can take minutes. ``RunOptions.progress`` is called when a migration starts, every
``EVERY`` statements as they are handed to the driver (a streamed file is sent as it is
read, so this is how far the upload got), and when the migration has committed. The
task layer decides whether anything is shown (``report.progress``: on a terminal only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Step

if TYPE_CHECKING:
    from migrate_tasks.engine.units import Unit

__all__ = ["EVERY", "Progress", "ProgressEvent", "UnitProgress"]

#: A "statements" event every this many statements handed to the driver.
EVERY = 500


@dataclass(frozen=True)
class ProgressEvent:
    """Where a run is. ``kind``: "start" (a migration begins), "statements" (some of its
    statements went out) or "done" (it committed)."""

    kind: str
    index: int  # 1-based: the migration's place in the run
    total: int  # migrations in the run
    label: str  # version_name (direction)
    statements: int = 0  # handed to the driver so far, in this migration
    statements_total: int | None = None
    sql_bytes: int = 0  # bytes of SQL handed to the driver so far
    file_bytes: int | None = None  # the migration file's size (streamed files)


Progress = Callable[[ProgressEvent], None]


class UnitProgress:
    """Tells ``progress`` about one unit, the ``index``-th of ``total`` in its run."""

    def __init__(self, progress: Progress, unit: Unit, index: int, total: int) -> None:
        self.progress = progress
        self.place = (index, total)
        self.statements = unit.section.statements if unit.section is not None else ()
        self.label = f"{unit.label} ({unit.direction})"
        self.expected = unit.statement_count or None
        self.file_bytes: int | None = None
        if unit.streamed and unit.file is not None:
            with contextlib.suppress(OSError):
                self.file_bytes = unit.file.stat().st_size

    def tell(self, kind: str, statements: int = 0, sql_bytes: int = 0) -> None:
        event = ProgressEvent(
            kind, *self.place, self.label, statements, self.expected, sql_bytes, self.file_bytes
        )
        self.progress(event)

    def sent_whole(self) -> None:
        """ "start", then all its statements at once: the unit goes out in one request
        with others (``engine.batching``), so nothing can be told in between."""
        self.tell("start")
        size = sum(len(s.sql.encode("utf-8")) + 1 for s in self.statements)
        self.tell("statements", len(self.statements), size)

    def counted(
        self,
        steps: Iterable[Step],
        added: Callable[[int], bool] = lambda index: False,
        every: int = EVERY,
    ) -> Iterator[Step]:
        """``steps`` unchanged, telling "start" when the driver asks for the first, and
        "statements" every ``every`` statements and after the last, as the driver takes
        them. Steps for which ``added(index)`` holds (checks the engine adds) are not the
        file's statements, so they are not counted."""
        self.tell("start")
        count = size = 0
        for index, step in enumerate(steps):
            if added(index):
                yield step
                continue
            count += 1
            size += len(step.sql.encode("utf-8")) + 1
            yield step
            if count % every == 0:
                self.tell("statements", count, size)
        if count % every:
            self.tell("statements", count, size)
