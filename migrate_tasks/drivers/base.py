"""The one seam between the engine and a database.

A driver knows how to reach one database and how to run a list of steps either
atomically (one transaction: all or nothing) or one by one (autocommit each, for
``transaction:false`` sections). It translates every third-party exception into
our own (``StatementError``, ``DatabaseError``, ``ConnectionFailed``, ``AuthFailed``)
so nothing above it knows which library is underneath.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from migrate_tasks.errors import DatabaseError

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Step:
    """One SQL statement with its positional (``?``) parameters."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Group:
    """One transaction of ``run_groups``: its steps, whether foreign keys go off around
    it (as ``run_atomic(foreign_keys_off=True)``), and the indexes of the steps whose rows
    the caller reads (the others come back empty: responses stay small). ``atomic=False``:
    no transaction, each step commits on its own as in ``run_each`` (a failure at step i
    leaves the steps before it applied)."""

    steps: Sequence[Step]
    foreign_keys_off: bool = False
    rows: frozenset[int] = frozenset()
    atomic: bool = True


@dataclass
class GroupsOutcome:
    """What ``run_groups`` did: each step's rows for every group that committed (a
    prefix of the groups, in order), and why the group after them did not commit (None:
    all did). The groups after a failed one were not attempted."""

    committed: list[list[list[Row]]]
    failure: DatabaseError | None = None


