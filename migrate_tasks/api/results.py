"""What the Python API's calls return: plain, typed values, never printed.

The engine's own values (``StatusRow``, ``Problem``, ``Result``, ``Outcome``,
``VerifyResult``, ``DumpOutcome``, ``BaselineOutcome``, ``Generated``) are re-exported
as they are; the classes here add the database they came from and the questions an
application asks of them (``pending``, ``ok``, ``applied``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate_tasks.autogenerate.generate import Generated
    from migrate_tasks.engine.plan import Problem, StatusRow
    from migrate_tasks.engine.tracking import Holder
    from migrate_tasks.engine.units import Calls, Outcome, Result, Unit

__all__ = ["GeneratedMigration", "Repair", "Run", "Status", "Unlock", "Validation"]


@dataclass(frozen=True)
class Status:
    """Every migration and its state (``migrate.status``), oldest first."""

    target: str
    migrations: list[StatusRow]
    #: Whether the server is a read replica (its answer may lag); None: could not tell.
    replica: bool | None = False

    @property
    def pending(self) -> list[StatusRow]:
        """Migrations ``up`` would apply: never applied, or rolled back."""
        return [r for r in self.migrations if r.state in ("pending", "rolled_back")]

    @property
    def applied(self) -> list[StatusRow]:
        return [r for r in self.migrations if r.state == "applied"]

    @property
    def problems(self) -> list[str]:
        """``VERSION_name: state`` of every migration that needs attention
        (what ``status --check`` exits 3 for)."""
        from migrate_tasks.engine.plan import PROBLEM_STATES

        rows = self.migrations
        return [f"{r.version}_{r.name}: {r.state}" for r in rows if r.state in PROBLEM_STATES]

    @property
    def up_to_date(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Validation:
    """Everything ``validate`` found: problems (each ``kind``, ``version``, ``message``)
    and warnings that are no problem (a deliberately empty up section)."""

    target: str
    problems: list[Problem]
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Run:
    """What ``up`` or ``down`` did (or, with ``dry_run``, would send)."""

    target: str
    outcome: Outcome
    dry_run: bool = False

    @property
    def direction(self) -> str:
        return self.outcome.direction

    @property
    def results(self) -> list[Result]:
        """The migrations that completed, in order: version, name, direction, how many
        statements ran, and how long each took (``duration_ms``)."""
        return self.outcome.results

    @property
    def planned(self) -> list[Unit]:
        """The migrations the run chose (under the lock), whether or not they ran."""
        return self.outcome.units

    @property
    def versions(self) -> list[str]:
        """Versions that completed (planned ones for a dry run)."""
        if self.dry_run:
            return [u.version for u in self.outcome.units]
        return [r.version for r in self.outcome.results]

    @property
    def warnings(self) -> list[str]:
        return self.outcome.warnings

    @property
    def calls(self) -> Calls | None:
        """Dry run only: every driver call a real run would make, as (kind, steps)."""
        return self.outcome.calls

    @property
    def duration_ms(self) -> float:
        return sum(r.duration_ms for r in self.outcome.results)


@dataclass(frozen=True)
class GeneratedMigration:
    """What ``generate`` found and, unless told not to, wrote."""

    generated: Generated
    #: The file written; None for a dry run, a check, or when nothing differs.
    path: Path | None = None
    #: A file already in the folder with a version at or after the new one's (the new
    #: migration would not sort last); None when the order is right.
    later_file: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.generated.up_to_date

    @property
    def text(self) -> str:
        return self.generated.text


@dataclass(frozen=True)
class Repair:
    """What ``repair`` recorded (or, with ``dry_run``, would send)."""

    target: str
    version: str
    #: The state recorded: "applied" or "rolled_back".
    state: str
    #: Dry run only: the driver calls a real repair would make, as (kind, steps).
    calls: Calls | None = None


@dataclass(frozen=True)
class Unlock:
    """What ``unlock`` found and released (or, with ``dry_run``, would release)."""

    target: str
    #: Who held the lock; None when nobody did (then nothing was sent).
    holder: Holder | None
    #: Dry run only: the driver calls a real unlock would make, as (kind, steps).
    calls: Calls | None = None

    @property
    def released(self) -> bool:
        """Whether a lock was released (not for a dry run, nor when none was held)."""
        return self.holder is not None and self.calls is None
