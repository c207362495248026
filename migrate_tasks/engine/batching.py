"""Many migrations per request, each still its own transaction (drivers that
``runs_groups``: sqld over HTTP).

The units that can share a request (``Unit.batchable``: their steps are known before
they run) go into as few ``Driver.run_groups`` calls as the driver's budgets allow
(``group_max_steps``, ``group_max_bytes``), one transaction per migration carrying
exactly what its own call would carry (``runner.unit_calls``: lease renewal, log row,
guarded tracking-row move, the statements with libSQL's checks, ``foreign_keys:off``
around it, closing rows), plus a check that we still hold the lease (part "lock"), so
nothing commits after the lease was lost. What a unit run on its own learns before it
starts (which tables reference the one it drops) is checked inside its transaction
instead, before each DROP TABLE (``single.DropChecks``), against the database as the
units before it in the same request left it.

A ``transaction:false`` unit shares the request as three groups: its opening rows (a
transaction), its statements each committing on its own (``Group.atomic`` False), its
closing rows. A unit that cannot share a request (a streamed file, a unit whose
statements come from running code, a ``transaction:false`` one that drops or alters:
``joins_batch``) ends the batch and runs on its own (``Runner.run``); batching resumes
after it.

What a failure leaves: a failing migration k rolls back, the ones before it in the
request committed, nothing after it ran; k gets its 'failed' log row (written on its
own, as ever) and the error names its file, line and statement. A request lost on the
way (cut connection, 5xx, timeout) may have committed any prefix of its migrations: we
read the tracking table back from the primary, in a transaction that first hands our
lease to a new owner name, so a request still running on the server cannot commit one
more migration after we looked (its next lock check fails), and we report exactly
which committed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Group, Step
from migrate_tasks.engine import unit_checks
from migrate_tasks.engine.batch import Batch, Spot
from migrate_tasks.engine.failures import conflict, log_failure
from migrate_tasks.engine.runner import (
    EACH_CHUNK,
    Runner,
    _lock_lost,
    _log_start,
    unit_calls,
    utc_now,
)
from migrate_tasks.engine.single import DropChecks, refused_drop
from migrate_tasks.engine.tracking import GUARD, LOCK_LOST, TRANSITIONS, Record
from migrate_tasks.engine.units import Calls, Result, Unit
from migrate_tasks.errors import (
    DatabaseError,
    LockLost,
    MigrateError,
    MigrationFailed,
    StatementError,
)

if TYPE_CHECKING:
    from migrate_tasks.engine.checks import GuardedStatements
    from migrate_tasks.engine.lock import MigrationLock

log = logging.getLogger("migrate_tasks")

#: Bytes of JSON around each step's SQL and parameters (the statement object and its
#: condition), for the byte budget.
STEP_OVERHEAD = 110
#: Steps a group adds around its own: BEGIN, COMMIT, ROLLBACK (two more for the
#: foreign_keys pragmas).
GROUP_STEPS = 3
_MAYBE = "; the request may or may not have been applied"


@dataclass
class Call:
    """One group of a unit: "atomic" (its transaction), or for ``transaction:false`` also
    "each" (the statements, each committing on its own) and "closing" (the closing rows)."""

    kind: str
    batch: Batch
    steps: list[Step]


@dataclass
class Member:
    """One unit's groups: their named parts and steps, and what maps a failure back."""

    unit: Unit
    calls: list[Call]
    guarded: GuardedStatements
    checks: DropChecks | None

    def groups(self) -> list[Group]:
        fk = self.unit.foreign_keys_off and self.unit.transaction
        return [Group(c.steps, foreign_keys_off=fk, atomic=c.kind != "each") for c in self.calls]

    @property
    def step_count(self) -> int:
        around = sum(GROUP_STEPS for c in self.calls if c.kind != "each")
        fk = self.unit.foreign_keys_off and self.unit.transaction
        return sum(len(c.steps) for c in self.calls) + around + 2 * fk

    @property
    def size(self) -> int:
        return sum(
            len(s.sql) + STEP_OVERHEAD + sum(len(str(p)) + 30 for p in s.params)
            for c in self.calls
            for s in c.steps
        )


def joins_batch(unit: Unit) -> bool:
    """Whether ``unit`` may share a request: ``Unit.batchable``, and for a
    ``transaction:false`` one, no DROP or ALTER (their reference check must come before
    any of its statements runs, from the database as the units before it left it) and no
    more statements than a unit run on its own sends at once."""
    if not unit.batchable:
        return False
    if unit.transaction:
        return True
    return not unit_checks.references_for(unit) and unit.statement_count <= EACH_CHUNK


