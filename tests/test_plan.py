"""The planner is pure: table-driven tests on plain data, no database."""

from __future__ import annotations

import pytest

from migrate_tasks.engine.plan import FileInfo, plan_down, plan_up, status_rows
from migrate_tasks.engine.tracking import Record
from migrate_tasks.errors import UsageError


def files(*versions: str) -> list[FileInfo]:
    return [FileInfo(v, f"m{v}", f"sum{v}") for v in versions]


def rec(version: str, status: str = "applied", checksum: str | None = None) -> Record:
    return Record(version, f"m{version}", checksum or f"sum{version}", status, "t", None, 1)


def states(rows):
    return [(r.version, r.state) for r in rows]


def test_states_cover_every_case():
    rows = status_rows(
        files("1", "2", "3", "4", "5"),
        {
            "1": rec("1"),
            "2": rec("2", checksum="other"),
            "3": rec("3", "rolled_back"),
            "4": rec("4", "failed"),
            "6": rec("6"),
            "7": rec("7", "rolled_back"),
        },
    )
    assert states(rows) == [
        ("1", "applied"),
        ("2", "modified"),
        ("3", "rolled_back"),
        ("4", "failed"),
        ("5", "pending"),
        ("6", "missing"),
    ]


def test_versions_sort_numerically_not_lexically():
    rows = status_rows(files("10", "9", "100"), {})
    assert [r.version for r in rows] == ["9", "10", "100"]


@pytest.mark.parametrize(
    ("applied", "kwargs", "expected"),
    [
        ([], {}, ("1", "2", "3")),
        (["1"], {}, ("2", "3")),
        ([], {"step": 2}, ("1", "2")),
        ([], {"to": "2"}, ("1", "2")),
        ([], {"to": "2_m2.sql"}, ("1", "2")),
        (["1", "2", "3"], {}, ()),
        (["1", "2", "3"], {"to": "2"}, ()),
    ],
)
def test_plan_up(applied, kwargs, expected):
    rows = status_rows(files("1", "2", "3"), {v: rec(v) for v in applied})
    assert plan_up(rows, **kwargs).versions == expected


def test_plan_up_reapplies_rolled_back_and_warns_out_of_order():
    rows = status_rows(files("1", "2", "3"), {"1": rec("1", "rolled_back"), "2": rec("2")})
    plan = plan_up(rows)
    assert plan.versions == ("1", "3")
    assert any("out of order" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": 1, "to": "2"}, "either --step or --to"),
        ({"step": -1}, "positive"),
        ({"to": "99"}, "no migration has that version"),
        ({"to": "abc"}, "not a migration version"),
    ],
)
def test_plan_up_rejects_bad_options(kwargs, message):
    rows = status_rows(files("1", "2"), {})
    with pytest.raises(UsageError, match=message):
        plan_up(rows, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ("4",)),
        ({"step": 2}, ("4", "3")),
        ({"to": "2"}, ("4", "3")),
        ({"to": "4"}, ()),
        ({"all_": True}, ("4", "3", "2", "1")),
    ],
)
def test_plan_down(kwargs, expected):
    rows = status_rows(files("1", "2", "3", "4"), {v: rec(v) for v in "1234"})
    assert plan_down(rows, **kwargs).versions == expected


def test_plan_down_never_rolls_back_everything_without_all():
    rows = status_rows(files("1", "2", "3"), {v: rec(v) for v in "123"})
    with pytest.raises(UsageError, match="--all"):
        plan_down(rows, step=3)
    with pytest.raises(UsageError, match="--all"):
        plan_down(rows, step=10)
    assert plan_down(rows, step=2).versions == ("3", "2")


def test_plan_down_skips_rolled_back_and_pending():
    rows = status_rows(files("1", "2", "3"), {"1": rec("1"), "2": rec("2", "rolled_back")})
    assert plan_down(rows).versions == ("1",)


def test_plan_down_refuses_missing_file():
    rows = status_rows(files("1"), {"1": rec("1"), "2": rec("2")})
    with pytest.raises(UsageError, match="file is missing"):
        plan_down(rows)


def test_plan_down_rejects_conflicting_options():
    rows = status_rows(files("1"), {"1": rec("1")})
    with pytest.raises(UsageError, match="only one of"):
        plan_down(rows, step=1, all_=True)


def test_state_problems_name_each_kind():
    from migrate_tasks.engine.plan import state_problems

    rows = status_rows(
        files("1", "2", "3", "4", "6"),
        {
            "2": rec("2", checksum="edited"),
            "3": rec("3", "failed"),
            "5": rec("5"),
            "6": rec("6"),
        },
    )
    kinds = [(p.kind, p.version) for p in state_problems(rows)]
    assert kinds == [
        ("out_of_order", "1"),
        ("modified", "2"),
        ("failed", "3"),
        ("out_of_order", "4"),
        ("missing", "5"),
    ]
    assert "migrate.repair 3" in state_problems(rows)[2].message


def test_failed_migrations_are_never_planned_again():
    rows = status_rows(files("1", "2"), {"1": rec("1", "failed")})
    assert plan_up(rows).versions == ("2",)
