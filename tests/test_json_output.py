"""``up``/``down --json``: one JSON document on stdout (docs/json.md), logs on stderr."""

from __future__ import annotations

import json

from tests.support.project import Project
from tests.support.sqld import closed_port

A = """\
-- migrate:up
CREATE TABLE a (id INTEGER PRIMARY KEY);
CREATE INDEX a_id ON a (id);

-- migrate:down
DROP TABLE a;
"""

B = """\
-- migrate:up transaction:false
CREATE TABLE b (id INTEGER PRIMARY KEY);

-- migrate:down
DROP TABLE b;
"""

BROKEN = """\
-- migrate:up
CREATE TABLE c (id INTEGER);
INSERT INTO no_such_table VALUES (1);

-- migrate:down
DROP TABLE c;
"""

RUN_KEYS = {
    "schema_version", "target", "direction", "dry_run", "ok", "migrations",
    "total_ms", "warnings", "error",
}  # fmt: skip


def test_up_and_down_print_one_json_document(tmp_path, db_url):
    project = Project(tmp_path / "app", db_url)
    project.write("20250101000001_a.sql", A)
    project.write("20250101000002_b.sql", B)

    plan = project.invoke("migrate.up", "--dry-run", "--json")
    assert plan.code == 0, plan.err
    doc = json.loads(plan.out)
    assert set(doc) == RUN_KEYS
    assert doc["dry_run"] is True and doc["direction"] == "up" and doc["ok"] is True
    first, second = doc["migrations"]
    assert first["version"] == "20250101000001" and first["transaction"] is True
    assert first["statements"] == [
        {"line": 2, "sql": "CREATE TABLE a (id INTEGER PRIMARY KEY)"},
        {"line": 3, "sql": "CREATE INDEX a_id ON a (id)"},
    ]
    assert second["transaction"] is False and second["path"] == "migrations/20250101000002_b.sql"
    assert "schema_migrations" not in plan.out  # the migration's statements, not ours
    assert project.schema() == []  # a dry run changes nothing

    up = project.invoke("migrate.up", "--json")
    assert up.code == 0, up.err
    doc = json.loads(up.out)
    assert set(doc) == RUN_KEYS and doc["ok"] is True and doc["error"] is None
    assert doc["dry_run"] is False and doc["target"] and "applied" in up.err  # logs: stderr
    assert [(m["version"], m["statements"]) for m in doc["migrations"]] == [
        ("20250101000001", 2),
        ("20250101000002", 1),
    ]
    assert all(m["duration_ms"] >= 0 for m in doc["migrations"])
    assert doc["total_ms"] >= max(m["duration_ms"] for m in doc["migrations"])

    down = project.invoke("migrate.down", "--json")
    assert down.code == 0, down.err
    doc = json.loads(down.out)
    assert doc["direction"] == "down"
    assert [m["name"] for m in doc["migrations"]] == ["b"]

    nothing = project.invoke("migrate.down", "--all", "--json", "--dry-run")
    assert json.loads(nothing.out)["migrations"][0]["statements"] == [
        {"line": 6, "sql": "DROP TABLE a"}
    ]


def test_a_failed_run_still_prints_a_json_document(tmp_path):
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    project.write("20250101000001_a.sql", A)
    project.write("20250101000002_broken.sql", BROKEN)
    run = project.invoke("migrate.up", "--json")
    assert run.code == 1
    doc = json.loads(run.out)
    assert set(doc) == RUN_KEYS and doc["ok"] is False
    assert [m["version"] for m in doc["migrations"]] == ["20250101000001"]  # completed
    assert doc["error"]["exit_code"] == 1
    assert "no such table: no_such_table" in doc["error"]["message"]
    assert "no such table: no_such_table" in run.err  # and the usual message on stderr

    refused = project.invoke("migrate.down", "--step", "5", "--json")
    assert refused.code == 2
    doc = json.loads(refused.out)
    assert doc["migrations"] == [] and doc["error"]["exit_code"] == 2


def test_a_failed_run_lists_what_completed_as_a_finished_run_would(tmp_path):
    """The results completed before the failure travel on the error: the document shows
    them as the engine measured them, without reading the database again."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    project.write("20250101000001_a.sql", A)
    project.write("20250101000002_b.sql", B)
    project.write("20250101000003_broken.sql", BROKEN)
    doc = json.loads(project.invoke("migrate.up", "--json").out)
    assert [(m["version"], m["statements"]) for m in doc["migrations"]] == [
        ("20250101000001", 2),
        ("20250101000002", 1),
    ]
    assert all(m["duration_ms"] >= 0 for m in doc["migrations"]) and doc["total_ms"] is None


def test_when_the_connection_fails_what_completed_is_unknown(tmp_path):
    with closed_port() as port:
        project = Project(tmp_path / "app", f"http://127.0.0.1:{port}")
        project.write("20250101000001_a.sql", A)
        run = project.invoke("migrate.up", "--json")
    assert run.code == 5, run.err
    doc = json.loads(run.out)
    assert set(doc) == RUN_KEYS and doc["ok"] is False and doc["migrations"] is None
    assert doc["error"]["exit_code"] == 5 and f"127.0.0.1:{port}" in doc["error"]["message"]
