"""The engine's values: a migration ready to run (``Unit``), what running it did
(``Result``, ``Outcome``), how a writing task wants it done (``RunOptions``), and who
does it (``current_actor``)."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from migrate_tasks.config import defaults
from migrate_tasks.drivers.base import Step
from migrate_tasks.engine.tracking import Actor
from migrate_tasks.errors import UsageError

if TYPE_CHECKING:
    from migrate_tasks.engine.progress import Progress
    from migrate_tasks.files.parser import Section, Statement
    from migrate_tasks.files.stream import SectionInfo

#: The driver calls an operation makes, in order, as (kind, steps): "atomic" (one
#: transaction), "each" (every step commits on its own) or "connection" (on the unit's
#: own connection, outside any transaction: the foreign_keys pragmas). What --dry-run
#: prints.
Calls = list[tuple[str, Iterable[Step]]]


@dataclass(frozen=True)
class Unit:
    """One migration in one direction, parsed and ready to run."""

    version: str
    name: str
    path: str
    checksum: str
    direction: str
    #: The parsed section; None for a file too big to hold, which is streamed instead.
    section: Section | None
    info: SectionInfo | None = None
    file: Path | None = None
    #: A migration written in Python: ``up``/``down`` of this loaded module
    #: (``engine.python_units`` runs it); ``section`` is None.
    python: ModuleType | None = None

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    @property
    def streamed(self) -> bool:
        return self.section is None and self.python is None

    @property
    def runs_lazily(self) -> bool:
        """A streamed file in one transaction: its steps are produced as the driver
        sends them (``run_atomic_iter``), so no rows come back from its call."""
        return self.streamed and self.transaction

    @property
    def batchable(self) -> bool:
        """Its steps are all known before it runs: it may share a request with other
        units (``engine.batching``, which has its own rules for ``transaction:false``).
        Not a streamed file, nor a Python migration (it decides what to run from what it
        reads, in an interactive transaction of its own, ``engine.python_units``)."""
        return self.section is not None and self.python is None

    @property
    def transaction(self) -> bool:
        if self.section is not None:
            return self.section.transaction
        return self.info is None or self.info.transaction

    @property
    def options(self) -> Mapping[str, str]:
        source = self.section if self.section is not None else self.info
        return source.options if source is not None else {}

    @property
    def header_line(self) -> int | None:
        source = self.section if self.section is not None else self.info
        return source.line if source is not None else None

    @property
    def foreign_keys_off(self) -> bool:
        """``foreign_keys:off``: run with foreign keys off, check them before COMMIT."""
        return self.options.get("foreign_keys") == "off"

    @property
    def statement_count(self) -> int:
        if self.section is not None:
            return len(self.section.statements)
        return self.info.statement_count if self.info else 0

    def statements(self) -> Iterator[Statement]:
        """The section's statements; a big file is read again, lazily, and checked."""
        if self.section is not None:
            return iter(self.section.statements)
        if self.python is not None:  # known only when it runs
            return iter(())
        from migrate_tasks.files.stream import iter_statements

        assert self.file is not None
        return iter_statements(
            self.file,
            self.path,
            self.direction,
            checksum=self.checksum,
            index=self.info.index if self.info is not None else None,
        )


@dataclass(frozen=True)
class Result:
    """One migration that completed: how many statements ran, and how long it took."""

    version: str
    name: str
    direction: str
    statements: int
    duration_ms: float


@dataclass
class Outcome:
    """What a writing operation did (or, for a dry run, would send)."""

    direction: str
    units: list[Unit] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calls: Calls | None = None  # dry run only


@dataclass(frozen=True)
class RunOptions:
    """How a writing task wants the lock, confirmation and dry run handled."""

    dry_run: bool = False
    lock_timeout: float = float(defaults.LOCK_TIMEOUT_S)
    lock_ttl: int = defaults.LOCK_TTL_S
    #: Called with a description of what is about to change; False aborts. None: no asking.
    confirm: Callable[[str], bool] | None = None
    #: Called as migrations start, send their statements and commit (engine.progress).
    progress: Progress | None = None

    def confirm_or_abort(self, what: str) -> None:
        """Ask ``confirm`` (if set) before ``what`` changes anything; a no raises exit 2.

        The one place every writing operation asks, so the question and the abort read
        the same for up, down, repair, unlock, baseline, adopt-dbmate and a fleet.
        """
        if self.confirm is not None and not self.confirm(what):
            raise UsageError("aborted: nothing was changed")


def current_actor() -> Actor:
    """Who runs this process, for the audit log and the lock's lease."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return Actor(user=user, host=socket.gethostname(), pid=os.getpid())
