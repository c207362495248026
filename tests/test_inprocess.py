"""In-process runs of the programs (tests/support/inprocess.py) behave as real processes do.

The suite runs ``invoke`` and ``libsql-migrate`` in the test process: these tests hold
that to what a child process gives (the same exit code, stdout and stderr) and to its
isolation (nothing a run changes reaches the next run or the test).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from migrate_tasks import progname
from tests.support import inprocess
from tests.support.project import Project, Run

pytestmark = pytest.mark.target("file")

M = "-- migrate:up\r\nCREATE TABLE t (id INTEGER, note TEXT DEFAULT 'a\r\nb');\r\n-- migrate:down\r\nDROP TABLE t;\r\n"

#: A tasks.py with one more task, which prints a value from the project's own module.
TASKS_PY = """\
from invoke import Collection, task

from migrate_tasks import migrate
from localmod import VALUE


@task
def show(c):
    print(VALUE)


ns = Collection(migrate, show)
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    project.write("20250101000001_t.sql", M)
    return project


def same_run(run: Run) -> tuple[int, str, str]:
    """Code, stdout and stderr, with the lock owner (its process id and random part differ
    between any two runs) replaced."""
    out = re.sub(r"'[^'\s]*:\d+:[0-9a-f]{12}'", "OWNER", run.out)
    out = re.sub(r"(OWNER, '[^']*', '[^']*'), \d+,", r"\1, PID,", out)
    return run.code, out, run.err


@pytest.mark.parametrize(
    "args",
    [
        ("migrate.status",),
        ("migrate.up", "--dry-run"),  # the file's CR LF, as a child's pipe gives them
        ("migrate.up", "--nope"),  # invoke's own parse error
        ("migrate.status", "--dir", "nowhere"),
        ("--version",),
        ("--help", "migrate.up"),
        ("migrate.nope",),
    ],
)
def test_exit_code_and_output_are_those_of_a_real_process(project: Project, args):
    real = project.invoke(*args, in_process=False)
    here = project.invoke(*args, in_process=True)
    assert same_run(here) == same_run(real)
    real = project.cli(*[a.removeprefix("migrate.") for a in args], in_process=False)
    here = project.cli(*[a.removeprefix("migrate.") for a in args], in_process=True)
    assert same_run(here) == same_run(real)


def test_the_projects_modules_do_not_leak_into_the_next_run(tmp_path: Path):
    for value in ("first", "second"):
        project = Project(tmp_path / value, "file:unused.db")
        (project.root / "tasks.py").write_text(TASKS_PY)
        (project.root / "localmod.py").write_text(f"VALUE = {value!r}\n")
        run = project.invoke("show", in_process=True)
        assert (run.code, run.out) == (0, f"{value}\n"), run.err
    assert "localmod" not in sys.modules
    assert str(tmp_path / "second") not in sys.path


def test_the_test_process_is_as_it_was(project: Project, caplog: pytest.LogCaptureFixture):
    """Environment, working directory, sys.path, logging, signals, the program name."""
    before = (dict(os.environ), os.getcwd(), list(sys.path), sys.dont_write_bytecode)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    logger = logging.getLogger("migrate_tasks")
    state = (list(logger.handlers), logger.level, logger.propagate)
    run = project.cli(
        "up", "-v", "--log-format", "json", in_process=True, INVOKE_MIGRATE_TABLE="other"
    )
    assert run.code == 0, run.err
    assert '"level": "debug"' in run.err
    assert (dict(os.environ), os.getcwd(), list(sys.path), sys.dont_write_bytecode) == before
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers
    assert (list(logger.handlers), logger.level, logger.propagate) == state
    assert progname.command("up") == "invoke migrate.up"  # libsql-migrate's is not left
    with caplog.at_level(logging.INFO, logger="migrate_tasks"):
        logger.info("still reaches the test")
    assert "still reaches the test" in caplog.text


def test_a_warn_once_flag_is_fresh_for_every_run(project: Project):
    """As in a new process, each run warns once that it fell back to sqlite3."""
    from migrate_tasks.drivers.local import FORCE_SQLITE3_ENV

    for _ in range(2):
        run = project.invoke("migrate.status", in_process=True, **{FORCE_SQLITE3_ENV: "1"})
        assert run.code == 0, run.err
        assert "native libsql driver is not available" in run.err


def test_a_thread_left_running_fails_the_run(project: Project, tmp_path, monkeypatch):
    """A real process would hang at exit on it."""
    stop = tmp_path / "stop"
    (project.root / "tasks.py").write_text(
        TASKS_PY.replace("from localmod import VALUE\n", "import threading, os, time\n").replace(
            "    print(VALUE)\n",
            f"    threading.Thread(target=lambda: [time.sleep(0.01) for _ in iter("
            f"lambda: os.path.exists({str(stop)!r}), True)], name='left').start()\n",
        )
    )
    monkeypatch.setattr(inprocess, "THREAD_GRACE", 0.1)
    try:
        with pytest.raises(AssertionError, match=r"left threads running .*\['left'\]"):
            project.invoke("show", in_process=True)
    finally:
        stop.write_text("")
