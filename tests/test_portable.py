"""The local-file target through the real ``libsql-migrate`` program, as real processes,
with nothing but portable Python: what the macOS and Windows CI jobs check (``nox -s
portable``, README "Supported environments"), and every other supported Python.

The support policy is checked against the environment the tests run in: where the
package's ``libsql`` requirement applies (a platform the native wheel is published for),
the native driver must be what runs local files; elsewhere the standard library's
``sqlite3`` runs them, saying so once, and libSQL-only syntax fails with SQLite's own
message, nothing of that migration applied.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from migrate_tasks.drivers import open_driver
from migrate_tasks.drivers.local import FORCE_SQLITE3_ENV
from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES

pytestmark = pytest.mark.target("file")

PROGRAM = shutil.which("libsql-migrate", path=str(Path(sys.executable).parent))
FALLBACK_WARNING = "the native libsql driver is not available here"
USERS = "-- migrate:up\r\nCREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\r\n-- migrate:down\r\nDROP TABLE users;\r\n"
ROWID = "-- migrate:up\nCREATE TABLE events (id INTEGER, at TEXT) RANDOM ROWID;\n-- migrate:down\nDROP TABLE events;\n"


def run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``libsql-migrate ARGS`` in ``project``, a real process with a clean environment."""
    assert PROGRAM, "libsql-migrate is not installed next to this Python"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LIBSQL_", "MIGRAT"))}
    environ.pop("DATABASE_URL", None)
    environ.update(env)
    return subprocess.run(
        [PROGRAM, *args], cwd=project, env=environ, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip


def native_expected() -> bool:
    """Whether this package requires ``libsql`` here: the platforms its wheel exists for."""
    for line in importlib.metadata.requires("migrate_tasks") or []:
        requirement = Requirement(line)
        if requirement.name == "libsql":
            return requirement.marker is None or requirement.marker.evaluate()
    raise AssertionError("migrate_tasks does not require libsql anywhere")


def tables(url: str) -> list[str]:
    driver = open_driver(url)
    try:
        rows = driver.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
    finally:
        driver.close()
    return [row[0] for row in rows]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "my project"  # a space, as in many home folders
    (root / "migrations").mkdir(parents=True)
    return root


def test_a_project_on_a_local_file_from_create_to_down(project):
    url = "file:data/app.db"  # relative to where the program runs
    (project / "data").mkdir()
    made = run(project, "create", "add_users", LIBSQL_URL=url)
    assert made.returncode == 0, made.stderr
    (created,) = (project / "migrations").glob("*_add_users.sql")
    created.write_bytes(USERS.encode())  # CRLF, as an editor on Windows writes it
    for args in (["up"], ["status", "--check"], ["verify"]):
        done = run(project, *args, LIBSQL_URL=url)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert "users" in tables(f"file:{project / 'data' / 'app.db'}")
    stale = run(project, "status", "--check", LIBSQL_URL="file:data/other.db")
    assert stale.returncode == 3 and "pending" in stale.stdout + stale.stderr
    down = run(project, "down", "--all", "--yes", LIBSQL_URL=url)
    assert down.returncode == 0, down.stderr
    assert "users" not in tables(f"file:{project / 'data' / 'app.db'}")


def test_a_streamed_file_on_a_local_file(project):
    rows = "".join(f"INSERT INTO t (v) VALUES ('{i:040d}');\n" for i in range(25_000))
    big = project / "migrations" / "002_load.sql"
    (project / "migrations" / "001_t.sql").write_text(
        "-- migrate:up\nCREATE TABLE t (v TEXT);\n-- migrate:down\nDROP TABLE t;\n"
    )
    big.write_text(f"-- migrate:up\n{rows}-- migrate:down\nDELETE FROM t;\n")
    assert big.stat().st_size > STREAM_THRESHOLD_BYTES
    done = run(project, "up", "--json", LIBSQL_URL="file:big.db")
    assert done.returncode == 0, done.stderr
    driver = open_driver(f"file:{project / 'big.db'}")
    try:
        assert driver.query("SELECT count(*) FROM t") == [(25_000,)]
    finally:
        driver.close()


def test_the_native_driver_runs_local_files_where_its_wheel_exists(project):
    native = importlib.util.find_spec("libsql") is not None
    if native_expected():
        assert native, "libsql is required on this platform but cannot be imported"
    (project / "migrations" / "001_events.sql").write_text(ROWID)
    done = run(project, "up", LIBSQL_URL="file:app.db")
    if native:
        assert done.returncode == 0, done.stderr  # libSQL-only syntax: the real engine
        assert FALLBACK_WARNING not in done.stderr
    else:
        assert done.returncode == 1 and FALLBACK_WARNING in done.stderr


def test_the_sqlite3_fallback_says_so_and_runs_the_rest(project):
    (project / "migrations" / "001_users.sql").write_text(USERS)
    (project / "migrations" / "002_events.sql").write_text(ROWID)
    done = run(project, "up", LIBSQL_URL="file:app.db", **{FORCE_SQLITE3_ENV: "1"})
    assert done.returncode == 1, done.stderr
    assert done.stderr.count(FALLBACK_WARNING) == 1
    where = os.path.join("migrations", "002_events.sql")
    assert f'failed at {where}:2: near "ROWID": syntax error' in done.stderr
    assert "nothing of this migration was applied" in done.stderr
    assert tables(f"file:{project / 'app.db'}") == [
        "schema_migrations", "schema_migrations_lock", "schema_migrations_log", "users",
    ]  # fmt: skip
