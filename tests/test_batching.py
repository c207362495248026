"""sqld over HTTP and WebSocket: many migrations per request, each still its own
transaction (issue 13); over HTTP on one kept Hrana stream. Real sqld, real programs;
requests (over WebSocket: batch messages) counted by the loopback proxy. Faults and
crashes in this mode: test_network_faults.py and test_crash.py."""

from __future__ import annotations

import math
import time
from contextlib import closing

import pytest

from migrate_tasks.config import defaults
from migrate_tasks.drivers import Driver, Step, open_driver, ws_client
from migrate_tasks.drivers import hrana_session as session_module
from migrate_tasks.drivers.base import Group
from migrate_tasks.drivers.groups import GroupBatch
from migrate_tasks.drivers.hrana import IN_TRANSACTION
from migrate_tasks.drivers.http import HranaHttpDriver
from migrate_tasks.drivers.ws_client import RawStream
from migrate_tasks.errors import DatabaseError, StatementError
from tests.support.project import Project, write_tables
from tests.support.proxy import FaultProxy

#: Most tests here are about the HTTP driver's stream and requests; those that take
#: ``remote_transport`` run over WebSocket as well.
HTTP_ONLY = pytest.mark.target("http")


def remote_url(server, transport: str) -> str:
    return server.http_url if transport == "http" else server.ws_url


def url(proxy: FaultProxy, transport: str) -> str:
    return remote_url(proxy, transport)


def sent(proxy: FaultProxy) -> int:
    """Requests since the last reset: HTTP pipeline calls, or WebSocket batch messages
    (over WebSocket a read is an ``execute`` on a stream of its own, and a unit or a
    batch of units one ``batch``)."""
    return proxy.requests + proxy.ws_requests["batch"]


def read(transport: str) -> int:
    """What the run's first read counts in ``sent``: one HTTP request; over WebSocket
    ``execute`` messages, not counted."""
    return 1 if transport == "http" else 0


def requests(proxy: FaultProxy, project: Project, *args: str, **env: str) -> int:
    proxy.reset_counters()
    run = project.invoke(*args, **env)
    assert run.code == 0, run.err
    return sent(proxy)


#: Steps of one of ``write``'s migrations in a batch: lock check, renewal, log row,
#: tracking-row move, 2 statements, 2 closing rows, BEGIN, COMMIT, ROLLBACK.
STEPS_UP = 11


# -- request counts -----------------------------------------------------------------------


def test_up_and_down_of_200_migrations_take_at_most_4_requests(proxy, tmp_path, remote_transport):
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    versions = write_tables(project, 200)
    batches = math.ceil(200 * STEPS_UP / defaults.BATCH_STEPS)
    up = requests(proxy, project, "migrate.up")
    assert up <= 3 + batches and up <= 4, up  # read, lock, the batch, release
    assert project.tracking() == dict.fromkeys(versions, "applied")
    assert len(project.schema()) == 400

    down = requests(proxy, project, "migrate.down", "--all", "--yes")
    assert down <= 4, down
    assert project.tracking() == dict.fromkeys(versions, "rolled_back")
    assert project.schema() == []


def test_the_step_budget_splits_a_run_into_requests(proxy, tmp_path, remote_transport):
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    versions = write_tables(project, 30)
    # three migrations per request: 10 batches, plus the read, the lock and the release
    env = {"INVOKE_MIGRATE_BATCH_STEPS": str(3 * STEPS_UP)}
    assert requests(proxy, project, "migrate.up", **env) == read(remote_transport) + 2 + 10
    assert project.tracking() == dict.fromkeys(versions, "applied")
    more = write_tables(project, 4, start=31)
    # a migration bigger than the byte budget still goes, on its own
    one_each = requests(proxy, project, "migrate.up", INVOKE_MIGRATE_BATCH_BYTES="1")
    assert one_each == read(remote_transport) + 2 + 4
    assert project.tracking() == dict.fromkeys(versions + more, "applied")


@HTTP_ONLY
def test_two_thousand_migrations(proxy, tmp_path):
    project = Project(tmp_path / "app", proxy.http_url)
    versions = write_tables(project, 2000)
    count = requests(proxy, project, "migrate.up")
    assert count <= 3 + math.ceil(2000 * STEPS_UP / defaults.BATCH_STEPS), count
    assert project.query("SELECT count(*) FROM schema_migrations WHERE status = 'applied'") == [
        (2000,)
    ]
    assert project.tracking()[versions[-1]] == "applied"


