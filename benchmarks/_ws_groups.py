"""Issue 13 item 6: many migrations, each its own transaction, in ONE Hrana batch over
WebSocket through libsql-client, against one batch (one round trip) per migration.

A migration here is the shape the engine sends today (engine/batch.py): renew the lease,
open a log row, the migration's statements (``CREATE TABLE`` + ``CREATE INDEX``), the
tracking row, close the log row, all inside ``BEGIN`` ... ``COMMIT``. Three ways to send
N of them on one stream:

- ``per-migration``: one batch per migration, each sent after the previous answered
  (the ws driver's shape today: N round trips).
- ``one batch (hrana2)``: all N groups in one batch, using only the conditions Hrana 2
  has: every step after ``BEGIN`` runs if the step before it was ok, ``COMMIT`` likewise,
  ``ROLLBACK`` if ``BEGIN`` ran but ``COMMIT`` did not, the next ``BEGIN`` only if the
  previous ``COMMIT`` was ok. libsql-client's WebSocket asks for the ``hrana2``
  subprotocol (hard-coded in ``HranaConn._do_connect``), so this is what it can send.
- ``one batch (hrana3)``: the same plus ``not is_autocommit`` on every step after
  ``BEGIN`` and on ``COMMIT`` (issue 13 item 1's shape), through a ``HranaConn`` that
  asks for ``hrana3``. sqld refuses ``is_autocommit`` on a ``hrana2`` socket (a protocol
  error: it closes the WebSocket and nothing runs), so this needs that one override.

Each variant is also checked with a failure in the middle: exactly the migrations before
the failing one must be committed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import libsql_client
from libsql_client.hrana import client as hrana_client
from libsql_client.hrana import conn as hrana_conn

from migrate_tasks.drivers.ws_client import RawStream

SETUP = [
    "CREATE TABLE lock (id INTEGER PRIMARY KEY, owner TEXT, expires_at INTEGER)",
    "INSERT INTO lock VALUES (1, 'bench', unixepoch() + 60)",
    "CREATE TABLE tracking (version TEXT PRIMARY KEY, name TEXT, status TEXT)",
    "CREATE TABLE log (id INTEGER PRIMARY KEY, version TEXT, outcome TEXT)",
]
VARIANTS = ("per-migration", "one batch (hrana2)", "one batch (hrana3)")


def migration_sql(k: int, fail: bool) -> list[str]:
    """The statements of migration ``k`` between BEGIN and COMMIT, as the engine sends them."""
    v, t = f"{k:014d}", f"t{k:05d}"
    body = [
        "UPDATE lock SET expires_at = unixepoch() + 60 WHERE id = 1 AND owner = 'bench'",
        f"INSERT INTO log (version, outcome) VALUES ('{v}', 'running')",
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        f"CREATE INDEX {t}_name ON {t} (name)",
    ]
    if fail:
        body.append(f"INSERT INTO {t} (id, name) VALUES (1, NULL)")  # NOT NULL fails
    body += [
        f"INSERT INTO tracking VALUES ('{v}', 'create_{t}', 'applied')",
        f"UPDATE log SET outcome = 'ok' WHERE version = '{v}'",
    ]
    return body


def _ok(step: int) -> dict[str, Any]:
    return {"type": "ok", "step": step}


def _not(cond: dict[str, Any]) -> dict[str, Any]:
    return {"type": "not", "cond": cond}


def _and(*conds: dict[str, Any]) -> dict[str, Any]:
    return {"type": "and", "conds": list(conds)}


def _step(sql: str, cond: dict[str, Any] | None) -> dict[str, Any]:
    step: dict[str, Any] = {"stmt": {"sql": sql, "want_rows": False}}
    if cond is not None:
        step["condition"] = cond
    return step


def groups(count: int, fail_at: int, guard: bool) -> tuple[list[dict[str, Any]], list[int]]:
    """One batch of ``count`` BEGIN..COMMIT groups; also each group's COMMIT step index.
    ``guard``: add ``not is_autocommit`` (Hrana 3) after BEGIN and on COMMIT."""
    steps: list[dict[str, Any]] = []
    commits: list[int] = []
    in_tx = _not({"type": "is_autocommit"})
    for k in range(1, count + 1):
        begin = len(steps)
        steps.append(_step("BEGIN", _ok(commits[-1]) if commits else None))
        for sql in [*migration_sql(k, k == fail_at), "COMMIT"]:
            prev = _ok(len(steps) - 1)
            steps.append(_step(sql, _and(prev, in_tx) if guard else prev))
        commits.append(len(steps) - 1)
        steps.append(_step("ROLLBACK", _and(_ok(begin), _not(_ok(commits[-1])))))
    return steps, commits


def one_group(k: int, fail: bool) -> list[dict[str, Any]]:
    """Migration ``k`` alone, as the ws driver sends a unit today."""
    body = [_step("BEGIN", None)]
    for sql in [*migration_sql(k, fail), "COMMIT"]:
        body.append(_step(sql, _ok(len(body) - 1)))
    body.append(_step("ROLLBACK", _not(_ok(len(body) - 1))))
    return body


@contextlib.contextmanager
def hrana3() -> Iterator[None]:
    """libsql-client clients created inside ask for the ``hrana3`` subprotocol."""

    class Hrana3Conn(hrana_conn.HranaConn):
        async def _do_connect(self, session: Any, url: str) -> Any:
            return await session.ws_connect(
                url, protocols=["hrana3", "hrana2"], autoclose=False, autoping=True
            )

    original = hrana_client.HranaClient._open_conn

    def open_conn(self: Any) -> hrana_conn.HranaConn:
        return Hrana3Conn(self._session, self._url, self._auth_token)

    hrana_client.HranaClient._open_conn = open_conn  # type: ignore[method-assign]
    try:
        yield
    finally:
        hrana_client.HranaClient._open_conn = original  # type: ignore[method-assign]


def run_variant(
    url: str, variant: str, count: int, fail_at: int, requests: Callable[[], int] = lambda: 0
) -> tuple[float, int, str, int]:
    """Apply ``count`` migrations one way on a fresh database at ``url``: (seconds from
    the first send to the last answer, migrations committed, negotiated subprotocol,
    Hrana requests sent meanwhile as ``requests()`` counts them)."""
    with contextlib.ExitStack() as stack:
        if variant.endswith("(hrana3)"):
            stack.enter_context(hrana3())
        client = stack.enter_context(libsql_client.create_client_sync(url))
        client.batch(SETUP)
        stream = RawStream(client)
        protocol = client._client._conn._socket.protocol  # type: ignore[attr-defined]
        sent = requests()
        started = time.perf_counter()
        if variant == "per-migration":
            for k in range(1, count + 1):
                result = stream.batch(one_group(k, k == fail_at), close=False)
                if result["step_errors"][-2] is not None or result["step_results"][-2] is None:
                    break  # COMMIT did not run: stop, as the engine does
        else:
            steps, _ = groups(count, fail_at, guard=variant.endswith("(hrana3)"))
            result = stream.batch(steps, close=False)
        elapsed = time.perf_counter() - started
        sent = requests() - sent
        stream.close()
        committed = int(client.execute("SELECT count(*) FROM tracking").rows[0][0])
        tables = int(
            client.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't[0-9]*'"
            ).rows[0][0]
        )
        if tables != committed:
            raise SystemExit(f"{variant}: {tables} tables but {committed} tracking rows")
    return elapsed, committed, str(protocol), sent


def probe_guard_on_hrana2(url: str) -> str:
    """What sqld answers to ``is_autocommit`` on libsql-client's own (``hrana2``) socket."""
    with libsql_client.create_client_sync(url) as client:
        client.batch(SETUP)
        try:
            RawStream(client).batch(groups(1, 0, guard=True)[0], close=False)
        except libsql_client.LibsqlError as exc:
            return f"refused, {exc.code}: {exc.explanation}"
        return "accepted"
