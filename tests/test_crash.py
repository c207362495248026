"""Crashes: SIGKILL the tool at random moments, and SIGKILL sqld itself mid-run.

After every crash the database must agree with itself (``check_consistent``: schema ==
applied versions, no half-filled table, every migration applied exactly once, status and
validate clean), and a plain rerun must finish the job at once: a lease left by a killed
process on this host is taken over immediately, never after the 120 s TTL.

Budget: about a minute per target on 2 cores. One database per test is reused across
trials (``reset_database`` between them). Where each kill lands comes from a seeded RNG
and is anchored on the run's own progress (after its k-th migration, plus a fraction of
one migration's time), not on a clock: a run that is slower or faster than the
calibration run (a machine whose load changes) is killed at the same points.
"""

from __future__ import annotations

import random
import re
import subprocess
from dataclasses import dataclass

import pytest

from tests.support.faults import (
    FILE_HTTP_WS,
    LongPlan,
    Proc,
    State,
    check_consistent,
    reset_database,
    run_engine,
    start_cli,
    target_url,
    write_long_plan,
)
from tests.support.project import Project, Run
from tests.support.proxy import FaultProxy

MIGRATIONS = 40
#: Rows per table, so that applying the plan takes clearly longer than starting Python
#: (on a file the fsync per commit dominates; sqld needs bigger inserts).
ROWS = {"file": 2000, "http": 8000, "ws": 8000}
#: Rows each down section adds before dropping its table (work a half-done rollback
#: would leave behind); a file's DROP TABLE alone is too quick to hit mid-run.
DOWN_ROWS = {"file": 10000, "http": 4000, "ws": 4000}
UP_TRIALS = 50
DOWN_TRIALS = 10
#: A rerun after a crash must not wait for the lease (TTL 120 s): it takes a dead
#: process's lease at once (it never says it is waiting), and a lock timeout shorter than
#: the TTL turns a failed take-over into exit 4 rather than a long wait.
RERUN_TIMEOUT = "60"
#: Share of the up trials killed during start-up (before the lock and the tracking
#: tables exist, or while they are being made) rather than after some migrations.
STARTUP_SHARE = 0.2
#: Over HTTP (and WebSocket) several migrations share a request, each its own
#: transaction. Four per request here (a group is 11 steps up, 12 down with its DROP check), so a run makes
#: ten requests and kills land between them and inside them; a kill can then lose the
#: report of at most the request in flight (committed by the server all the same).
BATCH_ENV = {
    "file": {},
    "http": {"INVOKE_MIGRATE_BATCH_STEPS": "48"},
    "ws": {"INVOKE_MIGRATE_BATCH_STEPS": "48"},
}
PER_REQUEST = {"file": 1, "http": 4, "ws": 4}


