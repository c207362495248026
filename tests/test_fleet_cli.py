"""Fleet mode through the real command line: many local databases, one of them broken."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from subprocess import PIPE

import pytest

from tests.support.namespaces import NamespacedSqld
from tests.support.project import BIN, Project, Run

M = "-- migrate:up\nCREATE TABLE t{n} (id INTEGER);\n-- migrate:down\nDROP TABLE t{n};\n"


def test_fleet_of_local_files(tmp_path):
    project = Project(tmp_path / "app", "file:unused.db")
    for n in (1, 2):
        project.write(f"2025010100000{n}_t{n}.sql", M.format(n=n))
    tenants = project.root / "tenants"
    tenants.mkdir()
    for name in ("a", "b", "c", "d"):
        sqlite3.connect(tenants / f"{name}.db").close()
    broken = sqlite3.connect(tenants / "c.db")
    broken.execute("CREATE TABLE t2 (already INTEGER)")  # makes the 2nd migration fail there
    broken.close()

    run = project.invoke("migrate.up", "--fleet", "tenants/*.db", "--jobs", "2")
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    rows = [line.split() for line in run.out.splitlines() if line.startswith("tenants/")]
    rows = [row for row in rows if len(row) > 2]  # table rows, not the detail headings
    assert sorted(row[1] for row in rows) == ["failed", "ok", "ok", "ok"]
    failed = [" ".join(row) for row in rows if row[1] == "failed"]
    assert len(failed) == 1 and "c.db" in failed[0]
    assert "table t2 already exists" in run.out

    doc = project.invoke("migrate.status", "--fleet", "tenants/*.db", "--json").json
    assert len(doc["databases"]) == 4

    fixed = sqlite3.connect(tenants / "c.db")
    fixed.execute("DROP TABLE t2")
    fixed.close()
    run = project.invoke("migrate.up", "--fleet", "tenants/*.db")
    assert run.code == 0, run.err
    for name in "abcd":
        conn = sqlite3.connect(tenants / f"{name}.db")
        applied = conn.execute(
            "SELECT count(*) FROM schema_migrations_log WHERE outcome = 'applied'"
        ).fetchone()
        conn.close()
        assert applied == (2,), name  # each database applied each migration exactly once
    assert project.invoke("migrate.status", "--check", "--fleet", "tenants/*.db").code == 0


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_fleet_of_files_runs_its_databases_in_worker_processes(tmp_path, jobs):
    """The native driver holds the GIL for each whole call (COMMIT and its fsyncs too),
    so worker threads ran one local database at a time: with --jobs above 1 each one is
    migrated by a forked worker process. Each database records the process id its lease
    names while the migration runs (the lock row of that run)."""
    project = Project(tmp_path / "app", "file:unused.db")
    project.write(
        "20250101000001_worker.sql",
        "-- migrate:up\nCREATE TABLE worker AS SELECT pid FROM schema_migrations_lock;\n"
        "-- migrate:down\nDROP TABLE worker;\n",
    )
    project.write("20250101000002_t2.sql", M.format(n=2))
    tenants = project.root / "tenants"
    tenants.mkdir()
    names = [f"{letter}.db" for letter in "abcde"]
    for name in names:
        sqlite3.connect(tenants / name).close()
    argv = [str(BIN / "libsql-migrate"), "up", "--fleet", "tenants/*.db", "--jobs", str(jobs)]
    with subprocess.Popen(
        argv, cwd=project.root, env=project.env(), stdout=PIPE, stderr=PIPE, text=True
    ) as proc:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "5 databases: 5 ok, 0 failed, 0 skipped" in out
    pids = set()
    for name in names:
        with contextlib.closing(sqlite3.connect(tenants / name)) as db:
            pids.add(db.execute("SELECT pid FROM worker").fetchone()[0])
            assert db.execute("SELECT count(*) FROM schema_migrations").fetchone() == (2,)
            assert db.execute("SELECT count(*) FROM schema_migrations_lock").fetchone() == (0,)
    if jobs == 1:
        assert pids == {proc.pid}  # one database at a time: no workers to start
    else:
        assert proc.pid not in pids and all(isinstance(p, int) and p > 0 for p in pids)


def test_fail_fast_with_worker_processes(tmp_path):
    """--fail-fast with worker processes: a worker whose database failed starts no other,
    so with every database broken at most --jobs of them fail (one per worker) and the
    rest are skipped, untouched. (Ignoring the flag would fail all eight.)"""
    project = Project(tmp_path / "app", "file:unused.db")
    project.write("20250101000001_t1.sql", M.format(n=1))
    tenants = project.root / "tenants"
    tenants.mkdir()
    names = [f"{letter}.db" for letter in "abcdefgh"]
    for name in names:
        with contextlib.closing(sqlite3.connect(tenants / name)) as db:
            db.execute("CREATE TABLE t1 (already INTEGER)")  # the migration fails everywhere
    argv = [str(BIN / "libsql-migrate"), "up", "--fleet", "tenants/*.db", "--jobs", "2"]
    argv += ["--fail-fast", "--json"]
    done = subprocess.run(
        argv, cwd=project.root, env=project.env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    outcomes = {d["target"]: d["outcome"] for d in json.loads(done.stdout)["databases"]}
    failed = [t for t, o in outcomes.items() if o == "failed"]
    skipped = [t for t, o in outcomes.items() if o == "skipped"]
    assert 1 <= len(failed) <= 2 and len(failed) + len(skipped) == len(names), outcomes
    for target in skipped:
        with contextlib.closing(sqlite3.connect(project.root / target)) as db:
            tables = db.execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == [("t1",)], target  # never started: no tracking tables


WORKER_DIES = """
import os, sys
from pathlib import Path
from migrate_tasks.config.settings import Settings
from migrate_tasks.fleet import runner as fleet

