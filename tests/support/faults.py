"""Shared helpers for the fault tests (concurrency, crashes, property tests).

- ``write_long_plan``: N migrations; migration i creates table ``t_i`` and fills it with
  ``rows`` rows in ONE statement (optionally an index and a view, so "empty schema"
  means something), and drops them on the way down.
- ``check_consistent``: the database agrees with itself after whatever happened to it
  (a SIGKILL, a dead server, eight racing processes). See its docstring for the list.
- ``start_cli`` / ``Proc``: a real ``libsql-migrate`` process we can kill, with its stderr
  read live (so a test can wait for "applied X" before pulling the plug).
- ``start_together``: several real processes released at the same instant (a barrier).
- ``holding_the_lock``: a real process that stops right after taking the migration lock,
  until the test lets it go on (so "while X holds the lock" never depends on timing).
- ``reset_database``: drop everything a plan and its tracking tables created (test
  harness only, so loops can reuse one database or one sqld).
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from migrate_tasks.drivers import Driver, open_driver
from migrate_tasks.drivers.base import Step
from tests.support.project import BIN, Project
from tests.support.sqld import wait_for_idle

BASE_VERSION = 20240101000000
TRACKING = "schema_migrations"

#: ``target`` parametrization for the fault tests: a local libSQL file and sqld over HTTP.
#: Each param carries ``pytest.mark.target`` so the conftest deselects it in other Nox
#: sessions (and marks the http one ``sqld``).
FILE_AND_HTTP = pytest.mark.parametrize(
    "target",
    [
        pytest.param("file", marks=pytest.mark.target("file"), id="file"),
        pytest.param("http", marks=pytest.mark.target("http"), id="http"),
    ],
    indirect=True,
)
#: The same, and sqld over WebSocket (which batches migrations like HTTP).
FILE_HTTP_WS = pytest.mark.parametrize(
    "target",
    [
        pytest.param("file", marks=pytest.mark.target("file"), id="file"),
        pytest.param("http", marks=pytest.mark.target("http"), id="http"),
        pytest.param("ws", marks=pytest.mark.target("ws"), id="ws"),
    ],
    indirect=True,
)


def target_url(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str:
    """A fresh empty database of ``kind`` (``file``, ``http`` or ``ws``), like conftest's
    db_url."""
    if kind == "file":
        return f"file:{tmp_path / 'fault.db'}"
    assert kind in ("http", "ws"), kind
    server = request.getfixturevalue("sqld")
    return server.http_url if kind == "http" else server.ws_url


# -- the plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LongPlan:
    """Migration i (1-based) creates ``t_i`` with exactly ``rows`` rows."""

    directory: Path
    count: int
    rows: int
    extras: bool = False
    down_rows: int = 0
    spin: int = 0

    @property
    def versions(self) -> list[str]:
        return [self.version(i) for i in range(1, self.count + 1)]

    @staticmethod
    def version(i: int) -> str:
        return str(BASE_VERSION + i)

    def index(self, version: str) -> int:
        return int(version) - BASE_VERSION

    def objects(self, version: str) -> set[tuple[str, str]]:
        """The (type, name) schema objects that migration creates."""
        i = self.index(version)
        found = {("table", f"t_{i}")}
        if self.extras and i % 2 == 0:
            found.add(("index", f"t_{i}_v"))
        if self.extras and i % 3 == 0:
            found.add(("view", f"t_{i}_view"))
        return found


def _fill(i: int, first: int, last: int, spin: int = 0) -> str:
    """One INSERT of rows ``first..last``; ``spin`` > last counts that far first (CPU
    time, no extra rows), for a migration that is slow without being big."""
    top, keep = (spin, f" WHERE x <= {last}") if spin > last else (last, "")
    return (
        f"INSERT INTO t_{i} (id, v) WITH RECURSIVE c(x) AS (SELECT {first} UNION ALL"
        f" SELECT x + 1 FROM c WHERE x < {top}) SELECT x, 'row ' || x FROM c{keep};"
    )


def migration_sql(
    i: int, rows: int, *, extras: bool = False, down_rows: int = 0, spin: int = 0
) -> str:
    """Up: create ``t_i`` and fill it with ``rows`` rows in ONE statement (a half-applied
    migration shows as a wrong count). Down: with ``down_rows``, first add that many rows
    (work that a half-applied rollback would leave behind as a wrong count), then drop."""
    up = [
        f"CREATE TABLE t_{i} (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        _fill(i, 1, rows, spin),
    ]
    down = [f"DROP TABLE t_{i};"]
    if down_rows:
        down.insert(0, _fill(i, rows + 1, rows + down_rows))
    if extras and i % 2 == 0:
        up.append(f"CREATE INDEX t_{i}_v ON t_{i} (v);")
        down.insert(0, f"DROP INDEX t_{i}_v;")
    if extras and i % 3 == 0:
        up.append(f"CREATE VIEW t_{i}_view AS SELECT count(*) AS n FROM t_{i};")
        down.insert(0, f"DROP VIEW t_{i}_view;")
    return "-- migrate:up\n" + "\n".join(up) + "\n\n-- migrate:down\n" + "\n".join(down) + "\n"


def write_long_plan(
    directory: Path,
    count: int,
    rows: int,
    *,
    extras: bool = False,
    down_rows: int = 0,
    spin: int = 0,
) -> LongPlan:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.sql"):
        old.unlink()
    for i in range(1, count + 1):
        text = migration_sql(i, rows, extras=extras, down_rows=down_rows, spin=spin)
        (directory / f"{LongPlan.version(i)}_t_{i}.sql").write_text(text)
    return LongPlan(directory, count, rows, extras, down_rows, spin)


# -- the consistency checker ------------------------------------------------------------


@dataclass
class State:
    """What ``check_consistent`` found (after it asserted that it all agrees)."""

    applied: list[str]
    tracking: dict[str, str]
    log: list[dict[str, object]]
    lock: tuple | None  # (owner, user, host, pid) of the lease row, if any
    objects: set[tuple[str, str]] = field(default_factory=set)

    def net_applies(self, version: str) -> int:
        ups = sum(1 for r in self.log if r["version"] == version and r["outcome"] == "applied")
        downs = sum(
            1 for r in self.log if r["version"] == version and r["outcome"] == "rolled_back"
        )
        return ups - downs

    def applied_by(self) -> dict[str, list[str]]:
        """user -> versions whose 'applied' log row names that user."""
        who: dict[str, list[str]] = {}
        for r in self.log:
            if r["action"] == "up" and r["outcome"] == "applied":
                who.setdefault(str(r["user"]), []).append(str(r["version"]))
        return who


@dataclass
class _Reading:
    """Everything ``check_consistent`` reads, compared whole to detect a moving target."""

    tracking: dict[str, str]
    stamps: dict[str, tuple]
    log: list[dict[str, object]]
    lock: tuple | None
    objects: set[tuple[str, str]]
    counts: dict[str, int]


def _read(driver: Driver, table: str) -> _Reading:
    names = {r[0] for r in driver.query("SELECT name FROM sqlite_master")}
    ours = {table, f"{table}_log", f"{table}_lock"}
    tracking: dict[str, str] = {}
    stamps: dict[str, tuple] = {}
    if table in names:
        for version, status, applied_at, ms in driver.query(
            f'SELECT version, status, applied_at, execution_ms FROM "{table}"'
        ):
            tracking[str(version)] = status
            stamps[str(version)] = (applied_at, ms)
    log: list[dict[str, object]] = []
    if f"{table}_log" in names:
        cols = ("id", "version", "action", "outcome", "user", "host", "error")
        rows = driver.query(
            f'SELECT id, version, action, outcome, "user", host, error FROM "{table}_log"'
            " ORDER BY id"
        )
        log = [dict(zip(cols, r, strict=True)) for r in rows]
    lock = None
    if f"{table}_lock" in names:
        held = driver.query(f'SELECT owner, "user", host, pid FROM "{table}_lock"')
        assert len(held) <= 1, held
        lock = tuple(held[0]) if held else None
    objects = {
        (str(t), str(n))
        for t, n in driver.query(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        )
        if n not in ours
    }
    tables = sorted(n for t, n in objects if t == "table")
    counts: dict[str, int] = {}
    if tables:
        union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
        counts = {str(n): int(c) for n, c in driver.query(union)}
    return _Reading(tracking, stamps, log, lock, objects, counts)


def _stable_reading(
    url: str, plan: LongPlan, table: str, settle: bool
) -> tuple[_Reading, dict, list]:
    """Read until two readings in a row agree (``settle``; else once), then ask the
    engine for status and validate. A killed client's last request may still be running
    on sqld (which finishes or drops it on its own): a unit can commit between two of our
    queries, and a reading that straddles it is not a snapshot. So first wait until the
    server has closed every connection (it drops a request whose client is gone, and
    closes the connection when that request has stopped); then equal readings mean
    nothing is still in flight, not merely that it has not committed yet."""
    from migrate_tasks.engine.core import Engine
    from migrate_tasks.errors import DatabaseError

    parts = urllib.parse.urlsplit(url)
    if settle and parts.scheme in ("http", "ws") and parts.hostname == "127.0.0.1":
        assert parts.port, url
        wait_for_idle(parts.port)
    previous: _Reading | None = None
    driver = open_driver(url, timeout=30)
    try:
        for _ in range(50):
            try:
                reading = _read(driver, table)
            except DatabaseError:  # e.g. a table dropped between two queries
                reading = None
            if reading is not None and (reading == previous or not settle):
                engine = Engine(driver, plan.directory, table)
                status = {r.version: r.state for r in engine.status()}
                return reading, status, engine.validate()
            previous = reading
            time.sleep(0.05)
    finally:
        driver.close()
    raise AssertionError("the database kept changing for 50 readings; is a run still going?")


def check_consistent(
    url: str,
    plan: LongPlan,
    *,
    table: str = TRACKING,
    allow_failed_log: bool = False,
    settle: bool = True,
) -> State:
    """Assert that schema, tracking rows, log and status all tell the same story.

    - every tracking row is 'applied' or 'rolled_back' (never 'failed': every unit is
      transactional, so a crash can only leave a migration wholly in or wholly out);
    - the user schema is exactly the objects of the applied versions, nothing else;
    - every table present has exactly ``plan.rows`` rows (no half-filled table);
    - the applied versions are a prefix of the plan (``up`` goes in order, ``down`` from
      the newest);
    - exactly once: for every version, ('applied' log rows) - ('rolled_back' log rows) is
      1 if it is applied and 0 if not; no log row is left 'running';
    - applied rows carry applied_at and execution_ms;
    - the engine's own ``status`` says the same, and ``validate`` finds nothing wrong.

    All of it from one stable reading (see ``_stable_reading``); ``settle=False`` reads
    once, for when nothing can still be running.
    """
    from migrate_tasks.engine.plan import APPLIED

    reading, status, problems = _stable_reading(url, plan, table, settle)
    tracking, stamps, log, lock = reading.tracking, reading.stamps, reading.log, reading.lock
    objects, counts = reading.objects, reading.counts

    bad_states = {v: s for v, s in tracking.items() if s not in ("applied", "rolled_back")}
    assert not bad_states, f"tracking rows in unexpected states: {bad_states}"
    unknown = set(tracking) - set(plan.versions)
    assert not unknown, f"tracking rows for versions not in the plan: {unknown}"
    applied = [v for v in plan.versions if tracking.get(v) == "applied"]
    expected = set().union(*(plan.objects(v) for v in applied)) if applied else set()
    assert objects == expected, (
        f"schema disagrees with {table}: extra {sorted(objects - expected)},"
        f" missing {sorted(expected - objects)} (applied: {len(applied)})"
    )
    wrong = {t: n for t, n in counts.items() if n != plan.rows}
    assert not wrong, f"tables with a row count other than {plan.rows}: {wrong}"
    assert applied == plan.versions[: len(applied)], f"applied is not a prefix: {applied}"
    running = [r for r in log if r["outcome"] == "running"]
    assert not running, f"log rows left 'running': {running}"
    if not allow_failed_log:
        failed = [r for r in log if r["outcome"] == "failed"]
        assert not failed, f"failed log rows: {failed}"
    state = State(applied, tracking, log, lock, objects)
    for version in plan.versions:
        want = 1 if version in applied else 0
        got = state.net_applies(version)
        assert got == want, (
            f"{version}: {got} net applies in the log but it is "
            f"{tracking.get(version, 'not tracked')} (applied twice, or a lost log row)"
        )
    for version in applied:
        at, ms = stamps[version]
        assert at is not None and ms is not None, (version, at, ms)
    status_applied = [v for v, s in status.items() if s == APPLIED]
    assert status_applied == applied, (status_applied, applied)
    assert set(status) == set(plan.versions), status
    assert problems == [], problems
    return state


def reset_database(url: str, plan: LongPlan, *, table: str = TRACKING) -> None:
    """Drop the plan's objects and the tracking tables (harness only, between trials)."""
    steps = [Step(f'DROP VIEW IF EXISTS "t_{i}_view"') for i in range(1, plan.count + 1)]
    steps += [Step(f'DROP TABLE IF EXISTS "t_{i}"') for i in range(1, plan.count + 1)]
    steps += [Step(f'DROP TABLE IF EXISTS "{t}"') for t in (table, f"{table}_log", f"{table}_lock")]
    driver = open_driver(url, timeout=30)
    try:
        driver.run_atomic(steps)
        left = driver.query("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    finally:
        driver.close()
    assert left == [], left


def run_engine(url: str, directory: Path, direction: str, **kwargs: object) -> list[str]:
    """Run ``up``/``down`` in-process (setup for a trial); returns the versions it ran."""
    from migrate_tasks.engine.core import Engine, RunOptions

    driver = open_driver(url, timeout=30)
    try:
        outcome = Engine(driver, directory, TRACKING).migrate(
            direction, options=RunOptions(lock_timeout=10), **kwargs
        )
    finally:
        driver.close()
    return [r.version for r in outcome.results]


def create_lock_table(url: str, directory: Path) -> None:
    """Take and release the lock once in-process, which creates ``<table>_lock``: for
    races that are about the lease, not about who creates the table (see the regression
    test for that in test_concurrency.py)."""
    from migrate_tasks.engine.core import Engine, RunOptions

    driver = open_driver(url, timeout=30)
    try:
        with Engine(driver, directory, TRACKING).locked(RunOptions(lock_timeout=10)):
            pass
        assert f"{TRACKING}_lock" in {r[0] for r in driver.query("SELECT name FROM sqlite_master")}
    finally:
        driver.close()


# -- processes ----------------------------------------------------------------------------

APPLIED_LINE = re.compile(r"^migrate: (applied|rolled back) (\d+)_\w+ in \d+ ms$")


class Proc:
    """A running ``libsql-migrate`` with stdout collected and stderr read line by line."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.popen.pid
        self.err_lines: list[str] = []
        self.err_times: list[float] = []  # seconds since start, per stderr line
        self.out = ""
        self.code: int | None = None
        #: seconds from start to exit (to the end of its stderr, so that waiting for
        #: several processes one after the other does not inflate it)
        self.elapsed: float | None = None
        self.err_closed_at: float | None = None
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_err(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            with self._cond:
                self.err_lines.append(line.rstrip("\n"))
                self.err_times.append(time.monotonic() - self.started)
                self._cond.notify_all()
        self.popen.stderr.close()  # at EOF: no pipe left for the garbage collector to warn about
        with self._cond:
            self.err_closed_at = time.monotonic()  # ~ when the process exited
            self._cond.notify_all()

    def _read_out(self) -> None:
        assert self.popen.stdout is not None
        self.out = self.popen.stdout.read()
        self.popen.stdout.close()

    @property
    def err(self) -> str:
        with self._cond:
            return "\n".join(self.err_lines)

    def done_times(self) -> list[float]:
        """Seconds from start to each migration logged as done."""
        with self._cond:
            pairs = list(zip(self.err_lines, self.err_times, strict=True))
        return [t for line, t in pairs if APPLIED_LINE.match(line)]

    def done_versions(self) -> list[str]:
        """Versions this process logged as applied or rolled back (committed)."""
        with self._cond:
            lines = list(self.err_lines)
        return [m.group(2) for m in map(APPLIED_LINE.match, lines) if m]

    def wait_for_done(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` migrations were logged as done; False if it exited first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._done_unlocked()) < count:
                if self.popen.poll() is not None and not self._readers[0].is_alive():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {count} migrations done after {timeout} s")
                self._cond.wait(min(left, 0.05))
        return True

    def wait_for_line(self, text: str, timeout: float) -> bool:
        """Wait until a stderr line contains ``text``; False if stderr closed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(text in line for line in self.err_lines):
                if self.err_closed_at is not None:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} on stderr after {timeout} s:\n{self.err}")
                self._cond.wait(left)
        return True

    def _done_unlocked(self) -> list[str]:
        return [m.group(2) for m in map(APPLIED_LINE.match, self.err_lines) if m]

    def kill(self) -> None:
        """SIGKILL (if still running), then reap it, so its pid is really gone."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.wait(timeout=30)

    def wait(self, timeout: float) -> int:
        try:
            self.code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)
            self._join()
            raise AssertionError(
                f"{self.argv} still running after {timeout} s:\n{self.err}"
            ) from None
        self._join()
        self.elapsed = (self.err_closed_at or time.monotonic()) - self.started
        return self.code

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=30)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()

    def describe(self) -> str:
        return f"{self.argv[-3:]} -> {self.code}\nstdout: {self.out}\nstderr: {self.err}"


def start_cli(project: Project, *args: str, **env: str) -> Proc:
    """Start the real ``libsql-migrate`` console script in the project folder."""
    return Proc([str(BIN / "libsql-migrate"), *args], project.root, project.env(**env))


#: Runs the real entry point (``migrate_tasks.cli.main``, exactly what the console
#: script calls) after a barrier: imports first, so every process is ready to go, then
#: wait for a shared flock on the barrier file that the parent holds exclusively.
_BARRIER_RUNNER = """\
import fcntl, sys
import migrate_tasks.cli, migrate_tasks.engine.core, migrate_tasks.drivers.local
import migrate_tasks.drivers.http
barrier, ready = sys.argv[1], sys.argv[2]
with open(barrier) as handle:
    open(ready, "w").close()
    fcntl.flock(handle, fcntl.LOCK_SH)
