"""The rows every operation writes into the tracking tables, inside its own unit.

A migration's unit opens its log row and moves its tracking row first (the move is the
exactly-once guard, see ``tracking``), and closes both last; a failure is logged on its
own after the unit rolled back; ``repair``, ``baseline`` and ``adopt-dbmate`` record
rows with an audit entry. Timestamps and durations come from the database's clock.
``Ledger`` (``tracking``) has these methods; the table names are its.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate_tasks.drivers.base import Step

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
ELAPSED_MS = "CAST(round((julianday('now') - julianday(started_at)) * 86400000) AS INTEGER)"

# (action) -> (states the row may be in before, state while running, state after)
TRANSITIONS = {
    "up": (("rolled_back",), "applied", "applied"),
    "down": (("applied",), "rolled_back", "rolled_back"),
}


@dataclass(frozen=True)
class Actor:
    """Who runs the operation, for the audit log and the lock."""

    user: str
    host: str
    pid: int = 0


class RecordWrites:
    """The steps that write tracking and log rows (quoted table names: ``_t``, ``_log``)."""

    _t: str
    _log: str

    def begin_steps(
        self, version: str, name: str, checksum: str, action: str, actor: Actor,
        *, transaction: bool = True,
    ) -> list[Step]:  # fmt: skip
        """Open the log row, then move the tracking row; the move is the exactly-once guard.

        For a ``transaction:false`` section the row goes to 'failed' until the section
        finishes, so a crash midway is visible afterwards.
        """
        before, running, _after = TRANSITIONS[action]
        if not transaction:
            running = "failed"
        allowed = ", ".join(f"'{s}'" for s in before)
        log_row = Step(
            f'INSERT INTO {self._log} (version, name, action, started_at, outcome, "user", host)'
            f" VALUES (?, ?, ?, {NOW}, 'running', ?, ?)",
            (version, name, action, actor.user, actor.host),
        )
        if action == "up":
            move = Step(
                f"INSERT INTO {self._t} (version, name, checksum, status)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (version) DO UPDATE SET name = excluded.name,"
                " checksum = excluded.checksum,"
                f" status = CASE WHEN status IN ({allowed}) THEN excluded.status"
                " ELSE 'conflict' END,"
                " applied_at = NULL, rolled_back_at = NULL, execution_ms = NULL",
                (version, name, checksum, running),
            )
        else:
            move = Step(
                f"UPDATE {self._t} SET status = CASE WHEN status IN ({allowed}) THEN ?"
                " ELSE 'conflict' END WHERE version = ?",
                (running, version),
            )
        return [log_row, move]

    def finish_steps(self, version: str, action: str, *, returning: bool = False) -> list[Step]:
        """Close the log row and stamp the tracking row, both from the same clock reading.
        ``returning``: the stamp returns the duration the database measured (up only)."""
        _before, _running, after = TRANSITIONS[action]
        # newest first and stop at the first match: max(id) with a WHERE would read the
        # whole log (no index) three times per migration, O(history) each
        current = (
            f"(SELECT id FROM {self._log} WHERE version = ? AND action = ?"
            " AND outcome = 'running' ORDER BY id DESC LIMIT 1)"
        )
        close_log = Step(
            f"UPDATE {self._log} SET finished_at = {NOW}, duration_ms = {ELAPSED_MS},"
            f" outcome = ? WHERE id = {current}",
            (after, version, action),
        )
        last = (
            f"(SELECT id FROM {self._log} WHERE version = ? AND action = ?"
            " ORDER BY id DESC LIMIT 1)"
        )
        if action == "up":
            stamp = Step(
                f"UPDATE {self._t} SET status = 'applied',"
                f" applied_at = (SELECT finished_at FROM {self._log} WHERE id = {last}),"
                f" execution_ms = (SELECT duration_ms FROM {self._log} WHERE id = {last})"
                " WHERE version = ?" + (" RETURNING execution_ms" if returning else ""),
                (version, action, version, action, version),
            )
        else:
            stamp = Step(
                f"UPDATE {self._t} SET status = 'rolled_back',"
                f" rolled_back_at = (SELECT finished_at FROM {self._log} WHERE id = {last})"
                " WHERE version = ?",
                (version, action, version),
            )
        return [close_log, stamp]

    def failure_steps(
        self,
        version: str,
        name: str,
        action: str,
        actor: Actor,
        started_at: str,
        duration_ms: int,
        error: str,
    ) -> list[Step]:
        """A 'failed' log entry, written on its own after the migration's unit rolled back."""
        return [
            Step(
                f"UPDATE {self._log} SET finished_at = {NOW}, duration_ms = ?, outcome = 'failed',"
                f" error = ? WHERE id = (SELECT id FROM {self._log} WHERE version = ?"
                " AND action = ? AND outcome = 'running' ORDER BY id DESC LIMIT 1)",
                (duration_ms, error, version, action),
            ),
            Step(
                f"INSERT INTO {self._log} (version, name, action, started_at, finished_at,"
                f' duration_ms, outcome, error, "user", host)'
                f" SELECT ?, ?, ?, ?, {NOW}, ?, 'failed', ?, ?, ? WHERE changes() = 0",
                (version, name, action, started_at, duration_ms, error, actor.user, actor.host),
            ),
        ]

    def repair_steps(
        self, version: str, name: str, checksum: str, status: str, actor: Actor, note: str
    ) -> list[Step]:
        """Record what an operator fixed by hand, with an audit row."""
        stamp = "applied_at" if status == "applied" else "rolled_back_at"
        return [
            Step(
                f"INSERT INTO {self._t} (version, name, checksum, status, {stamp})"
                f" VALUES (?, ?, ?, ?, {NOW})"
                " ON CONFLICT (version) DO UPDATE SET name = excluded.name,"
                f" checksum = excluded.checksum, status = excluded.status,"
                f" {stamp} = excluded.{stamp}",
                (version, name, checksum, status),
            ),
            Step(
                f"INSERT INTO {self._log} (version, name, action, started_at, finished_at,"
                f' duration_ms, outcome, error, "user", host)'
                f" VALUES (?, ?, 'repair', {NOW}, {NOW}, 0, ?, ?, ?, ?)",
                (version, name, status, note, actor.user, actor.host),
            ),
        ]

    def baseline_steps(
        self, version: str, name: str, checksum: str, actor: Actor, note: str,
        *, action: str = "baseline",
    ) -> list[Step]:  # fmt: skip
        """Record a migration as applied without running it (``baseline``, or ``adopt``
        for ``adopt-dbmate``), with an audit row. A plain INSERT: a row that exists already
        (another run recorded it meanwhile) fails the whole unit instead of being
        overwritten."""
        return [
            Step(
                f"INSERT INTO {self._t} (version, name, checksum, status, applied_at)"
                f" VALUES (?, ?, ?, 'applied', {NOW})",
                (version, name, checksum),
            ),
            Step(
                f"INSERT INTO {self._log} (version, name, action, started_at, finished_at,"
                f' duration_ms, outcome, error, "user", host)'
                f" VALUES (?, ?, ?, {NOW}, {NOW}, 0, 'applied', ?, ?, ?)",
                (version, name, action, note, actor.user, actor.host),
            ),
        ]
