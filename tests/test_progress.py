"""Progress of long runs: the engine tells (events, never prints), the terminal line shows.

The engine's events are checked on real databases (every target, a streamed file
included); the line is checked on a fake terminal with a fake clock; the real programs
are run with stderr on a pseudo-terminal (the line shows, and is gone at the end) and
not (nothing extra), with --json and --dry-run (nothing extra either).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from migrate_tasks.api import Migrator
from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.engine.progress import EVERY, ProgressEvent
from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES
from migrate_tasks.report import fleet as fleet_report
from migrate_tasks.report import logs
from migrate_tasks.report.progress import (
    DELAY_ENV,
    DELAY_S,
    INTERVAL_S,
    TerminalProgress,
    describe,
    progress_for,
    shown_while,
    wants_colour,
)
from tests.support.project import BIN, Project

SMALL = "-- migrate:up\nCREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);\n-- migrate:down\nDROP TABLE a;\n"
CLEAR = "\r\x1b[K"


def many_rows(count: int, pad: int = 0) -> str:
    rows = "".join(f"INSERT INTO a (v) VALUES ('{i:0{pad}d}');\n" for i in range(count))
    return f"-- migrate:up\n{rows}-- migrate:down\nDELETE FROM a;\n"


def run_up(url: str, folder: Path) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    driver = open_driver(url)
    try:
        engine = Engine(driver, folder, "schema_migrations")
        engine.migrate("up", options=RunOptions(progress=events.append))
    finally:
        driver.close()
    return events


# -- the engine's events ------------------------------------------------------------------------


def test_the_engine_tells_each_migration_and_its_statements(db_url, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    (folder / "002_rows.sql").write_text(many_rows(1200))
    events = run_up(db_url, folder)
    seen = [(e.kind, e.index, e.total, e.statements) for e in events]
    driver = open_driver(db_url)
    batched = driver.runs_groups  # sqld over HTTP: both go in one request
    driver.close()
    if batched:  # all of a unit's statements are told as the request is made
        assert seen == [
            ("start", 1, 2, 0), ("statements", 1, 2, 1),
            ("start", 2, 2, 0), ("statements", 2, 2, 1200),
            ("done", 1, 2, 0), ("done", 2, 2, 0),
        ]  # fmt: skip
    else:  # as the driver takes them, every EVERY
        assert seen == [
            ("start", 1, 2, 0), ("statements", 1, 2, 1), ("done", 1, 2, 0),
            ("start", 2, 2, 0), ("statements", 2, 2, 500), ("statements", 2, 2, 1000),
            ("statements", 2, 2, 1200), ("done", 2, 2, 0),
        ]  # fmt: skip
    assert EVERY == 500
    assert {e.label for e in events} == {"001_a (up)", "002_rows (up)"}
    told = [e for e in events if e.kind == "statements" and e.index == 2]
    assert {(e.statements_total, e.file_bytes) for e in told} == {(1200, None)}
    assert told[-1].sql_bytes == sum(
        len(f"INSERT INTO a (v) VALUES ('{i}')") + 1 for i in range(1200)
    )


def test_a_streamed_file_reports_its_bytes(db_url, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    big = folder / "002_big.sql"
    big.write_text(many_rows(40_000, pad=20))
    size = big.stat().st_size
    assert size > STREAM_THRESHOLD_BYTES  # streamed, never held whole
    events = [e for e in run_up(db_url, folder) if e.index == 2 and e.kind == "statements"]
    assert [e.statements for e in events] == [*range(500, 40_001, 500)]
    assert {e.file_bytes for e in events} == {size}
    sent = [e.sql_bytes for e in events]
    assert sent == sorted(sent) and size * 0.9 < sent[-1] <= size
    assert events[-1].statements_total == 40_000


@pytest.mark.target("file")
def test_a_transaction_false_migration_and_a_rollback_are_told_too(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    (folder / "002_rows.sql").write_text(
        many_rows(600).replace("-- migrate:up\n", "-- migrate:up transaction:false\n")
    )
    assert [(e.kind, e.statements) for e in run_up(f"file:{tmp_path / 'x.db'}", folder)][3:] == [
        ("start", 0), ("statements", 500), ("statements", 600), ("done", 0),
    ]  # fmt: skip
    events: list[ProgressEvent] = []
    driver = open_driver(f"file:{tmp_path / 'x.db'}")
    try:
        engine = Engine(driver, folder, "schema_migrations")
        engine.migrate("down", all_=True, options=RunOptions(progress=events.append))
    finally:
        driver.close()
    assert [(e.kind, e.index, e.label) for e in events if e.kind != "statements"] == [
        ("start", 1, "002_rows (down)"), ("done", 1, "002_rows (down)"),
        ("start", 2, "001_a (down)"), ("done", 2, "001_a (down)"),
    ]  # fmt: skip


@pytest.mark.target("file")
def test_only_the_files_statements_are_counted_not_the_checks_added_to_them(tmp_path):
    # found on the Chinook sample database: "115 of 114 statements" with foreign_keys:off
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    (folder / "002_fk.sql").write_text(
        "-- migrate:up foreign_keys:off\n"
        "ALTER TABLE a ALTER COLUMN v TO v TEXT NOT NULL DEFAULT '';\n"  # a check follows it
        "INSERT INTO a (v) VALUES ('x');\n"
        "-- migrate:down\nDELETE FROM a;\n"  # and the foreign key check ends the unit
    )
    events = [e for e in run_up(f"file:{tmp_path / 'x.db'}", folder) if e.index == 2]
    told = [(e.kind, e.statements, e.statements_total) for e in events]
    assert told == [("start", 0, 2), ("statements", 2, 2), ("done", 0, 2)]
    alter = len("ALTER TABLE a ALTER COLUMN v TO v TEXT NOT NULL DEFAULT ''") + 1
    assert events[1].sql_bytes == alter + len("INSERT INTO a (v) VALUES ('x')") + 1


@pytest.mark.target("file")
def test_the_python_api_takes_a_progress_callback_for_up_and_down(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    (folder / "002_rows.sql").write_text(many_rows(600))
    events: list[ProgressEvent] = []
    with Migrator(f"file:{tmp_path / 'x.db'}", folder, config={}) as migrator:
        migrator.up(progress=events.append)
        migrator.down(all=True, yes=True, progress=events.append)
    told = [(e.kind, e.label, e.statements) for e in events if e.kind != "start"]
    assert told == [
        ("statements", "001_a (up)", 1), ("done", "001_a (up)", 0),
        ("statements", "002_rows (up)", 500), ("statements", "002_rows (up)", 600),
        ("done", "002_rows (up)", 0),
        ("statements", "002_rows (down)", 1), ("done", "002_rows (down)", 0),
        ("statements", "001_a (down)", 1), ("done", "001_a (down)", 0),
    ]  # fmt: skip


def test_a_python_migration_is_told_as_it_starts_and_commits(tmp_path):
    """A Python migration's statements are known only as its code runs: its start and
    its commit are told, so a long run's line moves past it."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    (folder / "002_data.py").write_text(
        "def up(db):\n    db.execute('CREATE TABLE py (id INTEGER)')\n\n\n"
        "def down(db):\n    db.execute('DROP TABLE py')\n"
    )
    events: list[ProgressEvent] = []
    with Migrator(f"file:{tmp_path / 'x.db'}", folder, config={}) as migrator:
        migrator.up(progress=events.append)
    told = [(e.kind, e.index, e.total, e.label) for e in events if e.kind != "statements"]
    assert told == [
        ("start", 1, 2, "001_a (up)"), ("done", 1, 2, "001_a (up)"),
        ("start", 2, 2, "002_data (up)"), ("done", 2, 2, "002_data (up)"),
    ]  # fmt: skip