# -- what a failure leaves ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("INSERT INTO nope VALUES (1);", "no such table: nope"),
        ("CREATE TABLE oops (;", "could not be parsed"),  # sqld refuses the batch unrun
    ],
    ids=["runtime-error", "parse-error"],
)
def test_a_failure_in_the_middle_leaves_the_ones_before_applied(
    proxy, tmp_path, remote_transport, bad, message
):
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    versions = write_tables(project, 10)
    path = project.write(
        f"{versions[5]}_t6.sql",
        f"-- migrate:up\nCREATE TABLE t6 (id INTEGER);\n{bad}\n-- migrate:down\nDROP TABLE t6;\n",
    )
    proxy.reset_counters()
    run = project.invoke("migrate.up")
    count = sent(proxy)  # read, lock, the batch, the failure's log row, release
    assert run.code == 1, run.err
    statement = bad.rstrip(";")
    assert f"{path.name}:3" in run.err and statement in run.err and message in run.err, run.err
    assert "Traceback" not in run.err
    assert project.tracking() == dict.fromkeys(versions[:5], "applied")
    assert {r[1] for r in project.schema() if r[0] == "table"} == {f"t{n}" for n in range(1, 6)}
    log = project.log()
    assert [(r[0], r[2]) for r in log if r[0] == versions[5]] == [(versions[5], "failed")]
    assert not [r for r in log if r[0] in versions[6:]]  # nothing after it was attempted
    # a statement sqld cannot parse fails the whole batch unrun: one request finds it
    # (over WebSocket: each step of the batch in a message of its own, sent at once),
    # one more runs the migrations before it
    if message != "could not be parsed":
        assert count == read(remote_transport) + 4, count
    elif remote_transport == "http":
        assert count == 7, count

    path.write_text(
        "-- migrate:up\nCREATE TABLE t6 (id INTEGER);\n-- migrate:down\nDROP TABLE t6;\n"
    )
    assert project.invoke("migrate.up").code == 0
    assert project.tracking() == dict.fromkeys(versions, "applied")


def test_a_refused_drop_in_a_batch_is_told_as_before(proxy, tmp_path, remote_transport):
    """A DROP of a table that others reference is refused (checked inside its
    transaction, against the database as the migrations before it in the same request
    left it), with the message a migration run on its own gets."""
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    project.write(
        "20250101000001_parent.sql",
        "-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\n",
    )
    project.write(
        "20250101000002_child.sql",
        "-- migrate:up\nCREATE TABLE child (p INTEGER REFERENCES parent (id) ON DELETE CASCADE);\n",
    )
    project.write("20250101000003_drop.sql", "-- migrate:up\nDROP TABLE parent;\n")
    run = project.invoke("migrate.up")
    assert run.code != 0, run.err
    assert "DROP TABLE parent is refused: child (ON DELETE CASCADE) reference parent" in run.err
    assert project.tracking() == {"20250101000001": "applied", "20250101000002": "applied"}


@HTTP_ONLY
def test_units_that_cannot_share_a_request_run_alone_and_batching_resumes(
    proxy, tmp_path, monkeypatch
):
    """A streamed big file between ordinary migrations runs on its own (on the same
    stream); transaction:false and foreign_keys:off keep their own semantics inside the
    batch, and the ordinary ones around them share requests."""
    project = Project(tmp_path / "app", proxy.http_url)
    write_tables(project, 3, start=1)
    project.write(
        "20250101000004_nontx.sql",
        "-- migrate:up transaction:false\nCREATE TABLE n1 (id INTEGER);\nCREATE TABLE n2 (id INTEGER);\n",
    )
    write_tables(project, 3, start=5)
    rows = "\n".join(f"INSERT INTO big VALUES ({i}, '{'x' * 200}');" for i in range(6000))
    project.write(
        "20250101000008_big.sql", f"-- migrate:up\nCREATE TABLE big (id INTEGER, v TEXT);\n{rows}\n"
    )
    project.write(
        "20250101000009_rebuild.sql",
        "-- migrate:up foreign_keys:off\nCREATE TABLE t1_new (id INTEGER PRIMARY KEY, name TEXT);\n"
        "INSERT INTO t1_new SELECT * FROM t1;\nDROP TABLE t1;\nALTER TABLE t1_new RENAME TO t1;\n",
    )
    write_tables(project, 3, start=10)
    proxy.reset_counters()
    run = project.invoke("migrate.up", "--json")
    assert run.code == 0, run.err
    # read, lock; 1-7 in one request (the transaction:false one shares it); the big
    # file on its own: its lease renewal, BEGIN, and two chunks (more if the machine is
    # so slow that a chunk goes after 2 s); 9-12 (the rebuild shares); the release.
    # One request per migration would be 16 and more.
    assert 9 <= proxy.requests <= 11, proxy.requests
    assert len(run.json["migrations"]) == 12
    assert set(project.tracking().values()) == {"applied"}
    assert project.query("SELECT count(*) FROM big") == [(6000,)]
    assert project.query("PRAGMA foreign_keys") == [(1,)]


