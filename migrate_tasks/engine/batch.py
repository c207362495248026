"""Steps sent in one driver call, collected under names: rows and failures come back by name.

Every write of the tool is one driver call carrying several things at once (the lock's
attempt also creates the tracking tables and reads the history; a migration's unit
renews the lease, opens its log row, moves its tracking row, runs its statements,
closes the rows, and reads what the next unit needs). A ``Batch`` remembers which
steps belong to which part, so the caller asks for ``rows["history"]`` and a failure
at step 7 reads as ``("statements", 3)`` instead of arithmetic on list positions.

Parts are produced lazily, in order, only when the batch is iterated (by the driver):
a streamed migration's statements are never held in memory, and where each part
starts is recorded as its first step goes out. Iterate a batch once.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

from migrate_tasks.drivers.base import Step

#: A part's name: a word ("take", "history"), or a (word, unit number) pair when one
#: batch holds many migrations (--single-transaction).
Name = Hashable
T = TypeVar("T")


class Spot(NamedTuple):
    """Where a step is: its part, and its index within that part."""

    part: Name
    index: int


class Batch:
    """Named parts of steps for one driver call; see the module docstring."""

    def __init__(self) -> None:
        self._parts: list[tuple[Name, Iterable[Step]]] = []
        self._names: set[Name] = set()  # a set: 2,000 migrations in one batch stay linear
        self._starts: list[int] = []  # first step index of each produced part
        self._produced: list[Name] = []  # names of the parts produced, in order
        self._ends: dict[Name, tuple[int, int]] = {}  # name -> (start, end) once complete
        self._count = 0

    def add(self, name: Name, steps: Iterable[Step]) -> Batch:
        """Append a part (produced only when the batch is iterated)."""
        if name in self._names:
            raise ValueError(f"a batch has one part named {name!r}")
        self._names.add(name)
        self._parts.append((name, steps))
        return self

    def extend(self, other: Batch | None) -> Batch:
        """Append every part of ``other`` (not yet produced) under its own name."""
        for name, steps in other._parts if other is not None else ():
            self.add(name, steps)
        return self

    def names(self) -> list[Name]:
        return [name for name, _ in self._parts]

    def __iter__(self) -> Iterator[Step]:
        for name, steps in self._parts:
            start = self._count
            self._starts.append(start)
            self._produced.append(name)
            for step in steps:
                yield step
                self._count += 1
            self._ends[name] = (start, self._count)

    def steps(self) -> list[Step]:
        """Every step, produced now (for a driver call that takes a list)."""
        return list(self)

    def split(self, rows: Sequence[T]) -> dict[Name, list[T]]:
        """The driver's answer (one item per step) as each part's items, by name."""
        return {name: list(rows[start:end]) for name, (start, end) in self._ends.items()}

    def locate(self, index: int) -> Spot:
        """Step ``index`` of the call -> its part, and its index within the part."""
        # the last part starting at or before index: an empty part is followed by one
        # with the same start, which wins
        at = bisect.bisect_right(self._starts, index) - 1
        if at < 0:
            raise IndexError(f"step {index} is before the first part")
        return Spot(self._produced[at], index - self._starts[at])

    def current(self) -> Name | None:
        """The part being produced (or last produced): where an exception raised by a
        producer, not by the database, belongs."""
        return self._produced[-1] if self._produced else None
