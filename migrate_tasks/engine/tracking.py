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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from migrate_tasks.config.settings import validate_identifier
from migrate_tasks.drivers.base import Driver, Row, Step
from migrate_tasks.engine.batch import Batch, Name
from migrate_tasks.engine.tracking_writes import NOW, TRANSITIONS, Actor, RecordWrites
from migrate_tasks.errors import AuthFailed, DatabaseError, StatementError, UsageError
from migrate_tasks.progname import command

__all__ = [
    "GUARD",
    "LOCK_LOST",
    "NOW",
    "REPLICA_PROBE",
    "TRANSITIONS",
    "UNREAD",
    "Actor",
    "Holder",
    "Ledger",
    "Record",
    "Snapshot",
    "is_replica",
]

EPOCH = "CAST(strftime('%s', 'now') AS INTEGER)"
GUARD = "state_transition"
#: In the error of ``lock_guard_step`` (SQLite raises no message of our choosing outside a
#: trigger; a bad JSON path is echoed back, see ``guards``).
LOCK_LOST = "migrate_tasks:lock_lost:"

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


#: A lease not read yet (``MigrationLock.acquire(holder=...)``; None is "free").
UNREAD = object()


@dataclass
class Snapshot:
    """What one read of the tracking tables found."""

    #: Which of our three tables exist.
    existing: set[str]
    records: dict[str, Record] = field(default_factory=dict)
    #: The lease in the lock table; None when the lock is free (or was not read).
    holder: Holder | None = None
    #: Whether the server is a read replica, when that was asked (None: not asked).
    replica: bool | None = None