def test_no_events_without_a_listener_and_nothing_on_a_dry_run(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text(SMALL)
    events: list[ProgressEvent] = []
    driver = open_driver(f"file:{tmp_path / 'x.db'}")
    try:
        engine = Engine(driver, folder, "schema_migrations")
        engine.migrate("up", options=RunOptions(dry_run=True, progress=events.append))
        assert events == []
        assert engine.migrate("up").results  # no listener: runs as ever
    finally:
        driver.close()


# -- the terminal line --------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def event(kind: str, statements: int = 0, **extra: object) -> ProgressEvent:
    fields = {"index": 2, "total": 5, "label": "002_rows (up)", "statements": statements}
    return ProgressEvent(kind, **{**fields, **extra})  # type: ignore[arg-type]


def test_the_line_waits_throttles_and_clears():
    now = [0.0]
    screen = FakeTerminal()
    line = TerminalProgress(screen, clock=lambda: now[0], width=60)
    line(event("start"))
    line(event("statements", 500))
    assert screen.getvalue() == ""  # a quick run shows nothing
    now[0] = DELAY_S
    line(event("statements", 1000, statements_total=4000))
    assert screen.getvalue() == CLEAR + "[2/5] 002_rows (up): 1,000 of 4,000 statements"
    now[0] += INTERVAL_S / 2
    line(event("statements", 1500))
    assert screen.getvalue().count(CLEAR) == 1  # not redrawn within the interval
    line(event("start", index=3, label="003_next (up)"))
    assert screen.getvalue().endswith(CLEAR + "[3/5] 003_next (up)")  # a new one: at once
    now[0] += INTERVAL_S * 1.5
    line(event("statements", 2000, file_bytes=200_000_000, sql_bytes=45_200_000))
    assert screen.getvalue().endswith("[2/5] 002_rows (up): 2,000 statements, 45.2 of 200.0 MB")
    line(event("done"))
    assert screen.getvalue().endswith(CLEAR) and not line.visible
    line(event("done"))
    line.clear()
    assert screen.getvalue().count(CLEAR) == 4  # three lines drawn, cleared once


def test_a_long_line_is_cut_to_the_terminal_and_colour_follows_no_color():
    screen = FakeTerminal()
    line = TerminalProgress(screen, clock=lambda: 10.0, width=30, colour=True)
    line.started = 0.0
    line(event("start"))
    assert screen.getvalue() == CLEAR + "\x1b[2m[2/5] 002_rows (up)\x1b[0m"
    line(event("start", label="x" * 80))
    # 29 characters: the last column stays free, so the terminal never wraps the line
    assert screen.getvalue().endswith("\x1b[2m[2/5] " + "x" * 22 + "…\x1b[0m")
    assert wants_colour(FakeTerminal(), {}) is True
    assert wants_colour(FakeTerminal(), {"NO_COLOR": "1"}) is False
    assert wants_colour(FakeTerminal(), {"NO_COLOR": ""}) is True  # empty means unset
    assert wants_colour(FakeTerminal(), {"TERM": "dumb"}) is False
    assert wants_colour(io.StringIO(), {}) is False
    assert progress_for(FakeTerminal(), environ={"NO_COLOR": "1"}).colour is False
    assert progress_for(FakeTerminal(), environ={}).colour is True
    assert describe(event("start")) == "[2/5] 002_rows (up)"


def test_the_line_is_for_a_terminal_only_and_its_delay_can_be_set():
    assert progress_for(io.StringIO(), environ={}) is None  # not a terminal
    assert progress_for(FakeTerminal(), enabled=False, environ={}) is None  # --json, --dry-run
    default = progress_for(FakeTerminal(), environ={})
    assert (default.delay, default.interval) == (DELAY_S, INTERVAL_S)
    now = progress_for(FakeTerminal(), environ={DELAY_ENV: "0"})
    assert (now.delay, now.interval) == (0, 0)  # every event drawn: what the tests use
    assert progress_for(FakeTerminal(), environ={DELAY_ENV: "soon"}).delay == DELAY_S


def test_a_log_line_starts_clean_and_the_line_goes_however_the_run_ends(monkeypatch):
    screen = FakeTerminal()
    log = logging.getLogger("migrate_tasks")
    before = (list(log.handlers), log.level, log.propagate)
    monkeypatch.setattr(sys, "stderr", screen)
    logs.configure()  # the programs' stderr handler, on the fake terminal
    try:
        line = TerminalProgress(screen, delay=0)
        with pytest.raises(RuntimeError), shown_while(line):
            line(event("start"))
            log.warning("a warning, say")
            assert screen.getvalue() == (
                CLEAR + "[2/5] 002_rows (up)" + CLEAR + "migrate: warning: a warning, say\n"
            )
            line(event("start"))
            raise RuntimeError("the run failed")
        assert screen.getvalue().endswith("[2/5] 002_rows (up)" + CLEAR) and not line.visible
        line(event("start"))
        log.info("after the run")  # no longer cleared: the block is over
        assert screen.getvalue().endswith("[2/5] 002_rows (up)migrate: after the run\n")
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
        for handler in before[0]:
            log.addHandler(handler)
        log.setLevel(before[1])
        log.propagate = before[2]
    with shown_while(None) as nothing:  # no terminal: nothing to show or clear
        assert nothing is None


def test_the_fleet_line_is_quiet_with_json():
    screen = FakeTerminal()
    fleet_report.fleet_progress_printer(screen, enabled=False)(1, 0, 2)
    assert screen.getvalue() == ""
    fleet_report.fleet_progress_printer(screen)(1, 0, 2)
    assert screen.getvalue() == CLEAR + "fleet: 1/3 done, 0 failed, 2 remaining"


# -- the programs, on a terminal and not ------------------------------------------------------


def on_terminal(
    argv: list[str], cwd: Path, env: dict[str, str], columns: int = 0
) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pseudo-terminal ``columns`` wide (0: unsized), stdout
    to a file: its exit code, stdout, and every byte it wrote to the terminal, read as it
    comes (so it never blocks)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    out = cwd / "stdout.txt"
    try:
        with out.open("wb") as stdout:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=secondary
            )
        os.close(secondary)
        secondary = -1
        seen = bytearray()
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other side is closed: all read
                break
            if not chunk:
                break
            seen += chunk
        code = proc.wait(timeout=300)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    return code, out.read_text(), seen.decode("utf-8").replace("\r\n", "\n")


