"""The migration lock: a lease row taken with one atomic statement.

Why a lease row and not a held transaction or an advisory lock: sqld has no advisory
locks, it steals a write transaction after 5 s when another writer waits, and its HTTP
streams expire after 10 s idle (LIBSQL_NOTES.md §10, §12). A single
``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING`` works the same on a
local file and on a server, and a lease whose owner died expires by itself.

While someone holds the lease we only *read* it: a waiting write on sqld would make
the server abort the holder's migration after 5 s. We try to take it only when it is
free, expired, or held by a process on this host that no longer exists.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable

from .drivers.base import Driver, Step
from .errors import DatabaseError, LockTimeout
from .ledger import Actor, Holder, Ledger

log = logging.getLogger("migrate_tasks")

DEFAULT_TIMEOUT = 60.0
DEFAULT_TTL = 120
WAIT_REPORT_EVERY = 10.0


class MigrationLock:
    """Acquire, renew (inside each migration's unit) and release the lease."""

    def __init__(
        self,
        driver: Driver,
        ledger: Ledger,
        actor: Actor,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: int = DEFAULT_TTL,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.driver = driver
        self.ledger = ledger
        self.actor = actor
        self.timeout = timeout
        self.ttl = int(ttl)
        self.owner = f"{actor.user}@{actor.host}:{actor.pid}:{uuid.uuid4().hex[:12]}"
        self.held = False
        self._sleep = sleep

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        next_report = 0.0
        holder: Holder | None = None
        while True:
            if self._ensure_table():
                holder = self.ledger.read_lock(self.driver)
                replacing = self._dead_owner(holder)
                if holder is None or holder.expired or replacing:
                    if self._try(holder, replacing):
                        return
                    holder = self.ledger.read_lock(self.driver) or holder
            now = time.monotonic()
            who = holder.describe() if holder else "another writer (the database is busy)"
            if now >= deadline:
                raise LockTimeout(
                    f"timed out after {self.timeout:g} s waiting for the migration lock held by"
                    f" {who}. If that run is dead, wait for its lease to expire or release it"
                    " with `invoke migrate.unlock`"
                )
            if now >= next_report:
                log.warning("waiting for the migration lock held by %s", who)
                next_report = now + WAIT_REPORT_EVERY
            self._sleep(min(0.25 + random.random() * 0.25, max(deadline - now, 0.01)))

    def _ensure_table(self) -> bool:
        """Create the lock table on first use; False while another writer holds a local
        file (the create waits only SQLite's busy timeout: we keep waiting like for a lease)."""
        if not self.lock_table_missing():
            return True
        try:
            self.driver.run_atomic(self.ledger.lock_create_steps())
        except DatabaseError as exc:
            if (exc.code or "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                return False
            raise
        return True

    def _try(self, holder: Holder | None, replacing: str | None) -> bool:
        step = self.ledger.acquire_step(self.owner, self.actor, self.ttl, replacing=replacing)
        try:
            rows = self.driver.run_atomic([step])[0]
        except DatabaseError as exc:
            if (exc.code or "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                return False  # a local writer holds the file: the lease holder, or a straggler
            raise
        if not rows:
            return False
        self.held = True
        if holder is not None:
            why = "its process is gone" if replacing else "its lease had expired"
            log.warning("took over the migration lock from %s (%s)", holder.describe(), why)
        return True

    def _dead_owner(self, holder: Holder | None) -> str | None:
        """A lease held by a process on this host that no longer exists can go at once."""
        if holder is None or holder.expired or holder.host != self.actor.host or not holder.pid:
            return None
        if holder.pid == self.actor.pid:
            return None
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return holder.owner
        except PermissionError:
            return None  # alive, someone else's
        return None

    def lock_table_missing(self) -> bool:
        return self.ledger.lock_table not in self.ledger.existing_tables(self.driver)

    def renew_step(self) -> Step:
        return self.ledger.renew_step(self.owner, self.ttl)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self.driver.run_atomic([self.ledger.release_step(self.owner)])
        except Exception as exc:  # the run's own outcome matters more; the lease expires anyway
            log.warning(
                "could not release the migration lock (%s); it expires in %d s", exc, self.ttl
            )