class Ledger(RecordWrites):
    """SQL for one set of tracking tables, named after ``table`` (the rows each operation
    writes: ``RecordWrites``)."""

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

    def existing_tables(self, driver: Driver) -> set[str]:
        rows = driver.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)",
            (self.table, self.log_table, self.lock_table),
        )
        return {row[0] for row in rows}

    # -- reading --------------------------------------------------------------------------

    def read(self, driver: Driver, *, fresh: bool = False) -> dict[str, Record]:
        """Every tracking row by version; empty when the tables do not exist yet.

        ``fresh`` reads inside a write transaction: a read replica forwards that to its
        primary, while a plain read may be answered from before the latest write
        (measured: stale in 52 of 100 reads right after a write).
        """
        if not fresh:
            return self.snapshot(driver).records
        tables = self._read_in_write(driver, "tables", self._tables_step())
        snapshot = self.parse_snapshot({"tables": [tables], "records": [[]]})
        if self.table in snapshot.existing:
            rows = self._read_in_write(driver, "records", self._records_step())
            snapshot.records = self._records(rows)
        return snapshot.records

    def _read_in_write(self, driver: Driver, name: str, read: Step) -> list[Row]:
        """``read`` inside a transaction that writes (nothing): answered by the primary."""
        noop = Step(f"UPDATE {self._lock} SET id = id WHERE 0")
        batch = Batch().add("write", [noop]).add(name, [read])
        return batch.split(driver.run_atomic(batch.steps()))[name][0]

    def snapshot_batch(self, *, lock: bool = False) -> Batch:
        """The reads behind ``snapshot``, for ``Driver.query_many`` (one round trip) or
        for the end of a transaction (``parse_snapshot`` reads their rows back): parts
        "tables" ((table, column) of each of our tables that exists), "records" (the
        tracking rows; fails while the table does not exist) and, with ``lock``, "lease".
        """
        batch = Batch().add("tables", [self._tables_step()]).add("records", [self._records_step()])
        return batch.add("lease", [self.read_lock_step()]) if lock else batch

    def _tables_step(self) -> Step:
        return Step(
            "SELECT t.name, c.name FROM sqlite_master AS t"
            " JOIN pragma_table_info(t.name) AS c"
            " WHERE t.type = 'table' AND t.name IN (?, ?, ?)",
            (self.table, self.log_table, self.lock_table),
        )

    def _records_step(self) -> Step:
        return Step(f"SELECT {', '.join(MAIN_COLUMNS)} FROM {self._t}")

    def snapshot(self, driver: Driver, *, lock: bool = False, probe: bool = False) -> Snapshot:
        """Tables, history (and with ``lock`` the lease) in one ``query_many``: one round
        trip on a server. ``probe``: also ask whether the server is a read replica."""
        batch = self.snapshot_batch(lock=lock)
        if probe:
            batch.add("replica probe", [REPLICA_PROBE])
        answers = batch.split(driver.query_many(batch.steps()))
        snapshot = self.parse_snapshot(answers)
        if probe:
            snapshot.replica = _probe_answer(answers["replica probe"][0])
        return snapshot

    def parse_snapshot(
        self, answers: Mapping[Name, Sequence[list[Row] | DatabaseError]]
    ) -> Snapshot:
        """The answers to ``snapshot_batch``, by part -> a ``Snapshot``; refuses tables
        that are not ours."""
        columns: dict[str, set[str]] = {}
        for table, column in _rows_of(answers["tables"][0]):
            columns.setdefault(str(table), set()).add(str(column))
        self._check_columns(columns)
        snapshot = Snapshot(set(columns))
        if self.table in columns:
            snapshot.records = self._records(_rows_of(answers["records"][0]))
        lease = answers["lease"][0] if "lease" in answers else None
        if lease is not None and self.lock_table in columns:
            if isinstance(lease, DatabaseError):
                if "no such table" not in lease.message:  # created just now, seen lagging
                    raise lease
            elif lease:
                snapshot.holder = Holder(*lease[0])
        return snapshot

    def _records(self, rows: Sequence[Row]) -> dict[str, Record]:
        return {str(r[0]): Record(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows}

    def _check_columns(self, columns: Mapping[str, set[str]]) -> None:
        """Refuse to write into a table of the same name that is not ours (e.g. dbmate's)."""
        for table, expected in (
            (self.table, MAIN_COLUMNS),
            (self.log_table, LOG_COLUMNS),
            (self.lock_table, LOCK_COLUMNS),
        ):
            if table not in columns:
                continue
            missing = [c for c in expected if c not in columns[table]]
            if missing and columns[table] == {"version"}:  # dbmate's schema_migrations
                raise UsageError(
                    f"table {table} exists but is not a migrate_tasks tracking table: it is"
                    " dbmate's (one column, version). To switch from dbmate, run"
                    f" `{command('adopt-dbmate --dry-run')}` to see, then without --dry-run:"
                    " it records the migrations dbmate applied in our tables and drops dbmate's"
                )
            if missing:
                raise UsageError(
                    f"table {table} exists but is not a migrate_tasks tracking table "
                    f"(missing columns: {', '.join(missing)}). If another tool created it, "
                    "choose another name with the 'table' setting (migrate.table in invoke.yaml)"
                )

    # -- the lock -------------------------------------------------------------------------

    def read_lock(self, driver: Driver) -> Holder | None:
        """The current lease, from a plain read (a replica may not show it yet: the
        acquire that follows is a write, decided on the primary, so that is safe)."""
        try:
            step = self.read_lock_step()
            rows = driver.query(step.sql, step.params)
        except DatabaseError as exc:
            if "no such table" in exc.message:
                return None  # created a moment ago through a replica that lags
            raise
        return Holder(*rows[0]) if rows else None

    def read_lock_step(self) -> Step:
        """The lease with the database's clock; no row while the lock is free."""
        return Step(
            f'SELECT owner, "user", host, pid, acquired_at, expires_at, {EPOCH}'
            f" FROM {self._lock} WHERE id = 1"
        )

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

    def handover_step(self, owner: str, new_owner: str) -> Step:
        """Our lease passes to ``new_owner`` (ours too): steps still guarded by ``owner``
        (``lock_guard_step``) fail from now on."""
        return Step(
            f"UPDATE {self._lock} SET owner = ? WHERE id = 1 AND owner = ?", (new_owner, owner)
        )

    def lock_guard_step(self, owner: str) -> Step:
        """Fails (``LOCK_LOST`` in the error) unless we hold the lease: inside a
        transaction, nothing of it commits without the lock."""
        return Step(
            f"SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM {self._lock} WHERE id = 1 AND owner = ?)"
            f" THEN json_extract('{{}}', '{LOCK_LOST}') END",
            (owner,),
        )

    def release_step(self, owner: str) -> Step:
        return Step(f"DELETE FROM {self._lock} WHERE id = 1 AND owner = ?", (owner,))

    def force_release_step(self) -> Step:
        return Step(f"DELETE FROM {self._lock} WHERE id = 1")


REPLICA_PROBE = Step("DELETE FROM sqlite_schema WHERE 0")


def is_replica(driver: Driver) -> bool | None:
    """True when the server forwards writes to a primary (a read replica).

    The probe can change nothing (SQLite refuses to modify sqlite_schema), but through a
    replica its error comes back as ``PROXY_ERROR``. None: cannot tell (a read-only token).
    """
    try:
        driver.run_each([REPLICA_PROBE])
    except StatementError as exc:
        return exc.code == "PROXY_ERROR"
    except AuthFailed:
        return None
    except DatabaseError as exc:
        return exc.code == "PROXY_ERROR"
    return False


def _probe_answer(answer: list[Row] | DatabaseError) -> bool:
    """``REPLICA_PROBE``'s outcome from ``query_many``: only a replica says PROXY_ERROR."""
    return isinstance(answer, DatabaseError) and answer.code == "PROXY_ERROR"


def _rows_of(answer: list[Row] | DatabaseError) -> list[Row]:
    if isinstance(answer, DatabaseError):
        raise answer
    return answer


def _quoted(columns: tuple[str, ...]) -> list[str]:
    return [f'"{c}"' for c in columns]
