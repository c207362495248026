"""The order xdist hands tests out in (tests/support/ordering.py)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.ordering import LONG_RUNNING, long_tests_first


@dataclass
class Item:
    nodeid: str


def test_each_workers_share_starts_with_its_long_tests() -> None:
    names = list(LONG_RUNNING)
    long = [Item(f"{names[0]}[{t}]") for t in ("file", "http", "ws")] + [Item(names[1])]
    short = [Item(f"tests/test_x.py::test_{n}") for n in range(36)]
    items = short[:20] + long + short[20:]
    ordered = long_tests_first(items, 4)
    assert sorted(i.nodeid for i in ordered) == sorted(i.nodeid for i in items)  # all, once
    shares, left = [], len(ordered)
    for k in range(4):  # what xdist's worksteal scheduler hands worker k
        size = left // (4 - k)
        start = len(ordered) - left
        shares.append(ordered[start : start + size])
        left -= size
    assert [share[0] for share in shares] == long  # one long test at the head of each
    assert [i for i in ordered if i in short] == short  # the rest keep their order


def test_without_workers_the_long_tests_go_first() -> None:
    long, short = Item(next(iter(LONG_RUNNING))), Item("tests/test_x.py::test_y")
    assert long_tests_first([short, long], 1) == [long, short]
