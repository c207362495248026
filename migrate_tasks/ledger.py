"""The tracking tables: their SQL and the mapping of rows to records.

``<table>`` holds one row per migration ever applied (rows stay after a rollback, as
history); ``<table>_log`` holds one row per operation, for audit. Every value goes
in as a parameter; the only text we splice into SQL is the table name, validated as
an identifier by ``settings.validate_identifier`` and quoted here.

Timestamps and durations of successful operations come from the database's own
clock (``strftime('now')`` at the log row's insert and at its final update, inside
the same transaction as the migration), so a client with a skewed clock cannot
write nonsense durations.
"""

from __future__ import annotations

from dataclasses import dataclass

from .drivers.base import Driver, Step
from .errors import UsageError
from .settings import validate_identifier

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
ELAPSED_MS = "CAST(round((julianday('now') - julianday(started_at)) * 86400000) AS INTEGER)"

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
    """Who runs the operation, for the audit log."""

    user: str
    host: str


class Ledger:
    """SQL for one pair of tracking tables, named after ``table``."""

    def __init__(self, table: str) -> None:
        self.table = validate_identifier(table)
        self.log_table = validate_identifier(f"{table}_log")
        self._t = f'"{self.table}"'
        self._log = f'"{self.log_table}"'

    # -- schema ---------------------------------------------------------------------------

    def create_steps(self) -> list[Step]:
        return [
            Step(
                f"CREATE TABLE IF NOT EXISTS {self._t} (\n"
                "  version TEXT PRIMARY KEY NOT NULL,\n"
                "  name TEXT NOT NULL,\n"
                "  checksum TEXT NOT NULL,\n"
                "  status TEXT NOT NULL CHECK (status IN ('applied', 'rolled_back', 'failed')),\n"
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

    def existing_tables(self, driver: Driver) -> set[str]:
        rows = driver.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
            (self.table, self.log_table),
        )
        return {row[0] for row in rows}

    def check_shape(self, driver: Driver, existing: set[str]) -> None:
        """Refuse to write into a table of the same name that is not ours (e.g. dbmate's)."""
        for table, expected in ((self.table, MAIN_COLUMNS), (self.log_table, LOG_COLUMNS)):
            if table not in existing:
                continue
            columns = {row[1] for row in driver.query(f'PRAGMA table_info("{table}")')}
            missing = [c for c in expected if c not in columns]
            if missing:
                raise UsageError(
                    f"table {table} exists but is not a migrate_tasks tracking table "
                    f"(missing columns: {', '.join(missing)}). If another tool created it, "
                    "choose another name with the 'table' setting (migrate.table in invoke.yaml)"
                )

    # -- reading --------------------------------------------------------------------------

    def read(self, driver: Driver) -> dict[str, Record]:
        """Every tracking row by version; empty when the tables do not exist yet."""
        existing = self.existing_tables(driver)
        self.check_shape(driver, existing)
        if self.table not in existing:
            return {}
        rows = driver.query(f"SELECT {', '.join(MAIN_COLUMNS)} FROM {self._t}")
        return {str(r[0]): Record(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows}

    def log_rows(self, driver: Driver) -> list[dict[str, object]]:
        rows = driver.query(
            f"SELECT {', '.join(_quoted(LOG_COLUMNS))} FROM {self._log} ORDER BY id"
        )
        return [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows]

    # -- writing: every operation is framed by these steps inside its own unit ------------

    def begin_steps(self, version: str, name: str, action: str, actor: Actor) -> list[Step]:
        """The log row that opens an operation, stamped with the database's clock."""
        return [
            Step(
                f'INSERT INTO {self._log} (version, name, action, started_at, outcome, "user", host)'
                f" VALUES (?, ?, ?, {NOW}, 'running', ?, ?)",
                (version, name, action, actor.user, actor.host),
            )
        ]

    def finish_steps(self, version: str, name: str, checksum: str, action: str) -> list[Step]:
        """Close the log row and write the tracking row, both from the same clock reading."""
        outcome = "applied" if action == "up" else "rolled_back"
        current = (
            f"(SELECT max(id) FROM {self._log} WHERE version = ? AND action = ?"
            " AND outcome = 'running')"
        )
        close_log = Step(
            f"UPDATE {self._log} SET finished_at = {NOW}, duration_ms = {ELAPSED_MS},"
            f" outcome = ? WHERE id = {current}",
            (outcome, version, action),
        )
        last = f"(SELECT max(id) FROM {self._log} WHERE version = ? AND action = ?)"
        if action == "up":
            record = Step(
                f"INSERT INTO {self._t} ({', '.join(MAIN_COLUMNS)})"
                f" SELECT ?, ?, ?, 'applied', finished_at, NULL, duration_ms FROM {self._log}"
                f" WHERE id = {last}"
                " ON CONFLICT (version) DO UPDATE SET name = excluded.name,"
                " checksum = excluded.checksum, status = 'applied',"
                " applied_at = excluded.applied_at, rolled_back_at = NULL,"
                " execution_ms = excluded.execution_ms",
                (version, name, checksum, version, action),
            )
        else:
            record = Step(
                f"UPDATE {self._t} SET status = 'rolled_back',"
                f" rolled_back_at = (SELECT finished_at FROM {self._log} WHERE id = {last})"
                " WHERE version = ?",
                (version, action, version),
            )
        return [close_log, record]

    def mark_failed_steps(self, version: str, name: str, checksum: str) -> list[Step]:
        """Before a ``transaction:false`` section: if we die midway, the row says 'failed'."""
        return [
            Step(
                f"INSERT INTO {self._t} ({', '.join(MAIN_COLUMNS)})"
                " VALUES (?, ?, ?, 'failed', NULL, NULL, NULL)"
                " ON CONFLICT (version) DO UPDATE SET name = excluded.name,"
                " checksum = excluded.checksum, status = 'failed'",
                (version, name, checksum),
            )
        ]

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


def _quoted(columns: tuple[str, ...]) -> list[str]:
    return [f'"{c}"' for c in columns]