class Batcher:
    """Runs a ``Runner``'s units in as few requests as the driver's budgets allow."""

    def __init__(self, runner: Runner, lock: MigrationLock | None) -> None:
        self.runner = runner
        self.driver = runner.driver
        self.lock = lock
        self.results: list[Result] = []

    def apply(self, units: Sequence[Unit]) -> list[Result]:
        """Run the units in order; the first failure is raised, carrying the results
        completed before it (as ``Runner.apply``)."""
        try:
            at = 0
            while at < len(units):
                unit = units[at]
                self.runner.place(at + 1, len(units))
                if not joins_batch(unit):  # on its own, as without batching
                    result, _rows, held = self.runner.run(unit, self.lock)
                    self.results.append(result)
                    if self.lock is not None and not held:
                        raise _lock_lost(self.lock, unit)
                    at += 1
                    continue
                members = self.fill(units, at)
                self.send(members, at + 1, len(units))
                at += len(members)
        except MigrateError as exc:
            exc.completed = list(self.results)
            raise
        return self.results

    def fill(self, units: Sequence[Unit], start: int) -> list[Member]:
        """The batchable units from ``start`` that fit in one request (at least one)."""
        max_steps, max_bytes = self.driver.group_max_steps, self.driver.group_max_bytes
        members: list[Member] = []
        steps = size = 0
        for unit in units[start:]:
            if not joins_batch(unit):
                break
            member = self.member(unit)
            steps, size = steps + member.step_count, size + member.size
            if members and (steps > max_steps or size > max_bytes):
                break
            members.append(member)
        return members

    def member(self, unit: Unit) -> Member:
        """The unit's groups: the lease check ("lock") then ``unit_calls``' parts; for
        ``transaction:false`` its statements and closing rows as groups of their own."""
        runner, lock = self.runner, self.lock
        guarded = unit_checks.guarded(unit, self.driver, runner.target, references=False)
        checks = DropChecks(guarded) if unit.transaction and not unit.foreign_keys_off else None
        renew = lock.renew_step() if lock is not None else None
        made = unit_calls(unit, runner.ledger, runner.actor, renew, checks or guarded)  # type: ignore[arg-type]
        opening = Batch()
        if lock is not None:
            opening.add("lock", [runner.ledger.lock_guard_step(lock.owner)])
        opening.extend(made.opening)
        calls = [Call("atomic", opening, opening.steps())]
        if made.statements is not None and made.closing is not None:
            calls.append(Call("each", made.statements, made.statements.steps()))
            calls.append(Call("closing", made.closing, made.closing.steps()))
        return Member(unit, calls, guarded, checks)

    def send(self, members: list[Member], first: int = 1, total: int = 0) -> None:
        """One request; record what committed, raise the failure that stopped it.
        ``first``: the first member's place in a run of ``total`` (for ``progress``)."""
        told = [self.runner.watch(m.unit, first + n, total) for n, m in enumerate(members)]
        for member, tell in zip(members, told, strict=True):
            _log_start(member.unit)
            if tell:
                tell.sent_whole()
        groups: list[Group] = []
        owners: list[tuple[Member, Call]] = []  # whose each group is
        ends: list[int] = []  # one past each member's last group
        for member in members:
            groups.extend(member.groups())
            owners.extend((member, call) for call in member.calls)
            ends.append(len(groups))
        started_wall, started = utc_now(), time.perf_counter()
        try:
            outcome = self.driver.run_groups(groups)
        except MigrateError as exc:  # the request itself failed: what did it commit?
            raise self.lost(members, exc) from None
        elapsed = (time.perf_counter() - started) * 1000
        share = elapsed / len(members)
        done = len(outcome.committed)
        for member, end, tell in zip(members, ends, told, strict=True):
            if end <= done:
                if tell:
                    tell.tell("done")
                self.results.append(_result(member.unit, share))
        if outcome.failure is not None:
            member, call = owners[done]
            raise self.failed(member, call, outcome.failure, started_wall, elapsed)

    def failed(
        self, member: Member, call: Call, exc: DatabaseError, started_wall: str, elapsed: float
    ) -> MigrateError:
        """Migration ``member`` failed in its group ``call``: the error in the user's
        terms, its 'failed' log row written (as a migration run on its own gets)."""
        unit, runner = member.unit, self.runner
        if call.kind == "closing" or (call.kind == "each" and not isinstance(exc, StatementError)):
            return exc  # its statements committed: told as the database says it
        if call.kind == "each":
            assert isinstance(exc, StatementError)
            spot = call.batch.locate(exc.index)
            failed: MigrateError = runner._failed(unit, exc, spot, member.guarded, partial=True)
        elif isinstance(exc, StatementError):
            failed = self.step_failed(member, call, exc)
            if not isinstance(failed, MigrationFailed):
                return failed  # the lease, or a refused DROP: nothing of it ran, no log row
        else:  # it could not begin or commit, or the server ended its transaction
            failed = MigrationFailed(
                unit.version, unit.path, None, None, exc.message, direction=unit.direction
            )
        if isinstance(failed, MigrationFailed):
            log_failure(
                runner.driver, runner.ledger, runner.actor, unit, started_wall, elapsed,
                failed.db_message,
            )  # fmt: skip
        return failed

    def step_failed(self, member: Member, call: Call, exc: StatementError) -> MigrateError:
        """A step of the unit's transaction failed: the lease check, the tracking-row
        move (another run got there first), a DROP's reference check, a statement."""
        unit, runner = member.unit, self.runner
        spot = call.batch.locate(exc.index)
        if spot.part == "lock":
            return _lock_failure(exc, unit)
        if spot.part == "move" and GUARD in exc.message:
            return conflict(unit)
        if spot.part == "statements" and member.checks is not None:
            inner, drop = member.checks.locate(spot.index)
            if drop:
                return refused_drop(unit, member.guarded, inner, exc, runner.ledger.table)
            spot = Spot("statements", inner)
        return runner._failed(unit, exc, spot, member.guarded, partial=False)

    def lost(self, members: list[Member], exc: MigrateError) -> MigrateError:
        """The request failed on its way: read back which of its migrations committed
        (a prefix of them), record those, and say exactly that."""
        try:
            records = self.read_back()
        except MigrateError as again:
            log.debug("could not read the migration history back: %s", again)
            return exc  # ``completed`` stays unknown: the message says to check
        after = TRANSITIONS[members[0].unit.direction][2]
        committed = [m.unit for m in members if _is(records.get(m.unit.version), after)]
        for unit in committed:
            record = records[unit.version]
            self.results.append(_result(unit, float(record.execution_ms or 0)))
        # transaction:false: its row says 'failed' from its start to its closing rows
        partway = [
            m.unit
            for m in members
            if not m.unit.transaction and _is(records.get(m.unit.version), "failed")
        ]
        rest = [m.unit for m in members if m.unit not in committed and m.unit not in partway]
        said = str(exc).split(_MAYBE)[0]
        note = (
            f"; read back from the database afterwards: of the {len(members)} migration(s)"
            f" that request carried, {len(committed)} committed ({_labels(committed)}) and"
            f" {len(rest)} did not ({_labels(rest)}), nothing of which was applied; "
        )
        if partway:
            note += (
                f"{_labels(partway)} (transaction:false) stopped part-way and is marked"
                " failed: check what it did, then repair it; "
            )
        note += "run the same command again to carry on"
        exc.args = (said + note,)
        if isinstance(exc, DatabaseError):
            exc.message = said + note
        exc.read_back = True
        return exc

    def read_back(self) -> dict[str, Record]:
        """The tracking rows, read in a transaction that first hands our lease to a new
        owner name, so that no group still guarded by the old one commits after it."""
        runner, lock = self.runner, self.lock
        batch = Batch()
        new_owner = None
        if lock is not None:
            new_owner = f"{lock.owner.rsplit(':', 1)[0]}:{uuid.uuid4().hex[:12]}"
            batch.add("handover", [runner.ledger.handover_step(lock.owner, new_owner)])
        batch.extend(runner.ledger.snapshot_batch())
        parts = batch.split(self.driver.run_atomic(batch.steps()))
        if lock is not None and new_owner is not None:
            lock.owner = new_owner
        return runner.ledger.parse_snapshot(parts).records