@pytest.fixture
def target(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def setup(request: pytest.FixtureRequest, tmp_path, target: str) -> tuple[Project, LongPlan]:
    project = Project(tmp_path / "app", target_url(request, tmp_path, target))
    # down sections do work too (add rows, then drop), so a rollback has a duration
    plan = write_long_plan(
        project.migrations, MIGRATIONS, ROWS[target], down_rows=DOWN_ROWS[target]
    )
    return project, plan


def calibrate(
    project: Project, plan: LongPlan, *args: str, env: dict[str, str]
) -> tuple[float, float]:
    """(first migration done, seconds per migration) for a real run from the state the
    trials start in; the quicker of two runs (a fresh sqld's first is slow). Only to
    spread kill points within start-up and within one migration."""
    timings = []
    for _ in range(2):
        if args[0] == "down":
            run_engine(project.url, plan.directory, "up")
        proc = start_cli(project, *args, **env)
        assert proc.wait(timeout=600) == 0, proc.describe()
        done = proc.done_times()
        assert len(done) == MIGRATIONS and proc.elapsed is not None, proc.describe()
        timings.append((done[0], (done[-1] - done[0]) / (MIGRATIONS - 1)))
        state = check_consistent(project.url, plan, settle=False)
        assert state.applied == (plan.versions if args[0] == "up" else [])
        reset_database(project.url, plan)
    return min(timings)


@dataclass(frozen=True)
class KillPoint:
    """Kill once ``done`` migrations are logged done (0: at once), ``delay`` s later."""

    done: int
    delay: float


def kill_points(
    seed: str, n: int, first: float, unit: float, *, done: range, startup: float = 0.0
) -> list[KillPoint]:
    """``n`` kill points: a share ``startup`` of them during start-up (half-way to the
    first migration's end, or later), the others after a number of migrations drawn from
    ``done`` plus up to one migration's time."""
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        if rng.random() < startup:
            points.append(KillPoint(0, rng.uniform(first / 2, first)))
        else:
            points.append(KillPoint(rng.choice(done), rng.uniform(0, unit)))
    return points


def kill_at(proc: Proc, point: KillPoint) -> bool:
    """SIGKILL ``proc`` at ``point`` unless it ended by itself; True if killed."""
    if point.done and not proc.wait_for_done(point.done, timeout=600):
        proc.wait(timeout=60)  # it ended first: it must have ended well
        assert proc.code == 0, proc.describe()
        return False
    return kill_after(proc, point.delay)


def kill_after(proc: Proc, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` s unless it ended by itself; True if killed."""
    try:
        proc.popen.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
        assert proc.code in (-9, 0), proc.describe()  # 0: it ended just before the kill
        return proc.code == -9
    proc.wait(timeout=60)
    assert proc.code == 0, proc.describe()
    return False


def check_after_kill(
    proc: Proc, state: State, before: list[str], direction: str, per_request: int = 1
) -> None:
    """The crash lost nothing that was reported done, and did at most one request's
    units more (``per_request``: how many units one request carries)."""
    done = proc.done_versions()
    if direction == "up":
        changed = [v for v in state.applied if v not in before]
    else:
        changed = [v for v in before if v not in state.applied]
    assert set(done) <= set(changed), (done, changed)  # reported done -> durable
    assert len(changed) <= len(done) + per_request, (done, changed)  # the request in flight
    if state.lock is not None:
        # the only lease that may be left is the killed process's own
        assert state.lock[3] == proc.pid, (state.lock, proc.pid)


def rerun(project: Project, *args: str, take_over: bool) -> Run:
    """A clean run after a crash: exit 0 without waiting for the lock. ``take_over``: the crash left a lease
    and there is work left, so this run must take the dead process's lease at once. (With
    nothing left to do a run takes no lock at all, so a dead lease just stays.) It runs
    in-process: whoever reruns, the lease's owner is the killed process."""
    run = project.cli(*args, "--lock-timeout", RERUN_TIMEOUT, timeout=600)
    assert run.code == 0, run.err
    assert "waiting for the migration lock" not in run.err, run.err  # taken at once
    took_over = "took over the migration lock from" in run.err
    assert took_over == take_over, run.err
    if take_over:
        assert "its process is gone" in run.err, run.err
    assert "Traceback" not in run.err
    return run


@FILE_HTTP_WS
def test_sigkill_during_up_never_leaves_a_half_applied_migration(setup, target: str) -> None:
    project, plan = setup
    url = project.url
    env = BATCH_ENV[target]
    first, unit = calibrate(project, plan, "up", env=env)
    # from half-way through start-up (before the lock and tracking tables exist) to the
    # very end (just after the last commit, or after the release)
    points = kill_points(
        f"crash-up-{target}",
        UP_TRIALS,
        first,
        unit,
        done=range(1, MIGRATIONS + 1),
        startup=STARTUP_SHARE,
    )
    killed = mid_run = leases = 0
    for trial, point in enumerate(points):
        proc = start_cli(project, "up", **env)
        was_killed = kill_at(proc, point)
        killed += was_killed
        state = check_consistent(url, plan)
        check_after_kill(proc, state, [], "up", PER_REQUEST[target])
        if not was_killed:
            assert state.applied == plan.versions
        mid_run += 0 < len(state.applied) < MIGRATIONS
        lease_left = state.lock is not None
        leases += lease_left

        missing = MIGRATIONS - len(state.applied)
        again = rerun(project, "up", take_over=lease_left and missing > 0)
        expected = f"applied {missing} migration" if missing else "nothing to apply"
        assert expected in again.out, (trial, again.out)
        final = check_consistent(url, plan, settle=False)  # the rerun ended cleanly
        assert final.applied == plan.versions, trial
        if missing:
            assert final.lock is None, final.lock  # the rerun released its lease
        reset_database(url, plan)

    # the kills really landed inside runs, holding the lock, with work half done
    assert killed >= UP_TRIALS // 4, (killed, points)
    assert mid_run >= 5, (mid_run, points)
    assert leases >= 5, (leases, points)


@FILE_HTTP_WS
def test_sigkill_during_down_all_never_leaves_a_half_rolled_back_migration(
    setup, target: str
) -> None:
    project, plan = setup
    url = project.url
    env = BATCH_ENV[target]
    first, unit = calibrate(project, plan, "down", "--all", env=env)
    # start-up and exit kills are the up test's business: here, during the rollbacks
    points = kill_points(
        f"crash-down-{target}", DOWN_TRIALS, first, unit, done=range(1, MIGRATIONS - 1)
    )
    mid_run = 0
    for trial, point in enumerate(points):
        assert run_engine(url, plan.directory, "up") == plan.versions
        proc = start_cli(project, "down", "--all", **env)
        was_killed = kill_at(proc, point)
        state = check_consistent(url, plan)
        check_after_kill(proc, state, plan.versions, "down", PER_REQUEST[target])
        if not was_killed:
            assert state.applied == []
        mid_run += 0 < len(state.applied) < MIGRATIONS

        left = len(state.applied)
        again = rerun(project, "down", "--all", take_over=state.lock is not None and left > 0)
        expected = f"rolled back {left} migration" if left else "nothing to roll back"
        assert expected in again.out, (trial, again.out)
        final = check_consistent(url, plan, settle=False)  # the rerun ended cleanly
        assert final.applied == [] and final.objects == set(), trial
        reset_database(url, plan)
    assert mid_run >= 3, (mid_run, points)


#: Migrations done before sqld dies: the first request of migrations (the next one is in
#: flight).
DONE_BEFORE_KILL = PER_REQUEST["http"]


@pytest.mark.target("http")
@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("lost", ["request", "answer"])
def test_sqld_killed_mid_run_exits_5_and_a_rerun_completes(sqld, tmp_path, direction, lost) -> None:
    """sqld dies while the run waits for the answer about its second request of
    migrations (four per request): that request never reached sqld (``request``), or sqld
    committed its four migrations and the answer never came back (``answer``). The
    run cannot read back what committed (sqld is dead), so it says to check. A proxy holds the run at exactly that point until sqld is dead, so the
    kill never lands after the run ended, however slow or fast the machine."""
    with FaultProxy(sqld.port) as proxy:
        project = Project(tmp_path / "app", proxy.http_url)
        plan = write_long_plan(
            project.migrations, MIGRATIONS, ROWS["http"], down_rows=DOWN_ROWS["http"]
        )
        before: list[str] = []
        args = ["up"]
        if direction == "down":
            before = run_engine(project.url, plan.directory, "up")
            args = ["down", "--all"]

        # a run's requests: one read, the lock, then one per four migrations
        proxy.hold_after(requests=2 + 1, forward=lost == "answer")
        proc = start_cli(project, *args, **BATCH_ENV["http"])
        proxy.wait_held()
        sqld.kill()
        proxy.release()
        proc.wait(timeout=600)

        # A dead server is a connection failure (exit 5), never a "migration failed" (1)
        # or a traceback; the message says where and that the outcome must be checked.
        assert proc.code == 5, proc.describe()
        assert "Traceback" not in proc.err
        assert re.fullmatch(
            rf"error: cannot reach http://127\.0\.0\.1:{proxy.port}: [^;]+; the request may or"
            r" may not have been applied, so check the migration history before retrying",
            proc.err_lines[-1],
        ), proc.err
        # it could not release its lease on a dead server, and says so
        assert "could not release the migration lock" in proc.err, proc.err

        sqld.restart()  # same port, same data folder
        state = check_consistent(project.url, plan)
        check_after_kill(proc, state, before, direction, PER_REQUEST["http"])
        done = proc.done_versions()
        order = plan.versions if direction == "up" else plan.versions[::-1]
        assert done == order[:DONE_BEFORE_KILL], done
        changed = DONE_BEFORE_KILL * (1 + (lost == "answer"))  # the lost answer's committed
        assert state.applied == (order[:changed] if direction == "up" else order[changed:][::-1])
        assert state.lock is not None and state.lock[3] == proc.pid, state.lock

        again = rerun(project, *args, take_over=True)
        assert "Traceback" not in again.err
        final = check_consistent(project.url, plan, settle=False)
        assert final.applied == (plan.versions if direction == "up" else [])
