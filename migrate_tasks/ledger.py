"""The tracking tables: their SQL and the mapping of rows to records.

``<table>`` holds one row per migration ever applied (rows stay after a rollback, as
history); ``<table>_log`` holds one row per operation, for audit; ``<table>_lock`` holds
at most one row, the lease of the run allowed to write. Every value goes in as a
parameter; the only text we splice into SQL is the table name, validated as an
identifier by ``settings.validate_identifier`` and quoted here.

Exactly once, even without the lock: the first tracking write of every unit moves the
row from the state the plan expected to the next one, and a row in any other state is
moved to the impossible state ``'conflict'``, which the named CHECK constraint
``state_transition`` refuses. So a migration that another run applied (or rolled back)
meanwhile fails its unit before any of its statements ran.

Timestamps and durations of successful operations come from the database's own clock
(``strftime('now')`` at the log row's insert and at its final update, inside the same
transaction as the migration), so a client with a skewed clock cannot write nonsense.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .drivers.base import Driver, Row, Step
from .errors import UsageError
from .settings import validate_identifier

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
EPOCH = "CAST(strftime('%s', 'now') AS INTEGER)"
ELAPSED_MS = "CAST(round((julianday('now') - julianday(started_at)) * 86400000) AS INTEGER)"
GUARD = "state_transition"

MAIN_COLUMNS = (
    "version",
    "name",
    "checksum",
    "status",
    "applied_at",
    "rolled_back_at",
    "execution_ms",
)
LOG_COLUMNS = (
    "id", "version", "name", "action", "started_at", "finished_at",
    "duration_ms", "outcome", "error", "user", "host",
)  # fmt: skip
LOCK_COLUMNS = ("owner", "user", "host", "pid", "acquired_at", "expires_at")

# (action) -> (states the row may be in before, state while running, state after)
TRANSITIONS = {
    "up": (("rolled_back",), "applied", "applied"),
    "down": (("applied",), "rolled_back", "rolled_back"),
}


@dataclass(frozen=True)
class Record:
    """One row of the tracking table."""

    version: str
    name: str
    checksum: str
    status: str  # applied | rolled_back | failed
    applied_at: str | None
    rolled_back_at: str | None
    execution_ms: int | None


@dataclass(frozen=True)
class Actor:
    """Who runs the operation, for the audit log and the lock."""

    user: str
    host: str
    pid: int = 0


@dataclass(frozen=True)
class Holder:
    """The lease in the lock table, with the database's clock at the time of reading."""

    owner: str
    user: str | None
    host: str | None
    pid: int | None
    acquired_at: str
    expires_at: int
    now: int

    @property
    def expired(self) -> bool:
        return self.expires_at < self.now

    def describe(self) -> str:
        who = f"{self.user or '?'}@{self.host or '?'} (pid {self.pid})"
        left = self.expires_at - self.now
        lease = f"lease expires in {left} s" if left >= 0 else f"lease expired {-left} s ago"
        return f"{who} since {self.acquired_at}, {lease}"