def _labels(units: Sequence[Unit]) -> str:
    return ", ".join(u.label for u in units) or "none"


def _is(record: Record | None, status: str) -> bool:
    return record is not None and record.status == status


def _result(unit: Unit, ms: float) -> Result:
    done = "applied" if unit.direction == "up" else "rolled back"
    log.info("%s %s in %.0f ms", done, unit.label, ms)
    return Result(unit.version, unit.name, unit.direction, unit.statement_count, ms)


def _lock_failure(exc: StatementError, unit: Unit) -> MigrateError:
    if LOCK_LOST in exc.message:
        return LockLost(
            f"lost the migration lock while running (its lease expired and another run"
            f" took it); stopped before {unit.label}, which was not run (the migrations"
            " before it completed). Raise lock_ttl above your longest migration"
        )
    return DatabaseError(f"the migration lock could not be checked: {exc.message}", exc.code)


def batched_calls(runner: Runner, units: Sequence[Unit], lock: MigrationLock) -> Calls:
    """``--dry-run`` for a driver that ``runs_groups``: each batchable unit's transaction
    as the batch carries it (lease check first, DROP reference checks inside), the
    others as a unit run on its own makes them. Reads nothing from the database."""
    from migrate_tasks.engine.preview import migration_calls, with_foreign_keys

    batcher = Batcher(runner, lock)
    calls: Calls = []
    for unit in units:
        if joins_batch(unit):
            member = batcher.member(unit)
            made: Calls = [
                (c.kind if c.kind == "each" else "atomic", c.steps) for c in member.calls
            ]
            calls.extend(with_foreign_keys(unit, made) if unit.transaction else made)
        else:
            calls.extend(migration_calls([unit], lock, runner.ledger, runner.actor))
    return calls
