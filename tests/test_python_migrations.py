"""Migrations written in Python (``VERSION_name.py`` with ``up(db)``/``down(db)``), through
the real programs, on every target: a local libSQL file, sqld over HTTP and over
WebSocket. A Python migration and its tracking row commit together or not at all."""

from __future__ import annotations

import re
import sys

import pytest

from tests.support.project import Project
from tests.support.proxy import FaultProxy

USERS = """\
-- migrate:up
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
INSERT INTO users (email) VALUES ('Ann@Example.COM'), ('bob@EXAMPLE.com'), ('cy@x.org');

-- migrate:down
DROP TABLE users;
"""

LOWER_EMAILS = """\
def up(db):
    rows = db.query("SELECT id, email FROM users ORDER BY id")
    db.execute("CREATE TABLE email_history (user_id INTEGER, old TEXT)")
    db.executemany("INSERT INTO email_history VALUES (?, ?)", rows)
    db.executemany(
        "UPDATE users SET email = ? WHERE id = ?", [(e.lower(), i) for i, e in rows]
    )


def down(db):
    old = db.query("SELECT user_id, old FROM email_history")
    db.executemany("UPDATE users SET email = ? WHERE id = ?", [(e, i) for i, e in old])
    db.execute("DROP TABLE email_history")
"""

# Writes rows and a table, then fails in a helper: line 2 is where it raises.
FAILS_HALFWAY = """\
def check(n):
    raise ValueError(f"{n} rows is not what I expected")


def up(db):
    db.execute("UPDATE users SET email = upper(email)")
    db.execute("CREATE TABLE half (v)")
    db.executemany("INSERT INTO half VALUES (?)", [(i,) for i in range(2500)])
    check(db.query("SELECT count(*) FROM half")[0][0])
"""


@pytest.fixture
def project(tmp_path, db_url) -> Project:
    project = Project(tmp_path / "app", db_url)
    project.write("20250101000001_users.sql", USERS)
    return project


def emails(project: Project) -> list[str]:
    return [e for (e,) in project.query("SELECT email FROM users ORDER BY id")]


def applied_rows(project: Project) -> int:
    """How often the log says version 2 was applied."""
    return len([r for r in project.log() if r[0] == "2" and r[2] == "applied"])


def assert_one_clear_error(err: str) -> None:
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err


def test_python_data_migration_up_status_down(project: Project) -> None:
    project.write("20250101000002_lower_emails.py", LOWER_EMAILS)
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert emails(project) == ["ann@example.com", "bob@example.com", "cy@x.org"]
    assert project.tracking() == {"20250101000001": "applied", "20250101000002": "applied"}
    status = project.invoke("migrate.status", "--json")
    assert [m["state"] for m in status.json["migrations"]] == ["applied", "applied"]
    assert project.invoke("migrate.validate").code == 0

    run = project.invoke("migrate.down")
    assert run.code == 0, run.err
    assert emails(project) == ["Ann@Example.COM", "bob@EXAMPLE.com", "cy@x.org"]
    assert "email_history" not in {name for _, name, *_ in project.schema()}
    assert project.tracking()["20250101000002"] == "rolled_back"

    # the checksum is the file's bytes, as for .sql files
    assert project.invoke("migrate.up").code == 0
    path = project.migrations / "20250101000002_lower_emails.py"
    path.write_text(LOWER_EMAILS + "\n# edited\n")
    status = project.invoke("migrate.status", "--json")
    assert status.json["migrations"][1]["state"] == "modified"


def test_python_migration_failing_halfway_leaves_nothing(project: Project) -> None:
    """Rows updated, a table created, 2500 rows inserted (several requests), then an
    exception: nothing of it remains, the message names the file, the line and the
    exception, and the fixed file applies on a rerun."""
    assert project.invoke("migrate.up").code == 0
    before_schema, before_emails = project.schema(), emails(project)
    path = project.write("20250101000002_check.py", FAILS_HALFWAY)
    run = project.invoke("migrate.up")
    assert run.code == 1
    assert_one_clear_error(run.err)
    assert "migration 20250101000002 (up) failed at migrations/20250101000002_check.py:2" in run.err
    assert "ValueError: 2500 rows is not what I expected" in run.err
    assert "nothing of this migration was applied" in run.err
    assert project.schema() == before_schema
    assert emails(project) == before_emails
    assert "20250101000002" not in project.tracking()
    failed = [row for row in project.log() if row[0] == "20250101000002"]
    assert [(r[1], r[2]) for r in failed] == [("up", "failed")]
    assert "ValueError" in failed[0][3]

    path.write_text(FAILS_HALFWAY.replace("raise ValueError", "return n  #"))
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.query("SELECT count(*) FROM half") == [(2500,)]
    assert emails(project) == [e.upper() for e in before_emails]