def test_nothing_commits_in_a_request_after_the_lease_is_lost(proxy, tmp_path, remote_transport):
    """Each migration's transaction checks that the run still holds the lease: once it
    is gone (here a migration deletes it, as an operator's unlock would), the migrations
    after it in the same request are not run."""
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    versions = write_tables(project, 5)
    project.write(
        f"{versions[1]}_t2.sql",
        "-- migrate:up\nCREATE TABLE t2 (id INTEGER);\nDELETE FROM schema_migrations_lock;\n",
    )
    proxy.reset_counters()
    run = project.invoke("migrate.up", "--json")
    assert run.code != 0 and "lost the migration lock" in run.err, run.err
    # read, lock, the batch, the release (nothing to release)
    assert sent(proxy) == read(remote_transport) + 3
    assert project.tracking() == dict.fromkeys(versions[:2], "applied")
    assert [m["version"] for m in run.json["migrations"]] == versions[:2]


@HTTP_ONLY
def test_dry_run_shows_each_migration_as_the_batch_carries_it(proxy, tmp_path):
    project = Project(tmp_path / "app", proxy.http_url)
    write_tables(project, 3)
    assert project.invoke("migrate.up").code == 0
    proxy.reset_counters()
    dry = project.invoke("migrate.down", "--all", "--dry-run")
    assert dry.code == 0, dry.err
    assert proxy.requests == 1  # the read; nothing else
    assert dry.out.count("BEGIN;") == 5  # the lock, one per migration, the release
    assert dry.out.count("migrate_tasks:lock_lost:") == 3  # each checks the lease
    assert dry.out.count("referenced_drop") == 3  # each DROP TABLE checked in place
    assert set(project.tracking().values()) == {"applied"}


NON_TX = (
    "-- migrate:up transaction:false\nCREATE TABLE n1 (id INTEGER);\n{bad}\n"
    "CREATE TABLE n3 (id INTEGER);\n-- migrate:down\nDROP TABLE n1;\n"
)


def test_a_transaction_false_migration_shares_the_request(proxy, tmp_path, remote_transport):
    """Its opening rows (marked failed), each statement committing on its own, and its
    closing rows go in the same request as the migrations around it."""
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    versions = write_tables(project, 6)
    project.write(f"{versions[2]}_t3.sql", NON_TX.format(bad="CREATE TABLE n2 (id INTEGER);"))
    # read, lock, one batch, release
    assert requests(proxy, project, "migrate.up") == read(remote_transport) + 3
    assert project.tracking() == dict.fromkeys(versions, "applied")
    names = {r[1] for r in project.schema() if r[0] == "table"}
    assert {"n1", "n2", "n3"} <= names


@pytest.mark.parametrize(
    "bad", ["INSERT INTO nope VALUES (1);", "CREATE TABLE (;"], ids=["runtime", "parse"]
)
def test_a_failing_transaction_false_migration_in_a_request(proxy, tmp_path, remote_transport, bad):
    """Its statements before the failing one stay applied (each committed on its own),
    its row stays 'failed' until repaired, nothing after it runs; told as ever."""
    project = Project(tmp_path / "app", url(proxy, remote_transport))
    versions = write_tables(project, 6)
    path = project.write(f"{versions[2]}_t3.sql", NON_TX.format(bad=bad))
    run = project.invoke("migrate.up")
    assert run.code == 1, run.err
    assert f"{path.name}:3" in run.err and "transaction:false" in run.err, run.err
    assert project.tracking() == {**dict.fromkeys(versions[:2], "applied"), versions[2]: "failed"}
    names = {r[1] for r in project.schema() if r[0] == "table"}
    assert names == {"t1", "t2", "n1"}  # n1 committed on its own; n3 never ran
    log = project.log()
    assert [r[2] for r in log if r[0] == versions[2]] == ["failed"]
    assert not [r for r in log if r[0] in versions[3:]]