def screen_after(raw: str) -> list[str]:
    """What a terminal shows once ``raw`` is written: carriage returns, erase-to-end-of-line
    and newlines applied, colours dropped."""
    lines: list[str] = []
    line: list[str] = []
    col = 0
    for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|\r|\n|[^\x1b\r\n]", raw):
        if token == "\r":
            col = 0
        elif token == "\n":
            lines.append("".join(line))
            line, col = [], 0
        elif token == "\x1b[K":
            del line[col:]
        elif token.startswith("\x1b"):
            continue
        else:
            line[col : col + 1] = [token]
            col += 1
    if line:
        lines.append("".join(line))
    return lines


def timings(lines: list[str]) -> list[str]:
    return [re.sub(r"in \d+ ms", "in N ms", line) for line in lines]


def program(name: str, task: str) -> list[str]:
    return [str(BIN / name), f"migrate.{task}" if name == "invoke" else task]


@pytest.mark.target("file")
@pytest.mark.parametrize("name", ["libsql-migrate", "invoke"])
def test_a_long_run_shows_its_migrations_on_a_terminal_and_leaves_the_log_clean(tmp_path, name):
    project = Project(tmp_path / "project", f"file:{tmp_path / 'p.db'}")
    for n in range(1, 26):
        project.write(
            f"{n:03d}_t{n}.sql", SMALL.replace(" a ", f" t{n} ").replace(" a;", f" t{n};")
        )
    env = project.env(**{DELAY_ENV: "0"})
    code, out, raw = on_terminal(program(name, "up"), project.root, env)
    assert code == 0, raw
    for n in range(1, 26):  # each migration of the run was on the line ...
        assert f"{CLEAR}[{n}/25] {n:03d}_t{n} (up)" in raw.replace("\x1b[2m", ""), raw
    shown = screen_after(raw)
    assert not any("/25]" in line for line in shown), shown  # ... and is gone
    assert "\x1b[2m" in raw  # dim, as NO_COLOR is unset
    assert project.cli("down", "--all", "--yes").code == 0
    assert project.schema() == []
    piped = subprocess.run(
        program(name, "up"), cwd=project.root, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "\x1b" not in piped.stderr and "/25]" not in piped.stderr
    assert timings(shown) == timings(piped.stderr.splitlines())  # the same log lines, clean
    assert timings(out.splitlines()) == timings(piped.stdout.splitlines())


@pytest.mark.target("file")
def test_a_streamed_file_shows_its_statements_and_megabytes_on_a_terminal(tmp_path):
    project = Project(tmp_path / "project", f"file:{tmp_path / 'p.db'}")
    project.write("001_a.sql", SMALL)
    big = project.write("002_big.sql", many_rows(20_000, pad=40))
    assert big.stat().st_size > STREAM_THRESHOLD_BYTES
    size_mb = f"{big.stat().st_size / 1e6:.1f} MB"
    env = project.env(**{DELAY_ENV: "0", "NO_COLOR": "1"})
    code, _, raw = on_terminal(program("libsql-migrate", "up"), project.root, env, columns=100)
    assert code == 0, raw
    assert "\x1b[2m" not in raw  # NO_COLOR
    drawn = re.findall(r"\[2/2\] 002_big \(up\): ([\d,]+) of 20,000 statements, ([\d.]+) of", raw)
    counts = [int(done.replace(",", "")) for done, _ in drawn]
    assert counts == [*range(500, 20_001, 500)], raw[-2000:]
    sent = [float(mb) for _, mb in drawn]
    assert sent == sorted(sent) and sent[0] < sent[-1]  # the megabytes grow as it goes
    assert f"20,000 of 20,000 statements, {size_mb[:-3]} of {size_mb}" in raw
    shown = screen_after(raw)
    assert not any("[2/2]" in line for line in shown)
    assert project.query("SELECT count(*) FROM a") == [(20_000,)]
    assert project.cli("down", "--all", "--yes").code == 0
    piped = subprocess.run(
        program("libsql-migrate", "up"), cwd=project.root, env=env, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "\x1b" not in piped.stderr and "[2/2]" not in piped.stderr
    assert timings(shown) == timings(piped.stderr.splitlines())


@pytest.mark.target("file")
def test_the_fleet_line_makes_way_for_each_databases_log_lines(tmp_path):
    project = Project(tmp_path / "project", f"file:{tmp_path / 'p.db'}")
    (project.root / "dbs").mkdir()
    for n in (1, 2, 3):
        with contextlib.closing(sqlite3.connect(project.root / "dbs" / f"{n}.db")) as db:
            db.execute("CREATE TABLE seed (x)")
    project.write("001_a.sql", SMALL)
    argv = [*program("libsql-migrate", "up"), "--fleet", "dbs/*.db", "--jobs", "2"]
    code, _, raw = on_terminal(argv, project.root, project.env(), columns=100)
    assert code == 0, raw
    assert raw.startswith(CLEAR + "fleet: 0/3 done, 0 failed, 3 remaining")  # drawn first
    shown = timings(screen_after(raw))
    assert sorted(shown[:3]) == [f"migrate: dbs/{n}.db: applied 001_a in N ms" for n in (1, 2, 3)]
    assert shown[3:] == ["fleet: 3/3 done, 0 failed, 0 remaining"]  # the last count stays


@pytest.mark.target("file")
@pytest.mark.parametrize(
    "extra",
    [["--json"], ["--dry-run"], ["--fleet", "dbs/*.db", "--json"]],
    ids=["json", "dry-run", "fleet-json"],
)
def test_nothing_extra_on_a_terminal_with_json_or_dry_run(tmp_path, extra):
    project = Project(tmp_path / "project", f"file:{tmp_path / 'p.db'}")
    (project.root / "dbs").mkdir()
    for n in (1, 2):
        with contextlib.closing(sqlite3.connect(project.root / "dbs" / f"{n}.db")) as db:
            db.execute("CREATE TABLE seed (x)")
    project.write("001_a.sql", SMALL)
    project.write("002_rows.sql", many_rows(1500))
    env = project.env(**{DELAY_ENV: "0"})
    code, out, raw = on_terminal([*program("libsql-migrate", "up"), *extra], project.root, env)
    assert code == 0, raw
    assert "\x1b" not in raw and "\r" not in raw and "[1/2]" not in raw, raw
    assert out.strip()  # the document (or the SQL) went to stdout


def test_colour_is_used_only_by_the_progress_line_which_honours_no_color():
    package = Path(__file__).resolve().parent.parent / "migrate_tasks"
    sgr = re.compile(r"(\\x1b|\\033|\\u001b|\\e)\[[0-9;]*m")  # "select graphic rendition"
    colouring = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if sgr.search(path.read_text(encoding="utf-8"))
    )
    assert colouring == ["report/progress.py"]  # its colour: wants_colour, tested above
