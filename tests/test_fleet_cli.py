"""Fleet mode through the real command line: many local databases, one of them broken."""

from __future__ import annotations

import sqlite3

from tests.support.project import Project

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


def test_fleet_needs_something_to_run_on(tmp_path):
    project = Project(tmp_path / "app", "file:unused.db")
    project.write("20250101000001_t1.sql", M.format(n=1))
    run = project.invoke("migrate.up", "--fleet", "nothing/*.db")
    assert run.code == 2 and "Traceback" not in run.err