sys.argv = ["libsql-migrate", *sys.argv[3:]]
migrate_tasks.cli.main()
"""


#: Like ``_BARRIER_RUNNER``, but the run stops right after it took the migration lock
#: (the lease row is committed, no transaction is open): it says so on stderr, then
#: waits for a shared flock on the gate file that the parent holds exclusively.
_HOLDING_RUNNER = """\
import fcntl, sys
import migrate_tasks.cli, migrate_tasks.engine.lock
gate = sys.argv[1]
acquire = migrate_tasks.engine.lock.MigrationLock.acquire
def acquire_then_hold(self, *args, **kwargs):
    rows = acquire(self, *args, **kwargs)
    with open(gate) as handle:
        print(HELD, file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_SH)
    return rows
migrate_tasks.engine.lock.MigrationLock.acquire = acquire_then_hold
sys.argv = ["libsql-migrate", *sys.argv[2:]]
migrate_tasks.cli.main()
"""
HELD = "test: holding the migration lock"


@contextlib.contextmanager
def holding_the_lock(
    project: Project, workdir: Path, args: Sequence[str], env: dict[str, str]
) -> Iterator[Proc]:
    """Start a real run of ``args`` and yield it once it holds the migration lock; it
    goes on (and finishes on its own) when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    gate = workdir / "gate"
    gate.write_text("")
    with open(gate) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            argv = [sys.executable, "-c", _HOLDING_RUNNER.replace("HELD", repr(HELD)), str(gate)]
            proc = Proc([*argv, *args], project.root, project.env(**env))
            try:
                assert proc.wait_for_line(HELD, timeout=120), proc.describe()
            except BaseException:
                proc.popen.kill()  # a run that never got the lock must not outlive the test
                proc.popen.wait()
                raise
            yield proc
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def start_together(
    project: Project, workdir: Path, runs: Iterable[tuple[Sequence[str], dict[str, str]]]
) -> list[Proc]:
    """Start one process per (args, env) and release them all at the same instant."""
    workdir.mkdir(parents=True, exist_ok=True)
    barrier = workdir / "barrier"
    barrier.write_text("")
    procs: list[Proc] = []
    readies: list[Path] = []
    with open(barrier) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            for n, (args, env) in enumerate(runs):
                ready = workdir / f"ready-{n}"
                readies.append(ready)
                argv = [sys.executable, "-c", _BARRIER_RUNNER, str(barrier), str(ready), *args]
                procs.append(Proc(argv, project.root, project.env(**env)))
            deadline = time.monotonic() + 60
            while not all(r.exists() for r in readies):
                dead = [p for p in procs if p.popen.poll() is not None]
                assert not dead, dead[0].describe()
                assert time.monotonic() < deadline, "processes never reached the barrier"
                time.sleep(0.01)
            # From "ready" to blocking in flock is a few instructions. Best effort only:
            # a process that is not blocked yet simply starts a moment later, and no test
            # depends on how close together they start.
            time.sleep(0.05)
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
    return procs
