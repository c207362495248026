"""The engine's decisions, without a database: a recording fake driver
(``tests/support/fake_driver.py``) answers from a script and remembers every call.

What is checked here is how the engine batches steps and maps a failure back to a
migration, a statement or the lock; that real databases behave as the fake is scripted
to is the contract suite's job (``test_driver_contract.py``), and the lifecycle tests
run the same paths against real ones.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.engine import lock as lock_module
from migrate_tasks.engine.batch import Batch
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.engine.runner import unit_calls
from migrate_tasks.engine.tracking import Actor, Holder
from migrate_tasks.errors import (
    ConnectionFailed,
    DatabaseError,
    LockLost,
    LockTimeout,
    MigrationFailed,
    UsageError,
)
from tests.support.fake_driver import FakeDriver

TABLE = "schema_migrations"
ACTOR = Actor("me", "here", 1)
LOCK = RunOptions(lock_timeout=0)
ACQUIRE = 'INSERT INTO "schema_migrations_lock" (id, owner'
RENEW = 'UPDATE "schema_migrations_lock" SET expires_at'
LEASE = 'SELECT owner, "user", host, pid'
MOVE_UP = 'INSERT INTO "schema_migrations" (version, name, checksum, status)'
LOG_ROW = 'INSERT INTO "schema_migrations_log" (version, name, action, started_at, outcome'
CLOSE_LOG = 'UPDATE "schema_migrations_log" SET finished_at'
STAMP = "UPDATE \"schema_migrations\" SET status = 'applied'"
RELEASE = 'DELETE FROM "schema_migrations_lock" WHERE id = 1 AND owner = ?'
FAILED_LOG = "outcome = 'failed'"
LOST = "bad JSON path: 'migrate_tasks:lock_lost:'"

A = "-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n"
B = (
    "-- migrate:up\nCREATE TABLE b (x);\nINSERT INTO nope VALUES (1);\n"
    "-- migrate:down\nDROP TABLE b;\n"
)


def engine_for(tmp_path: Path, files: dict[str, str], driver: FakeDriver) -> Engine:
    folder = tmp_path / "migrations"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return Engine(driver, folder, TABLE, ACTOR)


def holding_the_lock(**capabilities: bool) -> FakeDriver:
    """A fake on an empty database whose lease we get, and keep, whenever we ask."""
    return FakeDriver(**capabilities).answer(ACQUIRE, [("owner",)]).answer(RENEW, [("owner",)])


def starts(sql: list[str], *prefixes: str) -> bool:
    return len(sql) == len(prefixes) and all(
        s.startswith(p) for s, p in zip(sql, prefixes, strict=True)
    )


def test_the_fake_has_everything_the_protocol_asks_for() -> None:
    wanted = {n for n in dir(Driver) if not n.startswith("_")} | set(Driver.__annotations__)
    assert wanted <= set(dir(FakeDriver())), wanted - set(dir(FakeDriver()))


# -- batching: which steps go in which call, in order ---------------------------------


def test_each_migration_is_one_call_between_the_lock_and_its_release(tmp_path: Path) -> None:
    driver = holding_the_lock()
    engine = engine_for(tmp_path, {"20250101000001_a.sql": A}, driver)
    outcome = engine.migrate("up", options=LOCK)
    assert [r.version for r in outcome.results] == ["20250101000001"]
    assert driver.kinds() == ["query_many", "atomic", "atomic", "atomic"]
    attempt, unit, release = driver.writes()
    assert attempt.sql[1].startswith(LEASE) and ACQUIRE in attempt.sql[2]
    assert attempt.sql[3].startswith(LEASE)
    assert starts(unit.sql, RENEW, LOG_ROW, MOVE_UP, "CREATE TABLE a (x)", CLOSE_LOG, STAMP)
    assert starts(release.sql, RELEASE)


# -- failure mapping ------------------------------------------------------------------


def test_a_failing_statement_is_named_by_file_line_and_text(tmp_path: Path) -> None:
    driver = holding_the_lock().fail("INSERT INTO nope", "no such table: nope")
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    engine = engine_for(tmp_path, files, driver)
    with pytest.raises(MigrationFailed) as info:
        engine.migrate("up", options=LOCK)
    failed = info.value
    assert (failed.version, failed.line, failed.sql) == (
        "20250101000002",
        3,
        "INSERT INTO nope VALUES (1)",
    )
    assert failed.path.endswith("20250101000002_b.sql") and not failed.partial
    assert failed.db_message == "no such table: nope"
    log_failure = driver.writes()[-2]  # then the release
    assert any(FAILED_LOG in sql for sql in log_failure.sql)
    assert "no such table: nope" in log_failure.steps[0].params


def test_a_tracking_row_another_run_moved_is_a_conflict(tmp_path: Path) -> None:
    driver = holding_the_lock().fail(MOVE_UP, "CHECK constraint failed: state_transition")
    engine = engine_for(tmp_path, {"20250101000001_a.sql": A}, driver)
    with pytest.raises(MigrationFailed) as info:
        engine.migrate("up", options=LOCK)
    assert "another run changed this migration's state meanwhile" in str(info.value)
    assert "nothing of it was run" in str(info.value) and info.value.line is None


def test_a_lease_lost_while_running_stops_after_the_unit(tmp_path: Path) -> None:
    driver = holding_the_lock().answer(RENEW, [])  # the renewal finds the lease gone
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    engine = engine_for(tmp_path, files, driver)
    with pytest.raises(LockLost) as info:
        engine.migrate("up", options=LOCK)
    assert "stopped after 20250101000001_a, which completed" in str(info.value)
    assert not any("CREATE TABLE b" in c.sql for c in driver.writes())


def test_an_added_check_that_fails_says_what_it_found(tmp_path: Path) -> None:
    alter = (
        "-- migrate:up\nUPDATE t SET x = 0;\nALTER TABLE t ALTER COLUMN x TO x INTEGER NOT NULL;\n"
        "-- migrate:down\nSELECT 1;\n"
    )
    found = "bad JSON path: 'migrate_tasks:alter_column:NULL value in t.x'"
    driver = holding_the_lock().fail("FROM pragma_quick_check(?)", found)
    engine = engine_for(tmp_path, {"20250101000001_t.sql": alter}, driver)
    with pytest.raises(MigrationFailed) as info:
        engine.migrate("up", options=LOCK)
    assert info.value.line == 3 and info.value.sql is not None and "ALTER COLUMN" in info.value.sql
    assert "existing rows do not satisfy the new column definition" in info.value.db_message
    assert "NULL value in t.x" in info.value.db_message


def test_transaction_false_keeps_what_ran_before_the_failure(tmp_path: Path) -> None:
    loose = (
        "-- migrate:up transaction:false\nCREATE TABLE a (x);\nINSERT INTO nope VALUES (1);\n"
        "CREATE TABLE c (x);\n-- migrate:down\nDROP TABLE a;\n"
    )
    driver = holding_the_lock().fail("INSERT INTO nope", "no such table: nope")
    engine = engine_for(tmp_path, {"20250101000001_a.sql": loose}, driver)
    with pytest.raises(MigrationFailed) as info:
        engine.migrate("up", options=LOCK)
    assert info.value.partial and info.value.line == 3
    kinds = [c.kind for c in driver.writes()]
    assert kinds == ["atomic", "atomic", "each", "atomic", "atomic"]  # no closing rows
    opening, statements = driver.writes()[1:3]
    assert starts(opening.sql, RENEW, LOG_ROW, MOVE_UP)
    assert opening.steps[2].params[-1] == "failed"  # recorded 'failed' until it finishes
    assert statements.sql == ["CREATE TABLE a (x)", "INSERT INTO nope VALUES (1)"]


# -- the lock -------------------------------------------------------------------------


def test_a_lease_held_by_another_run_times_out_naming_it(tmp_path: Path) -> None:
    lease = ("them", "alice", "box", 42, "2025-01-01T00:00:00Z", 10**12, 10**9)
    driver = FakeDriver().answer(ACQUIRE, []).answer(LEASE, [lease])
    engine = engine_for(tmp_path, {"20250101000001_a.sql": A}, driver)
    with pytest.raises(LockTimeout) as info:
        engine.migrate("up", options=LOCK)
    assert "held by alice@box (pid 42)" in str(info.value)
    assert not any("CREATE TABLE a" in c.sql for c in driver.writes())


def test_a_lease_released_before_the_attempt_is_taken_without_a_take_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The waiter read a live holder whose process then released the lease and exited:
    the attempt finds no lease (part "before"), so nothing was taken over from anyone."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # the holder's process is gone: its pid is free
    gone = Holder("them:1", "alice", ACTOR.host, ended.pid, "2025-01-01T00:00:00Z", 10**12, 10**9)
    driver = FakeDriver().answer(ACQUIRE, [("me",)]).answer(LEASE, [], times=1)
    lock = engine_for(tmp_path, {}, driver).new_lock(LOCK)
    with caplog.at_level(logging.WARNING, logger="migrate_tasks"):
        lock.acquire(Batch(), holder=gone)
    assert lock.held
    assert "took over" not in caplog.text


def test_a_gone_process_is_told_by_its_pid_but_never_with_os_kill_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Windows ``os.kill(pid, 0)`` terminates the process: a run waiting for the lock
    would have killed the (live) run holding it on the same machine."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert lock_module.process_gone(ended.pid)
    assert not lock_module.process_gone(os.getpid())
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(lock_module, "_WINDOWS", True)
    monkeypatch.setattr(lock_module.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    assert not lock_module.process_gone(ended.pid)  # its lease goes when it expires
    assert killed == []


def test_an_expired_lease_found_by_the_attempt_is_reported_as_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expired = ("them:1", "alice", "box", 42, "2025-01-01T00:00:00Z", 10**9 - 5, 10**9)
    driver = FakeDriver().answer(ACQUIRE, [("me",)]).answer(LEASE, [expired], times=1)
    lock = engine_for(tmp_path, {}, driver).new_lock(LOCK)
    with caplog.at_level(logging.WARNING, logger="migrate_tasks"):
        lock.acquire(Batch(), holder=None)
    assert "took over the migration lock from alice@box (pid 42)" in caplog.text
    assert "its lease had expired" in caplog.text


# -- --single-transaction -------------------------------------------------------------


def test_single_transaction_failure_names_the_statement_and_the_others(tmp_path: Path) -> None:
    driver = holding_the_lock().fail("INSERT INTO nope", "no such table: nope")
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    engine = engine_for(tmp_path, files, driver)
    with pytest.raises(MigrationFailed) as info:
        engine.migrate("up", single_transaction=True, options=LOCK)
    assert (info.value.version, info.value.line) == ("20250101000002", 3)
    assert "nothing of the other 1 pending migration(s) was applied either" in str(info.value)
    _attempt, one, _log = driver.writes()[:3]
    assert "CREATE TABLE a (x)" in one.sql and one.sql[-1] == "INSERT INTO nope VALUES (1)"


def test_single_transaction_conflict_and_lost_lease_are_located_by_part(tmp_path: Path) -> None:
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B.replace("nope", "b")}
    moved = holding_the_lock().fail(
        lambda s: s.sql.startswith(MOVE_UP) and s.params[0] == "20250101000002",
        "CHECK constraint failed: state_transition",
    )
    with pytest.raises(MigrationFailed) as info:
        engine_for(tmp_path / "1", files, moved).migrate(
            "up", single_transaction=True, options=LOCK
        )
    assert info.value.version == "20250101000002"
    assert "another run changed this migration's state meanwhile" in str(info.value)

    lost = holding_the_lock().fail("json_extract('{}', 'migrate_tasks:lock_lost:')", LOST)
    with pytest.raises(LockLost, match="before the transaction started"):
        engine_for(tmp_path / "2", files, lost).migrate("up", single_transaction=True, options=LOCK)


# -- results travel on the error ------------------------------------------------------


def test_results_completed_before_a_failure_travel_on_the_error(tmp_path: Path) -> None:
    driver = holding_the_lock().fail("INSERT INTO nope", "no such table: nope")
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    with pytest.raises(MigrationFailed) as info:
        engine_for(tmp_path, files, driver).migrate("up", options=LOCK)
    assert info.value.completed is not None
    assert [(r.version, r.name, r.statements) for r in info.value.completed] == [
        ("20250101000001", "a", 1)
    ]


def test_the_unit_that_completed_when_the_lease_was_lost_counts(tmp_path: Path) -> None:
    driver = holding_the_lock().answer(RENEW, [])
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    with pytest.raises(LockLost) as info:
        engine_for(tmp_path, files, driver).migrate("up", options=LOCK)
    assert [r.version for r in info.value.completed or []] == ["20250101000001"]


def test_a_lost_connection_leaves_what_completed_unknown(tmp_path: Path) -> None:
    """The unit in flight may or may not have committed: None, not a guess."""
    lost = ConnectionFailed("cannot reach fake:db: the server closed the connection")
    driver = holding_the_lock().raises("CREATE TABLE b", lost)
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    with pytest.raises(ConnectionFailed) as info:
        engine_for(tmp_path, files, driver).migrate("up", options=LOCK)
    assert info.value.completed is None
    assert any("CREATE TABLE a (x)" in c.sql for c in driver.writes())  # A did complete


def test_failures_before_anything_ran_complete_nothing(tmp_path: Path) -> None:
    driver = holding_the_lock().fail("INSERT INTO nope", "no such table: nope")
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    engine = engine_for(tmp_path, files, driver)
    with pytest.raises(UsageError) as usage:
        engine.migrate("down", single_transaction=True, options=LOCK)
    assert usage.value.completed == []
    with pytest.raises(MigrationFailed) as single:
        engine.migrate("up", single_transaction=True, options=LOCK)
    assert single.value.completed == []  # all or nothing


# -- named parts ----------------------------------------------------------------------


def test_a_batch_names_its_parts_and_produces_them_lazily() -> None:
    produced: list[str] = []

    def statements() -> Iterator[Step]:
        for sql in ("S1", "S2"):
            produced.append(sql)
            yield Step(sql)

    batch = Batch().add("first", [Step("F")]).add("empty", []).add("statements", statements())
    batch.add("last", [Step("L1"), Step("L2")])
    with pytest.raises(ValueError, match="one part named 'last'"):
        batch.add("last", [])
    assert produced == []  # nothing until a driver iterates it
    steps = iter(batch)
    assert next(steps).sql == "F" and next(steps).sql == "S1" and produced == ["S1"]
    assert batch.current() == "statements"
    assert [s.sql for s in steps] == ["S2", "L1", "L2"]
    assert [batch.locate(i) for i in range(5)] == [
        ("first", 0), ("statements", 0), ("statements", 1), ("last", 0), ("last", 1)
    ]  # fmt: skip
    parts = batch.split(["f", "s1", "s2", "l1", "l2"])
    assert parts == {"first": ["f"], "empty": [], "statements": ["s1", "s2"], "last": ["l1", "l2"]}


def test_a_unit_call_names_its_parts_in_order(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, {"20250101000001_a.sql": A}, FakeDriver())
    unit = engine.migrations.unit("20250101000001", "up")
    one = unit_calls(unit, engine.ledger, ACTOR, Step("RENEW"), then=[Step("THEN")])
    ((kind, batch),) = one.calls()
    assert kind == "atomic" and isinstance(batch, Batch)
    assert batch.names() == ["renew", "log", "move", "statements", "finish", "then"]
    steps = [s.sql for s in batch]
    assert steps[0] == "RENEW" and steps[3] == "CREATE TABLE a (x)" and steps[-1] == "THEN"
    assert batch.locate(3) == ("statements", 0) and batch.locate(2) == ("move", 0)


def test_a_transaction_false_unit_makes_three_named_calls(tmp_path: Path) -> None:
    loose = "-- migrate:up transaction:false\nCREATE TABLE a (x);\n-- migrate:down\nSELECT 1;\n"
    engine = engine_for(tmp_path, {"20250101000001_a.sql": loose}, FakeDriver())
    unit = engine.migrations.unit("20250101000001", "up")
    calls = unit_calls(unit, engine.ledger, ACTOR).calls()
    assert [kind for kind, _ in calls] == ["atomic", "each", "atomic"]
    assert [b.names() for _, b in calls if isinstance(b, Batch)] == [
        ["renew", "log", "move"], ["statements"], ["finish", "then"]
    ]  # fmt: skip


def test_the_lock_attempt_carries_the_callers_parts_and_answers_by_name(tmp_path: Path) -> None:
    driver = FakeDriver().answer(ACQUIRE, [("owner",)]).answer("SELECT 42", [(42,)])
    engine = engine_for(tmp_path, {}, driver)
    lock = engine.new_lock(LOCK)
    then = Batch().add("setup", []).add("mine", [Step("SELECT 42")])
    assert lock.attempt(then).names() == [
        "lock table", "before", "take", "lease", "setup", "mine"
    ]  # fmt: skip
    assert lock.acquire(Batch().add("mine", [Step("SELECT 42")]), holder=None) == {
        "mine": [[(42,)]]
    }
    assert lock.held


def test_a_dry_run_previews_the_calls_a_run_makes(tmp_path: Path) -> None:
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B}
    driver = holding_the_lock()
    outcome = engine_for(tmp_path, files, driver).migrate("up", options=RunOptions(dry_run=True))
    assert driver.writes() == []  # a dry run only reads
    assert outcome.calls is not None
    batches = [b for _, b in outcome.calls if isinstance(b, Batch)]
    names = ["lock table", "before", "take", "lease", "setup", "tables", "records", "references"]
    assert batches[0].names() == names
    assert [b.names()[:4] for b in batches[1:]] == [["renew", "log", "move", "statements"]] * 2
    kind, release = outcome.calls[-1]
    assert kind == "atomic" and starts([s.sql for s in release], RELEASE)


def test_single_transaction_results_take_the_time_the_database_measured(tmp_path: Path) -> None:
    files = {"20250101000001_a.sql": A, "20250101000002_b.sql": B.replace("nope", "b")}
    driver = holding_the_lock()
    for version, ms in (("20250101000001", 7), ("20250101000002", 11)):
        driver.answer(
            lambda s, v=version: "RETURNING execution_ms" in s.sql and v in s.params, [(ms,)]
        )
    outcome = engine_for(tmp_path, files, driver).migrate(
        "up", single_transaction=True, options=LOCK
    )
    assert [(r.version, r.duration_ms) for r in outcome.results] == [
        ("20250101000001", 7.0),
        ("20250101000002", 11.0),
    ]
    assert driver.kinds() == ["query_many", "atomic", "atomic"]  # the release is inside


def test_a_history_that_cannot_be_read_leaves_what_completed_unknown(tmp_path: Path) -> None:
    broken = DatabaseError("file is not a database", "SQLITE_NOTADB")
    driver = holding_the_lock().raises("JOIN pragma_table_info(t.name)", broken)
    with pytest.raises(DatabaseError) as info:
        engine_for(tmp_path, {"20250101000001_a.sql": A}, driver).migrate("up", options=LOCK)
    assert info.value.completed is None and driver.writes() == []