class Ledger:
    """SQL for one set of tracking tables, named after ``table``."""

    def __init__(self, table: str) -> None:
        self.table = validate_identifier(table)
        self.log_table = validate_identifier(f"{table}_log")
        self.lock_table = validate_identifier(f"{table}_lock")
        self._t = f'"{self.table}"'
        self._log = f'"{self.log_table}"'
        self._lock = f'"{self.lock_table}"'

    # -- schema ---------------------------------------------------------------------------

    def create_steps(self) -> list[Step]:
        return [
            Step(
                f"CREATE TABLE IF NOT EXISTS {self._t} (\n"
                "  version TEXT PRIMARY KEY NOT NULL,\n"
                "  name TEXT NOT NULL,\n"
                "  checksum TEXT NOT NULL,\n"
                "  status TEXT NOT NULL\n"
                f"    CONSTRAINT {GUARD} CHECK (status IN ('applied', 'rolled_back', 'failed')),\n"
                "  applied_at TEXT,\n"
                "  rolled_back_at TEXT,\n"
                "  execution_ms INTEGER\n"
                ")"
            ),
            Step(
                f"CREATE TABLE IF NOT EXISTS {self._log} (\n"
                "  id INTEGER PRIMARY KEY,\n"
                "  version TEXT NOT NULL,\n"
                "  name TEXT,\n"
                "  action TEXT NOT NULL,\n"
                "  started_at TEXT NOT NULL,\n"
                "  finished_at TEXT,\n"
                "  duration_ms INTEGER,\n"
                "  outcome TEXT NOT NULL,\n"
                "  error TEXT,\n"
                '  "user" TEXT,\n'
                "  host TEXT\n"
                ")"
            ),
        ]

    def lock_create_steps(self) -> list[Step]:
        return [
            Step(
                f"CREATE TABLE IF NOT EXISTS {self._lock} (\n"
                "  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
                "  owner TEXT NOT NULL,\n"
                '  "user" TEXT,\n'
                "  host TEXT,\n"
                "  pid INTEGER,\n"
                "  acquired_at TEXT NOT NULL,\n"
                "  expires_at INTEGER NOT NULL\n"
                ")"
            )
        ]

    def existing_tables(self, driver: Driver, *, fresh: bool = False) -> set[str]:
        rows = _reader(driver, fresh, self.lock_table)(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)",
            (self.table, self.log_table, self.lock_table),
        )
        return {row[0] for row in rows}

    def check_shape(self, driver: Driver, existing: set[str], *, fresh: bool = False) -> None:
        """Refuse to write into a table of the same name that is not ours (e.g. dbmate's)."""
        for table, expected in (
            (self.table, MAIN_COLUMNS),
            (self.log_table, LOG_COLUMNS),
            (self.lock_table, LOCK_COLUMNS),
        ):
            if table not in existing:
                continue
            columns = {
                row[0]
                for row in _reader(driver, fresh, self.lock_table)(
                    "SELECT name FROM pragma_table_info(?)", (table,)
                )
            }
            missing = [c for c in expected if c not in columns]
            if missing:
                raise UsageError(
                    f"table {table} exists but is not a migrate_tasks tracking table "
                    f"(missing columns: {', '.join(missing)}). If another tool created it, "
                    "choose another name with the 'table' setting (migrate.table in invoke.yaml)"
                )

    # -- reading --------------------------------------------------------------------------

    def read(self, driver: Driver, *, fresh: bool = False) -> dict[str, Record]:
        """Every tracking row by version; empty when the tables do not exist yet.

        ``fresh`` reads inside a write transaction: a read replica forwards that to its
        primary, while a plain read may be answered from before the latest write
        (measured: stale in 52 of 100 reads right after a write).
        """
        existing = self.existing_tables(driver, fresh=fresh)
        self.check_shape(driver, existing, fresh=fresh)
        if self.table not in existing:
            return {}
        rows = _reader(driver, fresh, self.lock_table)(
            f"SELECT {', '.join(MAIN_COLUMNS)} FROM {self._t}"
        )
        return {str(r[0]): Record(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows}

    def log_rows(self, driver: Driver) -> list[dict[str, object]]:
        rows = driver.query(
            f"SELECT {', '.join(_quoted(LOG_COLUMNS))} FROM {self._log} ORDER BY id"
        )
        return [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows]

    # -- the lock -------------------------------------------------------------------------

    def read_lock(self, driver: Driver) -> Holder | None:
        """The current lease, from a plain read (a replica may not show it yet: the
        acquire that follows is a write, decided on the primary, so that is safe)."""
        from .errors import DatabaseError

        try:
            rows = driver.query(
                f'SELECT owner, "user", host, pid, acquired_at, expires_at, {EPOCH}'
                f" FROM {self._lock} WHERE id = 1"
            )
        except DatabaseError as exc:
            if "no such table" in exc.message:
                return None  # created a moment ago through a replica that lags
            raise
        return Holder(*rows[0]) if rows else None

    def acquire_step(
        self, owner: str, actor: Actor, ttl: int, *, replacing: str | None = None
    ) -> Step:
        """One atomic statement: returns a row only if we now hold the lease. It takes
        over a lease that has expired, or the one held by ``replacing`` (a dead owner)."""
        return Step(
            f'INSERT INTO {self._lock} (id, owner, "user", host, pid, acquired_at, expires_at)'
            f" VALUES (1, ?, ?, ?, ?, {NOW}, {EPOCH} + ?)"
            ' ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, "user" = excluded."user",'
            " host = excluded.host, pid = excluded.pid, acquired_at = excluded.acquired_at,"
            " expires_at = excluded.expires_at"
            f" WHERE {self._lock}.expires_at < {EPOCH} OR {self._lock}.owner = ?"
            " RETURNING owner",
            (owner, actor.user, actor.host, actor.pid, ttl, replacing or ""),
        )

    def renew_step(self, owner: str, ttl: int) -> Step:
        """Extend our lease; returns no row if it is no longer ours."""
        return Step(
            f"UPDATE {self._lock} SET expires_at = {EPOCH} + ? WHERE id = 1 AND owner = ?"
            " RETURNING owner",
            (ttl, owner),
        )

    def release_step(self, owner: str) -> Step:
        return Step(f"DELETE FROM {self._lock} WHERE id = 1 AND owner = ?", (owner,))

    def force_release_step(self) -> Step:
        return Step(f"DELETE FROM {self._lock} WHERE id = 1")

    # -- writing: every operation is framed by these steps inside its own unit ------------

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

    def finish_steps(self, version: str, action: str) -> list[Step]:
        """Close the log row and stamp the tracking row, both from the same clock reading."""
        _before, _running, after = TRANSITIONS[action]
        current = (
            f"(SELECT max(id) FROM {self._log} WHERE version = ? AND action = ?"
            " AND outcome = 'running')"
        )
        close_log = Step(
            f"UPDATE {self._log} SET finished_at = {NOW}, duration_ms = {ELAPSED_MS},"
            f" outcome = ? WHERE id = {current}",
            (after, version, action),
        )
        last = f"(SELECT max(id) FROM {self._log} WHERE version = ? AND action = ?)"
        if action == "up":
            stamp = Step(
                f"UPDATE {self._t} SET status = 'applied',"
                f" applied_at = (SELECT finished_at FROM {self._log} WHERE id = {last}),"
                f" execution_ms = (SELECT duration_ms FROM {self._log} WHERE id = {last})"
                " WHERE version = ?",
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
                " error = ? WHERE id = (SELECT max(id) FROM "
                f"{self._log} WHERE version = ? AND action = ? AND outcome = 'running')",
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


def _reader(driver: Driver, fresh: bool, lock_table: str = "") -> Callable[..., list[Row]]:
    """A plain read, or one answered by the primary even through a read replica.

    A replica serves a read-only transaction itself (stale) and forwards one that writes,
    so a fresh read starts with a write that changes nothing, on our own lock table
    (it exists whenever we hold the lock, which is when fresh reads happen).
    """
    if not fresh:
        return driver.query
    noop = Step(f'UPDATE "{lock_table}" SET id = id WHERE 0')

    def read(sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        return driver.run_atomic([noop, Step(sql, params)])[1]

    return read


REPLICA_PROBE = Step("DELETE FROM sqlite_schema WHERE 0")


def is_replica(driver: Driver) -> bool | None:
    """True when the server forwards writes to a primary (a read replica).

    The probe can change nothing (SQLite refuses to modify sqlite_schema), but through a
    replica its error comes back as ``PROXY_ERROR``. None: cannot tell (a read-only token).
    """
    from .errors import AuthFailed, DatabaseError, StatementError

    try:
        driver.run_each([REPLICA_PROBE])
    except StatementError as exc:
        return exc.code == "PROXY_ERROR"
    except AuthFailed:
        return None
    except DatabaseError as exc:
        return exc.code == "PROXY_ERROR"
    return False


def _quoted(columns: tuple[str, ...]) -> list[str]:
    return [f'"{c}"' for c in columns]