# -- the driver ---------------------------------------------------------------------------


GROUPS = [
    Group([Step("CREATE TABLE g1 (v)"), Step("INSERT INTO g1 VALUES (1)")]),
    Group([Step("CREATE TABLE g2 (v)"), Step("SELECT v FROM g1")], rows=frozenset({1})),
    Group([Step("CREATE TABLE g3 (v)"), Step("INSERT INTO nope VALUES (1)")]),
    Group([Step("CREATE TABLE g4 (v)")]),
]


def check_groups_outcome(driver: Driver) -> None:
    """``GROUPS`` ran: the first two committed, g3 rolled back, g4 never ran."""
    outcome = driver.run_groups(GROUPS)
    assert outcome.committed == [[[], []], [[], [(1,)]]]
    assert isinstance(outcome.failure, StatementError) and outcome.failure.index == 1
    assert "no such table: nope" in outcome.failure.message
    names = {r[0] for r in driver.query("SELECT name FROM sqlite_master")}
    assert names == {"g1", "g2"}
    assert driver.query("SELECT 1") == [(1,)]  # the connection is fine afterwards


def test_run_groups_commits_each_group_and_stops_at_the_first_failure(sqld, remote_transport):
    with closing(open_driver(remote_url(sqld, remote_transport))) as driver:
        check_groups_outcome(driver)


@pytest.mark.target("ws")
def test_ws_groups_are_guarded_by_is_autocommit_on_hrana3(sqld):
    """sqld offers ``hrana3`` on its WebSocket: the groups carry ``not is_autocommit``."""
    with closing(open_driver(sqld.ws_url)) as driver:
        stream = RawStream(driver._open())
        try:
            assert stream.protocol() == "hrana3"
        finally:
            stream.close()
        batch = GroupBatch(GROUPS, guard=True)
        assert IN_TRANSACTION in batch.steps[2]["condition"]["conds"]
        check_groups_outcome(driver)


@pytest.mark.target("ws")
def test_ws_groups_on_a_hrana2_socket_are_an_ok_chain(sqld, monkeypatch):
    """A server that only speaks ``hrana2`` refuses ``is_autocommit`` (sqld closes the
    socket): the same groups go as a chain of "the step before was ok"."""
    monkeypatch.setattr(ws_client._Conn, "protocols", ("hrana2",))
    with closing(open_driver(sqld.ws_url)) as driver:
        stream = RawStream(driver._open())
        try:
            assert stream.protocol() == "hrana2"
        finally:
            stream.close()
        check_groups_outcome(driver)


def test_run_groups_with_foreign_keys_off_rebuilds_a_referenced_table(sqld, remote_transport):
    """A group with ``foreign_keys_off``: the PRAGMA before its BEGIN, on the batch's own
    stream; a failing one leaves nothing, and the groups after it do not run."""
    with closing(open_driver(remote_url(sqld, remote_transport))) as driver:
        driver.run_atomic(
            [
                Step("CREATE TABLE p (id INTEGER PRIMARY KEY)"),
                Step("CREATE TABLE c (p INTEGER REFERENCES p (id) ON DELETE CASCADE)"),
                Step("INSERT INTO p VALUES (1)"),
                Step("INSERT INTO c VALUES (1)"),
            ]
        )
        rebuild = [
            Step("CREATE TABLE p_new (id INTEGER PRIMARY KEY, x TEXT)"),
            Step("INSERT INTO p_new (id) SELECT id FROM p"),
            Step("DROP TABLE p"),
            Step("ALTER TABLE p_new RENAME TO p"),
        ]
        outcome = driver.run_groups(
            [Group([Step("CREATE TABLE before (v)")]), Group(rebuild, foreign_keys_off=True)]
        )
        assert outcome.failure is None and len(outcome.committed) == 2
        assert driver.query("SELECT count(*) FROM c") == [(1,)]  # the cascade did not fire
        assert driver.query("PRAGMA foreign_keys") == [(1,)]  # on again, on the kept stream
        failing = [
            Step("INSERT INTO c VALUES (99)"),  # references nothing: fine with them off
            Step("INSERT INTO nope VALUES (1)"),
        ]
        outcome = driver.run_groups(
            [Group(failing, foreign_keys_off=True), Group([Step("CREATE TABLE after (v)")])]
        )
        assert outcome.committed == [] and isinstance(outcome.failure, StatementError)
        assert outcome.failure.index == 1 and "nope" in outcome.failure.message
        assert driver.query("SELECT p FROM c") == [(1,)]
        assert driver.query("SELECT name FROM sqlite_schema WHERE name = 'after'") == []
        with pytest.raises(StatementError):  # foreign keys are on again
            driver.run_atomic([Step("INSERT INTO c VALUES (99)")])