@pytest.mark.parametrize(
    ("body", "line", "text", "statement"),
    [
        (
            'def up(db):\n    db.execute("CREATE TABLE t (v UNIQUE)")\n'
            '    db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (1,)])\n',
            3,
            ("row 3 of executemany: ", "UNIQUE constraint failed: t.v"),
            "INSERT INTO t VALUES (?)",
        ),
        (
            'def up(db):\n    db.execute("CREATE TABLE t (v)")\n    try:\n'
            '        db.execute("INSERT INTO nope VALUES (1)")\n    except Exception:\n'
            "        pass\n",
            4,
            ("", "no such table: nope (up(db) caught the error and went on"),
            "INSERT INTO nope VALUES (1)",
        ),
    ],
    ids=["executemany-row", "caught-and-ignored"],
)
def test_failed_statement_names_the_line_and_statement(
    project: Project, body: str, line: int, text: tuple[str, str], statement: str
) -> None:
    assert project.invoke("migrate.up").code == 0
    project.write("20250101000002_bad.py", body)
    run = project.invoke("migrate.up")
    assert run.code == 1
    assert_one_clear_error(run.err)
    assert f"migrations/20250101000002_bad.py:{line}: {text[0]}" in run.err
    assert text[1] in run.err  # sqld says "SQLite error: ..." before it
    assert f"statement: {statement}" in run.err
    assert "t" not in {name for _, name, *_ in project.schema()}
    assert "20250101000002" not in project.tracking()


@pytest.mark.target("file")
def test_transaction_control_is_refused_before_it_runs(tmp_path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write(
        "1_bad.py", 'def up(db):\n    db.execute("CREATE TABLE t (v)")\n    db.execute("COMMIT")\n'
    )
    run = project.invoke("migrate.up")
    assert run.code == 2
    assert_one_clear_error(run.err)
    assert "migrations/1_bad.py:3: transaction control (COMMIT) is not allowed" in run.err
    assert project.query("SELECT name FROM sqlite_schema WHERE name = 't'") == []


@pytest.mark.target("file")
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def up(db)\n    pass\n", "migrations/1_m.py:1: Python syntax error: expected ':'"),
        (
            "import os\nimport no_such_package_here\n\ndef up(db):\n    pass\n",
            "migrations/1_m.py:2: importing it failed: ModuleNotFoundError: No module named"
            " 'no_such_package_here'",
        ),
        (
            "X = {}['missing']\n",
            "migrations/1_m.py:1: importing it failed: KeyError: 'missing'",
        ),
        (
            "def upgrade(db):\n    pass\n",
            "migrations/1_m.py: a Python migration must define up(db)",
        ),
    ],
    ids=["syntax", "import", "top-level", "no-up"],
)
def test_validate_and_up_refuse_a_broken_module(tmp_path, body: str, expected: str) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write("1_m.py", body)
    run = project.invoke("migrate.validate")
    assert run.code == 3 and expected in run.out + run.err, run.out + run.err
    assert "Traceback" not in run.err
    run = project.invoke("migrate.up")
    assert run.code == 2
    assert_one_clear_error(run.err)
    assert expected in run.err
    assert not (tmp_path / "dev.db").exists()


@pytest.mark.target("file")
def test_module_imports_project_code_and_leaves_no_trace(tmp_path) -> None:
    """The project's own packages import (the working directory is on sys.path), and the
    migration module is not left in sys.modules."""
    from migrate_tasks.engine.catalogue import MigrationSet

    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    (project.root / "apphelpers").mkdir()
    (project.root / "apphelpers" / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    project.write(
        "1_m.py",
        "from apphelpers import double\n\n"
        "def up(db):\n    db.execute('CREATE TABLE t (v)')\n"
        "    db.execute('INSERT INTO t VALUES (?)', (double(21),))\n",
    )
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.query("SELECT v FROM t") == [(42,)]
    modules = set(sys.modules)
    path = list(sys.path)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.root)
        MigrationSet(project.migrations).module("1")
    assert set(sys.modules) - modules <= {"apphelpers"}
    assert sys.path == path