class Transaction(Protocol):
    """One open transaction on a connection (or stream) of its own, for code that decides
    what to run next from what it has read (Python migrations)."""

    def run(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Run the steps in order inside the transaction (remote drivers: one round
        trip); return each step's rows.

        The first failing step raises ``StatementError(index=i)`` and the steps after it
        do not run. After any error the caller must leave the block, which rolls the
        whole transaction back. sqld ending the transaction (``TRANSACTION_TIMEOUT``,
        ``STREAM_EXPIRED``) is a ``DatabaseError`` saying so.
        """
        ...


class Driver(Protocol):
    """What the engine needs from a database connection."""

    #: The target with any secret removed, safe to print.
    display_url: str
    #: Short name for logs, reprs and tests: "libsql-file", "sqlite3-file", "hrana-http",
    #: "hrana-ws". Never compared by code: what a driver can do is said by the
    #: capabilities below, which the contract suite checks against the real thing.
    name: str

    # -- capabilities ---------------------------------------------------------------

    #: True when the engine underneath is libSQL (ALTER COLUMN, vectors, RANDOM ROWID...).
    libsql_syntax: bool
    #: A sqld server: it parses every statement itself and refuses ``VACUUM``, ``ATTACH``,
    #: ``CREATE TEMP``, ``ANALYZE`` and the PRAGMAs that change a setting
    #: (``engine.refusals``).
    is_server: bool
    #: ``run_atomic(..., foreign_keys_off=True)`` works (and ``run_atomic_iter``, and a
    #: ``Group.foreign_keys_off`` in ``run_groups``): ``PRAGMA foreign_keys=OFF`` on the
    #: transaction's own connection (Hrana stream) before ``BEGIN``. Every driver we ship
    #: can; one that cannot raises ``UsageError`` before sending anything.
    can_switch_foreign_keys: bool
    #: The database may be a read replica, whose plain reads can lag behind its primary
    #: (``engine.tracking.is_replica`` asks). A local file never is one.
    may_be_replica: bool
    #: ``query_many`` costs at most one round trip however many steps it carries, and a
    #: step the server refuses only fails its own answer: a replica probe can ride along
    #: with the history read for free. False for ws: each step is a round trip of its own,
    #: and a write refused to a read-only token closes the socket.
    reads_in_one_round_trip: bool
    #: ``run_groups`` sends many transactions in one round trip, each all or nothing and
    #: each run only if the one before it committed. False: the engine runs one
    #: transaction per call (``run_atomic``) and never calls ``run_groups``.
    runs_groups: bool
    #: With ``runs_groups``: how much one ``run_groups`` call may carry (Hrana steps, and
    #: bytes of SQL and parameters); the engine splits a run into calls within both.
    group_max_steps: int
    group_max_bytes: int
    #: ``interactive_transaction()`` works: a transaction kept open across calls, whose
    #: next statements may depend on rows read in it (a local connection, a Hrana stream
    #: carried by its baton over HTTP, a Hrana stream on the WebSocket).
    interactive_transactions: bool

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement outside any explicit transaction and return its rows."""
        ...

    def query_many(self, steps: Sequence[Step]) -> list[list[Row] | DatabaseError]:
        """Run each step on its own, outside any explicit transaction, in order; return
        each step's rows, or the ``DatabaseError`` it raised (a failing step does not stop
        the ones after it). For reads that belong together, e.g. the tracking tables and
        the lock: remote drivers send them all in one round trip. Connection and auth
        failures raise as usual.
        """
        ...

    def run_atomic(
        self, steps: Sequence[Step], *, foreign_keys_off: bool = False
    ) -> list[list[Row]]:
        """Run every step in one transaction; return each step's rows.

        On the first failing step raise ``StatementError(index=i)`` and leave
        nothing of the unit behind. Remote drivers do this in one round trip.

        ``foreign_keys_off``: run ``PRAGMA foreign_keys=OFF`` on the transaction's own
        connection before ``BEGIN`` and turn them back on after ``COMMIT``/``ROLLBACK``
        (SQLite ignores the PRAGMA inside a transaction; this is the table rebuild
        SQLite documents). The caller puts its foreign-key check among the steps. A
        driver that cannot do this (``can_switch_foreign_keys`` false) raises
        ``UsageError`` before sending anything.
        """
        ...

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        """Run the steps in ONE transaction, consuming the iterator lazily (memory
        bounded by a chunk, never by the total). Raise ``StatementError(index=i)``
        (global index in the iteration) on the first failure and leave nothing behind.
        Returns nothing (no rows).

        For units too big to hold in memory (a 200 MB data migration). An exception
        raised by the iterator itself (e.g. ``MigrationFileError`` from the parser)
        or a Ctrl-C rolls back and propagates unchanged. On sqld, a long transaction
        is ended by the server if another writer waits for more than 5 s
        (``TRANSACTION_TIMEOUT``): that is a ``DatabaseError`` saying so, not a
        ``StatementError``. ``foreign_keys_off`` as in ``run_atomic``.
        """
        ...

    def run_groups(self, groups: Sequence[Group]) -> GroupsOutcome:
        """Run every group as its own transaction, in order, in one round trip; a group
        runs only if the one before it committed, so after a failure nothing more runs.

        The failure is ``StatementError(index=i)`` for step i of its group (nothing of
        that group is left), or a ``DatabaseError`` (it could not begin or commit, or the
        server ended the transaction). A failure of the call itself (connection lost,
        5xx) raises: any prefix of the groups may then have committed, so the caller
        must read back what did. Only called when ``runs_groups`` is true.
        """
        ...

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Run the steps one by one, each committing on its own.

        On the first failing step raise ``StatementError(index=i)``; the steps
        before it stay applied.
        """
        ...

    def ending(self) -> None:
        """The next call is the last of this run (the lock's release): a driver that keeps
        a server-side session may end it with that call instead of a round trip of its
        own. Calls after it still work."""

    def interactive_transaction(self) -> AbstractContextManager[Transaction]:
        """``BEGIN`` on a connection (stream) of its own; the block's ``Transaction``
        runs steps inside it. ``COMMIT`` when the block ends normally; ``ROLLBACK`` when
        it raises (anything, Ctrl-C included), which then propagates unchanged. A failed
        COMMIT raises ``DatabaseError`` and leaves nothing behind."""
        ...

    def close(self) -> None:
        """Release the connection. Safe to call twice."""
        ...