@HTTP_ONLY
def test_one_stream_carries_connection_state_from_request_to_request(sqld):
    """The kept stream is one connection on the server: what a request sets, the next
    one sees (before: a new stream, so a new connection, per request)."""
    with HranaHttpDriver(sqld.http_url) as driver:
        driver.run_atomic([Step("CREATE TABLE s (v)")])
        driver.run_each([Step("PRAGMA foreign_keys = OFF")])
        assert driver.query("PRAGMA foreign_keys") == [(0,)]
        driver.run_each([Step("PRAGMA foreign_keys = ON")])
        assert driver.query("PRAGMA foreign_keys") == [(1,)]


@HTTP_ONLY
def test_a_run_opens_at_most_two_streams(sqld, tmp_path, monkeypatch):
    """The first read goes on a stream of its own (closed at once: a read-only run
    leaves nothing open); from the lock on, one stream carries the whole run."""
    opened = []
    original = session_module.Session.close

    def close(self):
        opened.append(self.opened)
        original(self)

    monkeypatch.setattr(session_module.Session, "close", close)
    project = Project(tmp_path / "app", sqld.http_url)
    env = {"INVOKE_MIGRATE_BATCH_STEPS": str(STEPS_UP)}  # one migration per request
    write_tables(project, 20)
    run = project.invoke("migrate.up", in_process=True, **env)
    assert run.code == 0, run.err
    assert opened == [1], opened  # the read used a stream closed with it


@HTTP_ONLY
def test_a_stream_the_server_forgot_is_replaced_and_nothing_is_lost(sqld):
    with HranaHttpDriver(sqld.http_url) as driver:
        driver.run_atomic([Step("CREATE TABLE f (v)")])
        session = driver._session
        used = session.baton
        driver.run_atomic([Step("INSERT INTO f VALUES (1)")])
        session.baton = used  # already used: sqld refuses it before running anything
        driver.run_atomic([Step("INSERT INTO f VALUES (2)")])
        session.baton = "not-a-baton"
        driver.run_atomic([Step("INSERT INTO f VALUES (3)")])
        assert driver.query("SELECT v FROM f ORDER BY v") == [(1,), (2,), (3,)]
        assert session.opened == 3


@HTTP_ONLY
def test_an_expired_stream_is_replaced(sqld, monkeypatch):
    """sqld forgets a stream idle for 10 s (STREAM_EXPIRED); the next request goes on a
    new stream. (The driver itself starts a new one after ``IDLE_S``; here it is told
    not to, so the server's answer is what it meets.)"""
    monkeypatch.setattr(session_module, "IDLE_S", 3600.0)
    with HranaHttpDriver(sqld.http_url) as driver:
        driver.run_atomic([Step("CREATE TABLE e (v)")])
        time.sleep(12)  # waits out the server's own timer, not another process
        driver.run_atomic([Step("INSERT INTO e VALUES (1)")])
        assert driver.query("SELECT v FROM e") == [(1,)]
        assert driver._session.opened == 2


@HTTP_ONLY
def test_a_refused_request_leaves_the_stream_usable(sqld):
    with HranaHttpDriver(sqld.http_url) as driver:
        driver.run_atomic([Step("CREATE TABLE r (v)")])
        with pytest.raises(DatabaseError):
            driver.run_atomic([Step("INSERT INTO nope VALUES (1)")])
        with pytest.raises(DatabaseError):
            driver.run_atomic([Step("CREAT TABLE bad (v)")])
        driver.run_atomic([Step("INSERT INTO r VALUES (1)")])
        assert driver.query("SELECT v FROM r") == [(1,)]


@HTTP_ONLY
def test_a_stream_idle_for_long_is_not_even_tried(sqld, monkeypatch):
    """After ``IDLE_S`` without a request the next one starts a new stream rather than
    risk one that expires on its way."""
    monkeypatch.setattr(session_module, "IDLE_S", 0.0)
    with HranaHttpDriver(sqld.http_url) as driver:
        driver.run_atomic([Step("CREATE TABLE i (v)")])
        driver.run_atomic([Step("INSERT INTO i VALUES (1)")])
        assert driver._session.opened == 2
        assert driver.query("SELECT v FROM i") == [(1,)]