@pytest.mark.target("file")
def test_create_python_writes_a_template_that_says_what_to_do(tmp_path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    run = project.invoke("migrate.create", "backfill", "--python")
    assert run.code == 0, run.err
    path = project.root / run.out.strip()
    assert re.fullmatch(r"\d{14}_backfill\.py", path.name)
    text = path.read_text()
    assert "def up(db):" in text and "def down(db):" in text
    assert project.invoke("migrate.validate").code == 0
    run = project.invoke("migrate.up")
    assert run.code == 1
    assert "NotImplementedError: write up(db) in this file" in run.err
    assert "Traceback" not in run.err


@pytest.mark.target("file")
def test_dry_run_runs_nothing_and_says_where_up_runs(tmp_path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    marker = tmp_path / "ran"
    project.write(
        "1_m.py",
        f"import pathlib\n\ndef up(db):\n    pathlib.Path({str(marker)!r}).write_text('x')\n",
    )
    run = project.invoke("migrate.up", "--dry-run")
    assert run.code == 0, run.err
    assert "-- migrations/1_m.py: up(db) runs here, in this transaction" in run.out
    assert not marker.exists() and not (tmp_path / "dev.db").exists()
    run = project.invoke("migrate.up", "--dry-run", "--json")
    assert run.code == 0, run.err
    [planned] = run.json["migrations"]
    assert (planned["python"], planned["statements"]) == (True, [])
    assert not marker.exists()
    assert project.invoke("migrate.up").code == 0
    assert marker.exists()


@pytest.mark.target("file")
def test_single_transaction_refuses_a_python_migration(tmp_path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write("1_users.sql", USERS)
    project.write("2_m.py", LOWER_EMAILS)
    run = project.invoke("migrate.up", "--single-transaction")
    assert run.code == 2
    assert "2_m is written in Python" in run.err and "Nothing was run" in run.err
    assert not (tmp_path / "dev.db").exists()


@pytest.mark.target("file")
def test_down_without_down_function_is_refused(tmp_path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write("1_m.py", "def up(db):\n    db.execute('CREATE TABLE t (v)')\n")
    assert project.invoke("migrate.up").code == 0
    run = project.invoke("migrate.down")
    assert run.code == 2
    assert "migrations/1_m.py: no down(db) function" in run.err
    assert project.tracking() == {"1": "applied"}


@pytest.mark.target("file")
def test_verify_runs_python_migrations_on_scratch(tmp_path) -> None:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write("1_users.sql", USERS)
    project.write("2_m.py", LOWER_EMAILS)
    run = project.invoke("migrate.verify")
    assert run.code == 0, run.out + run.err
    # a down that forgets the table it should drop
    project.write("2_m.py", LOWER_EMAILS.replace('db.execute("DROP TABLE email_history")', "pass"))
    run = project.invoke("migrate.verify")
    assert run.code == 3
    assert "email_history" in run.out + run.err
    assert not (tmp_path / "dev.db").exists()


@pytest.mark.target("http")
@pytest.mark.parametrize("forward", [False, True], ids=["lost-request", "lost-answer"])
def test_cut_connection_during_a_python_migration_then_rerun(sqld, tmp_path, forward) -> None:
    """The connection is cut at each request of a run applying a Python migration in
    turn (the read, the lock, then BEGIN, each db call, the closing rows, COMMIT): exit
    5 or success, never anything half-done, and a rerun completes it."""
    seen_failures = 0
    for position in range(1, 11):
        with FaultProxy(sqld.port) as proxy:
            project = Project(tmp_path / f"app{position}", proxy.http_url)
            project.write("1_users.sql", USERS)
            assert project.invoke("migrate.up").code == 0, position
            project.write("2_m.py", LOWER_EMAILS)
            applied_before = applied_rows(project)
            proxy.drop_after(requests=position, forward=forward)
            # a real process: the rerun takes over a lease it left only once it has ended
            run = project.invoke("migrate.up", "--lock-timeout", "0", in_process=False)
            assert run.code in (0, 5), run.err
            assert "Traceback" not in run.err and proxy.drops == 1
            seen_failures += run.code == 5
            if project.tracking().get("2") == "applied":
                assert emails(project) == ["ann@example.com", "bob@example.com", "cy@x.org"]
            else:
                assert emails(project)[0] == "Ann@Example.COM", (position, run.err)
                assert "email_history" not in {name for _, name, *_ in project.schema()}
            run = project.invoke("migrate.up", "--lock-timeout", "5")
            assert run.code == 0, run.err
            assert project.tracking()["2"] == "applied"
            assert applied_rows(project) == applied_before + 1  # never applied twice
            assert emails(project) == ["ann@example.com", "bob@example.com", "cy@x.org"]
            assert project.invoke("migrate.down", "--all", "--yes").code == 0
    assert seen_failures >= 8


@pytest.mark.target("file")
def test_hash_lint_and_rebase_see_python_migrations(tmp_path) -> None:
    """The integrity file lists a Python migration by its bytes; lint runs it on the
    scratch database for the SQL after it (which needs its table) and says it did not
    lint it."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write("1_users.sql", USERS)
    project.write("2_m.py", LOWER_EMAILS)
    project.write(
        "3_index.sql",
        "-- migrate:up\nCREATE INDEX history_user ON email_history (user_id);\n"
        "-- migrate:down\nDROP INDEX history_user;\n",
    )
    assert project.invoke("migrate.hash").code == 0
    assert "2_m.py sha256:" in (project.migrations / "migrate.sum").read_text()
    assert project.invoke("migrate.validate").code == 0
    (project.migrations / "2_m.py").write_text(LOWER_EMAILS + "# edited\n")
    run = project.invoke("migrate.validate")
    assert run.code == 3 and "2_m.py changed since" in run.out + run.err
    assert project.invoke("migrate.hash").code == 0

    run = project.invoke("migrate.lint")
    assert run.code == 0, run.out + run.err
    assert "2_m.py is written in Python" in run.out + run.err
    assert "does not apply on a scratch database" not in run.out + run.err


# Writes, says so on stderr, then waits forever while the file BLOCK exists: the test
# kills it there, in the middle of its transaction.
KILLED_MIDWAY = """\
import os
import sys
import threading


def up(db):
    db.execute("UPDATE users SET email = upper(email)")
    db.execute("CREATE TABLE half (v)")
    db.executemany("INSERT INTO half VALUES (?)", [(i,) for i in range(3000)])
    if os.path.exists({block!r}):
        print("HALFWAY", file=sys.stderr, flush=True)
        threading.Event().wait()
"""


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("file", marks=pytest.mark.target("file")),
        pytest.param("http", marks=pytest.mark.target("http")),
        pytest.param("ws", marks=pytest.mark.target("ws")),
    ],
)
def test_sigkill_in_the_middle_of_a_python_migration(request, tmp_path, target: str) -> None:
    """The process dies inside up(db), after its writes, before COMMIT: nothing of the
    migration remains, and a rerun takes over the dead run's lease and completes it."""
    from tests.support.faults import start_cli

    if target == "file":
        url = f"file:{tmp_path / 'dev.db'}"
    else:
        sqld = request.getfixturevalue("sqld")
        url = sqld.http_url if target == "http" else sqld.ws_url
    project = Project(tmp_path / "app", url)
    project.write("1_users.sql", USERS)
    assert project.invoke("migrate.up").code == 0
    block = tmp_path / "block"
    block.write_text("")
    project.write("2_killed.py", KILLED_MIDWAY.format(block=str(block)))
    proc = start_cli(project, "up")
    try:
        assert proc.wait_for_line("HALFWAY", timeout=120), proc.err
    finally:
        proc.popen.kill()
        proc.popen.wait()
    assert emails(project)[0] == "Ann@Example.COM"
    assert "half" not in {name for _, name, *_ in project.schema()}
    assert project.tracking() == {"1": "applied"}

    block.unlink()
    run = project.invoke("migrate.up", "--lock-timeout", "60", in_process=False)
    assert run.code == 0, run.err
    assert "its process is gone" in run.err
    assert project.query("SELECT count(*) FROM half") == [(3000,)]
    assert project.tracking() == {"1": "applied", "2": "applied"}


SLOW_ROW_BY_ROW = """\
import time


def up(db):
    for i in range(400):  # a statement per row, 20 a second: 20 s at least
        db.execute("INSERT INTO big (id, v) VALUES (?, 'mine')", (i + 1,))
        time.sleep(0.05)
"""


def test_sqld_transaction_timeout_is_one_clear_message(sqld, tmp_path, remote_transport) -> None:
    """sqld ends the Python migration's transaction once it is older than 5 s and another
    writer waits: one message naming the migration and what to do, nothing of it left,
    the other writer's rows in."""
    from tests.test_driver_contract import Competitor

    url = sqld.http_url if remote_transport == "http" else sqld.ws_url
    project = Project(tmp_path / "app", url)
    project.write(
        "1_big.sql",
        "-- migrate:up\nCREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n"
        "-- migrate:down\nDROP TABLE big;\n",
    )
    assert project.invoke("migrate.up").code == 0
    project.write("2_slow.py", SLOW_ROW_BY_ROW)
    with Competitor(sqld.http_url) as competitor:
        run = project.invoke("migrate.up")
    assert run.code == 1
    assert_one_clear_error(run.err)
    assert "migration 2 (up) failed at migrations/2_slow.py" in run.err
    assert "TRANSACTION_TIMEOUT" in run.err and "db.executemany" in run.err
    assert "nothing of this migration was applied" in run.err
    assert project.tracking() == {"1": "applied"}
    competitor.check_it_won(sqld.http_url)


COUNT_ONCE = """\
def up(db):
    db.execute("CREATE TABLE IF NOT EXISTS runs (n INTEGER)")
    db.execute("INSERT INTO runs SELECT count(*) + 1 FROM runs")
    rows = db.query("SELECT id, email FROM users")
    db.executemany("UPDATE users SET email = ? WHERE id = ?", [(e + "!", i) for i, e in rows])
"""


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("file", marks=pytest.mark.target("file")),
        pytest.param("http", marks=pytest.mark.target("http")),
    ],
)
def test_four_ups_at_once_run_a_python_migration_exactly_once(
    request, tmp_path, target: str
) -> None:
    """Four processes start ``up`` at the same instant (an application's workers): the
    lock lets one run the Python migration; its effect is there exactly once."""
    from tests.support.faults import start_together, target_url

    project = Project(tmp_path / "app", target_url(request, tmp_path, target))
    project.write("1_users.sql", USERS)
    project.write("2_count.py", COUNT_ONCE)
    runs = [(["up", "--lock-timeout", "600"], {"USER": f"w{n}"}) for n in range(4)]
    procs = start_together(project, tmp_path / "barrier", runs)
    for proc in procs:
        proc.wait(timeout=600)
    assert [p.code for p in procs] == [0] * 4, [p.describe() for p in procs]
    assert project.query("SELECT n FROM runs") == [(1,)]
    assert emails(project) == ["Ann@Example.COM!", "bob@EXAMPLE.com!", "cy@x.org!"]
    applied = [r for r in project.log() if r[0] == "2" and r[2] == "applied"]
    assert len(applied) == 1


@pytest.mark.target("file")
def test_python_files_that_are_not_migrations_are_ignored(tmp_path) -> None:
    """An Alembic folder named migrations/ has env.py, a seeds package and a template:
    only files whose name starts with digits are migrations."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write("1_users.sql", USERS)
    project.write("env.py", "raise SystemExit('never imported')\n")
    project.write("__init__.py", "")
    project.write("script.py.mako", "${upgrades}\n")
    (project.migrations / "seeds").mkdir()
    (project.migrations / "seeds" / "2_seed.py").write_text("raise SystemExit(1)\n")
    assert project.invoke("migrate.validate").code == 0
    status = project.invoke("migrate.status", "--json")
    assert [m["version"] for m in status.json["migrations"]] == ["1"]


@pytest.mark.target("file")
def test_parameters_given_as_a_string_are_refused_at_the_line(tmp_path) -> None:
    """``tuple("abc")`` would have sent three parameters: a clear error instead."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write(
        "1_m.py",
        'def up(db):\n    db.execute("CREATE TABLE t (v)")\n'
        '    db.execute("INSERT INTO t VALUES (?)", "abc")\n',
    )
    run = project.invoke("migrate.up")
    assert run.code == 1
    assert_one_clear_error(run.err)
    assert "migrations/1_m.py:3: TypeError: parameters must be a tuple or list" in run.err
    assert project.query("SELECT count(*) FROM sqlite_schema WHERE name = 't'") == [(0,)]


def test_executemany_of_big_rows_goes_out_in_pieces(tmp_path, db_url) -> None:
    """24 rows of 1 MiB each: one WebSocket message would be over sqld's ~12 MB limit,
    so executemany sends them a few at a time, still in the one transaction."""
    project = Project(tmp_path / "app", db_url)
    project.write(
        "1_blobs.py",
        "def up(db):\n    db.execute('CREATE TABLE blobs (n INTEGER, b BLOB)')\n"
        "    db.executemany('INSERT INTO blobs VALUES (?, ?)',"
        " ((n, bytes([n]) * 2**20) for n in range(24)))\n",
    )
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.query("SELECT count(*), sum(length(b)) FROM blobs") == [(24, 24 * 2**20)]


@pytest.mark.target("file")
def test_what_a_migration_prints_goes_to_stderr(tmp_path) -> None:
    """``up --json`` stays one JSON document on stdout when user code prints."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'dev.db'}")
    project.write(
        "1_m.py",
        "print('loading')\n\ndef up(db):\n    print('running up')\n"
        "    db.execute('CREATE TABLE t (v)')\n",
    )
    run = project.invoke("migrate.up", "--json")
    assert run.code == 0, run.err
    assert [m["version"] for m in run.json["migrations"]] == ["1"]
    assert "loading" in run.err and "running up" in run.err


def test_a_drop_after_a_python_migration_is_still_checked(project: Project) -> None:
    """The foreign keys the next migration's DROP TABLE is checked against are read at
    the end of the Python migration's transaction, as after a .sql one: a DROP of a
    table others reference is refused, naming them, and nothing of it runs."""
    project.write(
        "20250101000002_notes.py",
        "def up(db):\n"
        "    db.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY,"
        " user_id INTEGER REFERENCES users (id))')\n"
        "    db.executemany('INSERT INTO notes (user_id) SELECT ?', [(1,), (2,)])\n",
    )
    project.write(
        "20250101000003_drop_users.sql",
        "-- migrate:up\nDROP TABLE users;\n-- migrate:down\nSELECT 1;\n",
    )
    run = project.invoke("migrate.up")
    assert run.code == 2, run.err
    assert "notes" in run.err and "20250101000003_drop_users.sql" in run.err
    assert project.tracking() == {"20250101000001": "applied", "20250101000002": "applied"}
    assert project.query("SELECT count(*) FROM notes") == [(2,)]


def test_user_code_setup_survives_interleaved_runs(tmp_path, monkeypatch) -> None:
    """A fleet runs Python migrations on several threads: however their starts and ends
    interleave, stdout and sys.path are what they were once the last one ends (with
    contextlib.redirect_stdout per run, the second to end put stderr back as stdout)."""
    import io

    from migrate_tasks.files.python_source import user_code_path

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.chdir(tmp_path)
    path = list(sys.path)
    first, second = user_code_path(), user_code_path()
    first.__enter__()
    second.__enter__()
    assert sys.stdout is err and sys.path[0] == str(tmp_path)
    first.__exit__(None, None, None)
    assert sys.stdout is err  # the second run still prints to stderr
    second.__exit__(None, None, None)
    assert sys.stdout is out and sys.path == path


@pytest.mark.target("file")
def test_a_fleet_runs_a_python_migration_on_every_database(tmp_path) -> None:
    """Four databases, two at a time: each gets the Python migration once, and what it
    prints never reaches the results on stdout (the JSON document parses)."""
    import sqlite3

    project = Project(tmp_path / "app", "file:unused.db")
    project.write("1_users.sql", USERS)
    project.write(
        "2_m.py",
        "import time\n\ndef up(db):\n    print('working')\n    time.sleep(0.05)\n"
        '    db.execute("UPDATE users SET email = lower(email)")\n',
    )
    tenants = project.root / "tenants"
    tenants.mkdir()
    for name in "abcd":
        sqlite3.connect(tenants / f"{name}.db").close()
    run = project.invoke("migrate.up", "--fleet", "tenants/*.db", "--jobs", "2", "--json")
    assert run.code == 0, run.err
    assert len(run.json["databases"]) == 4
    for name in "abcd":
        conn = sqlite3.connect(tenants / f"{name}.db")
        emails = [e for (e,) in conn.execute("SELECT email FROM users ORDER BY id")]
        conn.close()
        assert emails == ["ann@example.com", "bob@example.com", "cy@x.org"], name
    status = project.invoke("migrate.status", "--fleet", "tenants/*.db", "--json")
    assert status.code == 0 and len(status.json["databases"]) == 4
