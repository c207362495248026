"""The order xdist hands tests out in: each long test at the head of a worker's share.

pytest-xdist's ``worksteal`` scheduler gives worker k, in turn, the next
``len(left) // (workers - k)`` tests of the collection, and an idle worker then steals
the tail of the longest queue. A test of a minute that starts last keeps one worker busy
while the others are done, so the long tests (crash and fault trials, server timeouts)
go first, spread over the workers by their expected time (longest first, each to the
least loaded share), and the rest fill the shares in collection order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

#: Seconds each of these takes per parameter set, measured on a 2-core machine with four
#: workers (``pytest --durations``): what to start early, not a limit.
LONG_RUNNING: dict[str, float] = {
    "tests/test_crash.py::test_sigkill_during_up_never_leaves_a_half_applied_migration": 60,
    "tests/test_python_migrations.py::test_cut_connection_during_a_python_migration_then_rerun": 30,
    "tests/test_crash.py::test_sigkill_during_down_all_never_leaves_a_half_rolled_back_migration": 20,
    "tests/test_properties.py::test_any_command_sequence_keeps_status_and_schema_in_step": 19,
    "tests/test_stream.py::test_generated_migrations_stream_like_parse_migration": 14,
    "tests/test_driver_contract.py::test_stream_expired_says_so": 14,
    "tests/test_batching.py::test_an_expired_stream_is_replaced": 12,
    "tests/test_replica.py::test_a_run_right_after_another_plans_from_the_primary": 11,
    "tests/test_docs_examples.py::test_runnable_examples_work_as_written": 6,
}  # fmt: skip


class _Item(Protocol):
    nodeid: str


def expected_seconds(item: _Item) -> float:
    return LONG_RUNNING.get(item.nodeid.split("[", 1)[0], 0.0)


def long_tests_first(items: Sequence[_Item], workers: int) -> list[_Item]:
    """``items`` reordered so each worker's first share starts with its long tests."""
    long = sorted((i for i in items if expected_seconds(i)), key=expected_seconds, reverse=True)
    if not long:
        return list(items)
    chosen = {id(i) for i in long}
    rest = [i for i in items if id(i) not in chosen]
    workers = max(workers, 1)
    shares: list[list[_Item]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for item in long:
        k = min(range(workers), key=lambda w: (load[w], w))
        shares[k].append(item)
        load[k] += expected_seconds(item)
    ordered: list[_Item] = []
    left, taken = len(items), 0
    for k, share in enumerate(shares):
        size = left // (workers - k)  # what the scheduler hands worker k
        fill = max(size - len(share), 0)
        ordered += share + rest[taken : taken + fill]
        taken += fill
        left -= size
    return ordered + rest[taken:]
