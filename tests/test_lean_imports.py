"""Start-up stays lean: what a run on a local file imports (no timing, only sys.modules).

Start-up is a fixed cost of every command (a CI job runs several), and on a local file it
is most of a short run. A module that a command does not need must not be imported by
it: the libraries for other targets and features (SQLAlchemy and Alembic for models and
Alembic projects, aiohttp and libsql-client for ``ws://``, jsonschema, tabulate), and our
own code for servers, fleets, linting and reviews. Each case runs the real program in a
fresh Python process and lists the modules loaded when it exits.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import TASKS_PY

#: Third-party libraries that no local-file status/up/down needs.
HEAVY = ("sqlalchemy", "alembic", "aiohttp", "libsql_client", "jsonschema", "tabulate")
#: Our own code that a local-file status/up/down never runs.
OURS_UNUSED = (
    "migrate_tasks.drivers.http",
    "migrate_tasks.drivers.ws",
    "migrate_tasks.drivers.pipeline",
    "migrate_tasks.drivers.hrana",
    "migrate_tasks.fleet",
    "migrate_tasks.autogenerate",
    "migrate_tasks.from_alembic",
    "migrate_tasks.lint",
    "migrate_tasks.review",
    "migrate_tasks.ops",
    "migrate_tasks.sql.literals",  # only --dry-run renders parameters as SQL
    "migrate_tasks.sql.normalise",
)
#: Runs the program's own entry point; records sys.modules as the process exits.
PROGRAM = """\
import atexit, json, sys
out, program, *argv = sys.argv[1:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = [program, *argv]
if program == "invoke":
    from invoke.main import program as invoke_program
    invoke_program.run()
else:
    from migrate_tasks.cli import main
    main()
"""
MIGRATION = (
    "-- migrate:up\nCREATE TABLE t{n} (id INTEGER PRIMARY KEY);\n"
    "-- migrate:down\nDROP TABLE t{n};\n"
)


def loaded_modules(tmp_path: Path, program: str, *args: str) -> set[str]:
    """The modules a fresh ``program args`` process had loaded when it exited (exit 0)."""
    out = tmp_path / "modules.json"
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(out), program, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    return set(json.loads(out.read_text()))


def offending(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY or any(m == o or m.startswith(o + ".") for o in OURS_UNUSED)
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for n in (1, 2, 3):
        (folder / f"2025010100000{n}_t{n}.sql").write_text(MIGRATION.format(n=n))
    (tmp_path / "tasks.py").write_text(TASKS_PY)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "applied_first"),
    [
        (["status"], False),
        (["up"], False),
        (["status"], True),
        (["down", "--all", "--yes"], True),
    ],
    ids=["status-new", "up", "status", "down"],
)
def test_libsql_migrate_on_a_file_imports_only_what_it_needs(project, args, applied_first):
    flags = ["--url", "file:app.db", "--dir", "migrations"]
    if applied_first:
        loaded_modules(project, "libsql-migrate", "up", *flags)
    modules = loaded_modules(project, "libsql-migrate", *args, *flags)
    assert "migrate_tasks.drivers.local" in modules  # it did open the file
    assert offending(modules) == []


def test_invoke_tasks_on_a_file_import_only_what_they_need(project):
    flags = ["--url", "file:app.db", "--dir", "migrations"]
    up = loaded_modules(project, "invoke", "migrate.up", *flags)
    status = loaded_modules(project, "invoke", "migrate.status", *flags)
    with contextlib.closing(sqlite3.connect(project / "app.db")) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE name GLOB 't[0-9]'").fetchall()
    assert sorted(tables) == [("t1",), ("t2",), ("t3",)]  # it did apply them
    assert "migrate_tasks.drivers.local" in status
    assert offending(up | status) == []
