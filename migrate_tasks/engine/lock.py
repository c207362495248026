"""The migration lock: a lease row taken with one atomic statement.

Why a lease row and not a held transaction or an advisory lock: sqld has no advisory
locks, it steals a write transaction after 5 s when another writer waits, and its HTTP
streams expire after 10 s idle (docs/libsql-notes.md §10, §12). A single
``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING`` works the same on a
local file and on a server, and a lease whose owner died expires by itself.

While someone holds the lease we only *read* it: a waiting write on sqld would make
the server abort the holder's migration after 5 s. We try to take it only when it is
free, expired, or held by a process on this host that no longer exists. An attempt is
one transaction (one request on a server) that also carries whatever the caller needs
right after taking the lease, so taking it costs no extra round trip.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Callable

from migrate_tasks.config import defaults
from migrate_tasks.drivers.base import Driver, Row, Step
from migrate_tasks.engine.batch import Batch, Name
from migrate_tasks.engine.tracking import UNREAD, Actor, Holder, Ledger
from migrate_tasks.errors import DatabaseError, LockTimeout
from migrate_tasks.progname import command

log = logging.getLogger("migrate_tasks")

UNKNOWN = UNREAD  # the lease has not been read
#: The rows of each part of the caller's ``then`` batch, by name.
Parts = dict[Name, list[list[Row]]]
WAIT_REPORT_EVERY = 10.0


#: os.kill(pid, 0) on Windows does not test a process: it terminates it (TerminateProcess).
_WINDOWS = sys.platform == "win32"


def process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs on this host (then its lease can go at once). On
    Windows this is never said: its lease goes when it expires, as another host's does."""
    if _WINDOWS:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


class MigrationLock:
    """Acquire, renew (inside each migration's unit) and release the lease."""

    def __init__(
        self,
        driver: Driver,
        ledger: Ledger,
        actor: Actor,
        *,
        timeout: float = defaults.LOCK_TIMEOUT_S,
        ttl: int = defaults.LOCK_TTL_S,
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

    def acquire(
        self, then: Batch | None = None, *, holder: Holder | object | None = UNKNOWN
    ) -> Parts:
        """Take the lease, waiting up to ``timeout``; return the rows of ``then``'s parts.

        Each attempt is ONE transaction (one request on a server): create the lock table
        if needed, the atomic take-over statement, a read of the lease, then ``then``
        (the engine's tracking-table setup and fresh reads, which so cost no extra round
        trip and are answered by the primary even through a replica). ``holder``: the
        lease as the caller last read it, so the first attempt needs no read of its own.
        """
        deadline = time.monotonic() + self.timeout
        next_report = 0.0
        known: Holder | None = None
        while True:
            if holder is UNKNOWN:
                holder = self.ledger.read_lock(self.driver) if self._table_exists() else None
            assert holder is None or isinstance(holder, Holder)
            known = holder or known
            replacing = self._dead_owner(holder)
            if holder is None or holder.expired or replacing:
                attempt = self._try(holder, replacing, then)
                if isinstance(attempt, dict):
                    return attempt
                if attempt is None:  # the file was busy: whose lease is it by now?
                    attempt = self.ledger.read_lock(self.driver) if self._table_exists() else None
                known = attempt or known
            now = time.monotonic()
            who = known.describe() if known else "another writer (the database is busy)"
            if now >= deadline:
                raise LockTimeout(
                    f"timed out after {self.timeout:g} s waiting for the migration lock held by"
                    f" {who}. If that run is dead, wait for its lease to expire or release it"
                    f" with `{command('unlock')}`"
                )
            if now >= next_report:
                log.warning("waiting for the migration lock held by %s", who)
                next_report = now + WAIT_REPORT_EVERY
            self._sleep(min(0.25 + random.random() * 0.25, max(deadline - now, 0.01)))
            holder = UNKNOWN

    def attempt(self, then: Batch | None = None, replacing: str | None = None) -> Batch:
        """The one transaction of an attempt to take the lease (see ``acquire``): parts
        "lock table" (created if needed), "before" (the lease as the attempt finds it, so
        a take-over is reported only when there was a lease to take over), "take"
        (returns a row if we now hold the lease), "lease" (who holds it), then ``then``'s
        own parts."""
        take = self.ledger.acquire_step(self.owner, self.actor, self.ttl, replacing=replacing)
        batch = Batch().add("lock table", self.ledger.lock_create_steps())
        batch.add("before", [self.ledger.read_lock_step()]).add("take", [take])
        return batch.add("lease", [self.ledger.read_lock_step()]).extend(then)

    def _try(
        self, holder: Holder | None, replacing: str | None, then: Batch | None
    ) -> Parts | Holder | None:
        """The rows of ``then``'s parts if we now hold the lease; else who holds it
        (None: a local writer holds the file, so nothing could be read)."""
        batch = self.attempt(then, replacing)
        try:
            parts = batch.split(self.driver.run_atomic(batch.steps()))
        except DatabaseError as exc:
            if (exc.code or "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                return None  # a local writer holds the file: the lease holder, or a straggler
            raise
        (before,), (taken,), (lease,) = parts["before"], parts["take"], parts["lease"]
        if not taken:
            return Holder(*lease[0]) if lease else None
        self.held = True
        if before:  # not when its holder released it between our read and this attempt
            previous = Holder(*before[0])
            why = "its process is gone" if replacing == previous.owner else "its lease had expired"
            log.warning("took over the migration lock from %s (%s)", previous.describe(), why)
        return {name: parts[name] for name in (then.names() if then is not None else ())}

    def _dead_owner(self, holder: Holder | None) -> str | None:
        """A lease held by a process on this host that no longer exists can go at once."""
        if holder is None or holder.expired or holder.host != self.actor.host or not holder.pid:
            return None
        if holder.pid == self.actor.pid:
            return None
        return holder.owner if process_gone(holder.pid) else None

    def _table_exists(self) -> bool:
        return self.ledger.lock_table in self.ledger.existing_tables(self.driver)

    def renew_step(self) -> Step:
        return self.ledger.renew_step(self.owner, self.ttl)

    def release_step(self) -> Step:
        return self.ledger.release_step(self.owner)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self.driver.ending()  # the run's last request: a server session ends with it
            self.driver.run_atomic([self.release_step()])
        except Exception as exc:  # the run's own outcome matters more; the lease expires anyway
            log.warning(
                "could not release the migration lock (%s); it expires in %d s", exc, self.ttl
            )