def run(engine):
    if engine.driver.display_url.endswith("b.db"):
        os._exit(9)  # as if killed while migrating
    return fleet.up_operation().run(engine)

targets = fleet.discover_targets("tenants/*.db", cwd=Path.cwd())
settings = Settings(url="file:unused.db", directory=Path("migrations"), table="schema_migrations")
results = fleet.run_fleet(targets, fleet.Operation("up", run), settings=settings, jobs=2)
for r in results:
    print(r.target, r.outcome, r.error or "")
"""


def test_a_worker_process_that_dies_fails_its_databases_not_the_fleet(tmp_path):
    """A worker killed mid-run (here: it exits while on b.db) leaves the main process
    standing: every database not done by then is reported failed with why, and a rerun
    completes them."""
    project = Project(tmp_path / "app", "file:unused.db")
    project.write("20250101000001_t1.sql", M.format(n=1))
    tenants = project.root / "tenants"
    tenants.mkdir()
    for name in "abcd":
        sqlite3.connect(tenants / f"{name}.db").close()
    done = subprocess.run(
        [sys.executable, "-c", WORKER_DIES],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert sorted(lines) == [f"tenants/{n}.db" for n in "abcd"]
    assert lines["tenants/b.db"].startswith("failed a worker process ended unexpectedly")
    assert all(v.startswith(("ok", "failed a worker process")) for v in lines.values())
    run = project.invoke("migrate.up", "--fleet", "tenants/*.db")
    assert run.code == 0, run.err
    for name in "abcd":
        with contextlib.closing(sqlite3.connect(tenants / f"{name}.db")) as db:
            assert db.execute("SELECT count(*) FROM schema_migrations").fetchone() == (1,)


def test_fleet_needs_something_to_run_on(tmp_path):
    project = Project(tmp_path / "app", "file:unused.db")
    project.write("20250101000001_t1.sql", M.format(n=1))
    run = project.invoke("migrate.up", "--fleet", "nothing/*.db")
    assert run.code == 2 and "Traceback" not in run.err


def test_a_protected_fleet_rollback_asks_once_before_any_database(tmp_path):
    project = Project(tmp_path / "app", "file:unused.db")
    project.write("20250101000001_t1.sql", M.format(n=1))
    (project.root / "invoke.yaml").write_text(
        "migrate:\n  environments:\n    production:\n      protected: true\n"
    )
    tenants = project.root / "tenants"
    tenants.mkdir()
    for name in ("a", "b"):
        sqlite3.connect(tenants / f"{name}.db").close()
    assert project.invoke("migrate.up", "--fleet", "tenants/*.db", "-e", "production").code == 0

    run = project.invoke("migrate.down", "--fleet", "tenants/*.db", "-e", "production")
    assert run.code == 2, run.err
    assert (
        "error: environment 'production' is protected: about to roll back on every database"
        " of the fleet. There is no terminal to confirm on; pass --yes to confirm (for CI)"
    ) in run.err
    for name in "ab":
        conn = sqlite3.connect(tenants / f"{name}.db")
        assert conn.execute("SELECT status FROM schema_migrations").fetchall() == [("applied",)]
        conn.close()
    run = project.invoke("migrate.down", "--fleet", "tenants/*.db", "-e", "production", "--yes")
    assert run.code == 0, run.err


@pytest.mark.sqld
@pytest.mark.target("http")
@pytest.mark.parametrize("program", ["invoke", "libsql-migrate"])
def test_namespaces_addressed_as_localhost_names(sqld_bin, tmp_path, program):
    """``http://NS.localhost:PORT`` in a fleet file and as --url, through the real programs,
    whether or not this machine's resolver knows ``*.localhost`` names (test_localhost.py
    makes the resolver refuse them in-process, on any machine)."""
    # real processes: each program sets up the drivers' way past the resolver itself
    project = Project(tmp_path / "app", "file:unused.db", in_process=False)
    for n in (1, 2):
        project.write(f"2025010100000{n}_t{n}.sql", M.format(n=n))

    def run(task: str, *args: str) -> Run:
        if program == "invoke":
            return project.invoke(f"migrate.{task}", *args, LIBSQL_URL=None)
        return project.cli(task, *args, LIBSQL_URL=None)

    with NamespacedSqld(sqld_bin, tmp_path / "ns-sqld") as server:
        for name in ("tenant1", "tenant2"):
            server.create(name)
        port = server.server.port
        fleet = project.root / "tenants.txt"
        fleet.write_text(f"http://tenant1.localhost:{port}\nhttp://tenant2.localhost:{port}\n")
        up = run("up", "--fleet", "tenants.txt")
        assert up.code == 0, up.out + up.err
        assert "cannot resolve" not in up.out + up.err
        url = f"http://tenant1.localhost:{port}"
        status = run("status", "--check", "--url", url)
        assert status.code == 0, status.out + status.err
        assert "2 of 2 migrations applied" in status.out
        down = run("down", "--url", url)
        assert down.code == 0, down.err
        assert "database http://tenant1.localhost:" in down.err
        assert server.query("tenant1", "SELECT count(*) FROM sqlite_master WHERE name = 't2'") == [
            (0,)
        ]
        assert server.query("tenant2", "SELECT count(*) FROM sqlite_master WHERE name = 't2'") == [
            (1,)
        ]
        names = project.root / "names.txt"
        names.write_text("tenant1\ntenant2\n")
        admin = f"http://sqld-admin.localhost:{server.admin_port}"
        base = f"http://sqld.localhost:{port}"
        again = run("up", "--admin-url", admin, "--url", base, "--fleet", "names.txt")
        assert again.code == 0, again.out + again.err
        assert server.query("tenant1", "SELECT count(*) FROM sqlite_master WHERE name = 't2'") == [
            (1,)
        ]

        # the WebSocket driver reaches the same namespace, resolver or not
        ws = run("status", "--check", "--url", f"ws://tenant1.localhost:{port}")
        assert ws.code == 0, ws.out + ws.err
        assert "2 of 2 migrations applied" in ws.out
