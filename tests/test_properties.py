"""Property: any sequence of up/down commands keeps status and the real schema in step.

Commands are drawn from {up, up --step k, up --to V, down, down --step k, down --to V,
down --all} (k in 1..4) and run in-process through ``Engine.migrate``, exactly as the
tasks call it, on a local libSQL file. After every command:

- the versions it ran are exactly what a simple model predicts (applied versions are
  always a prefix of the plan: ``up`` goes in order, ``down`` from the newest);
- ``check_consistent``: status, tracking rows, log (exactly once) and the schema agree;
- a refused command (``UsageError``, e.g. ``down --step k`` that would roll back
  everything without ``--all``) changed nothing at all: schema, tracking rows and log.

Finally ``up`` then ``down --all`` always returns to an empty user schema.
"""

from __future__ import annotations

import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.errors import UsageError
from tests.support.faults import TRACKING, LongPlan, check_consistent, write_long_plan

COUNT = 6
VERSIONS = [LongPlan.version(i) for i in range(1, COUNT + 1)]
OPTIONS = RunOptions(lock_timeout=5)

Command = tuple[str, dict[str, object]]

commands = st.one_of(
    st.just(("up", {})),
    st.builds(lambda k: ("up", {"step": k}), st.integers(1, 4)),
    st.builds(lambda v: ("up", {"to": v}), st.sampled_from(VERSIONS)),
    st.just(("down", {})),
    st.builds(lambda k: ("down", {"step": k}), st.integers(1, 4)),
    st.builds(lambda v: ("down", {"to": v}), st.sampled_from(VERSIONS)),
    st.just(("down", {"all_": True})),
)


def expected(applied: int, command: Command) -> int | None:
    """How many versions are applied after ``command``; None if it must be refused."""
    direction, args = command
    step = args.get("step")
    to = args.get("to")
    if direction == "up":
        if step is not None:
            return min(COUNT, applied + int(step))  # type: ignore[call-overload]
        if to is not None:
            return max(applied, VERSIONS.index(str(to)) + 1)
        return COUNT
    if args.get("all_"):
        return 0
    if to is not None:
        return min(applied, VERSIONS.index(str(to)) + 1)
    count = 1 if step is None else int(step)  # type: ignore[call-overload]
    if step is not None and count > 1 and applied and count >= applied:
        return None  # "would roll back all N applied migrations; pass --all"
    return max(0, applied - count)


def snapshot(url: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    with closing(open_driver(url)) as driver:
        names = {r[0] for r in driver.query("SELECT name FROM sqlite_master")}
        schema = driver.query("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        tracking = log = []
        if TRACKING in names:
            tracking = driver.query(f"SELECT * FROM {TRACKING} ORDER BY version")
            log = driver.query(f"SELECT * FROM {TRACKING}_log ORDER BY id")
    return schema, tracking, log


def migrate(url: str, plan: LongPlan, command: Command) -> list[str]:
    direction, args = command
    with closing(open_driver(url)) as driver:
        outcome = Engine(driver, plan.directory, TRACKING).migrate(
            direction,
            step=args.get("step"),  # type: ignore[arg-type]
            to=args.get("to"),  # type: ignore[arg-type]
            all_=bool(args.get("all_")),
            options=OPTIONS,
        )
    assert outcome.direction == direction
    return [r.version for r in outcome.results]


@pytest.mark.target("file")
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(commands, min_size=1, max_size=12))
def test_any_command_sequence_keeps_status_and_schema_in_step(
    sequence: list[Command],
) -> None:
    with tempfile.TemporaryDirectory(prefix="migrate-prop-") as tmp:
        root = Path(tmp)
        plan = write_long_plan(root / "migrations", COUNT, 3, extras=True)
        url = f"file:{root / 'prop.db'}"
        applied = 0
        for command in sequence:
            want = expected(applied, command)
            if want is None:
                before = snapshot(url)
                with pytest.raises(UsageError, match="pass --all"):
                    migrate(url, plan, command)
                assert snapshot(url) == before, command
                continue
            ran = migrate(url, plan, command)
            if want >= applied:
                assert ran == VERSIONS[applied:want], (command, applied)
            else:
                assert ran == VERSIONS[want:applied][::-1], (command, applied)
            applied = want
            state = check_consistent(url, plan, settle=False)
            assert state.applied == VERSIONS[:applied], command

        migrate(url, plan, ("up", {}))
        full = check_consistent(url, plan, settle=False)
        assert full.applied == VERSIONS
        assert full.objects == set().union(*(plan.objects(v) for v in VERSIONS))
        migrate(url, plan, ("down", {"all_": True}))
        empty = check_consistent(url, plan, settle=False)
        assert empty.applied == [] and empty.objects == set()
        with closing(open_driver(url)) as driver:
            left = driver.query(
                "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        assert [r[0] for r in left] == [TRACKING, f"{TRACKING}_lock", f"{TRACKING}_log"]
