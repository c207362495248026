"""Peak memory of a big request over HTTP (issue 13, W6: 2,000 migrations in requests of
5,000 steps). Real sqld; Python's own allocations traced with ``tracemalloc``, which does
not depend on the machine's load or allocator."""

from __future__ import annotations

import tracemalloc

import pytest

from migrate_tasks.drivers import Step
from migrate_tasks.drivers.base import Group
from migrate_tasks.drivers.groups import GroupBatch
from migrate_tasks.drivers.hrana import JSON
from migrate_tasks.drivers.http import HranaHttpDriver

HTTP_ONLY = pytest.mark.target("http")


@HTTP_ONLY
def test_a_run_groups_request_holds_its_sql_about_once(sqld):
    """The request body goes out in blocks from the steps' JSON: before, the steps were
    kept as dicts and joined into a string, copied with its closing brackets, copied
    into the pipeline body and encoded, so four copies of the SQL were alive at once."""
    pad = "x" * 10_000
    groups = [Group([Step(f"CREATE TABLE t{n} (v TEXT DEFAULT '{pad}')")]) for n in range(200)]
    sql_bytes = sum(len(step.sql) for group in groups for step in group.steps)
    with HranaHttpDriver(sqld.http_url) as driver:
        driver.run_groups([Group([Step("SELECT 1")])])  # the stream and connection are open
        tracemalloc.start()
        try:
            outcome = driver.run_groups(groups)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert outcome.failure is None and len(outcome.committed) == len(groups)
    assert sql_bytes > 2_000_000
    assert peak < 2 * sql_bytes, f"peak {peak:,} bytes for {sql_bytes:,} bytes of SQL"


def test_the_text_of_a_batch_is_the_json_of_its_steps():
    """What HTTP sends as text is, byte for byte, the steps the WebSocket sends as
    dicts (non-ASCII SQL, parameters of every type, all kinds of group), and a group
    whose parameter cannot be sent is left out of both, with those after it."""
    groups = [
        Group(
            [
                Step("CREATE TABLE t (v TEXT DEFAULT 'é\u2028\"x')"),
                Step("INSERT INTO t VALUES (?, ?, ?, ?, ?)", (1, "ü", b"\x00\xff", 2.5, None)),
            ],
            rows=frozenset({1}),
        ),
        Group([Step("SELECT 1"), Step("SELECT 2")], atomic=False),
        Group([Step("DROP TABLE t")], foreign_keys_off=True),
        Group([Step("SELECT ?", (float("nan"),))]),
        Group([Step("SELECT 3")]),
    ]
    for guard in (True, False):
        dicts = GroupBatch(groups, guard=guard)
        text = GroupBatch(groups, guard=guard, text=True)
        assert ",".join(text.texts) == ",".join(map(JSON.encode, dicts.steps))
        assert text.count == len(dicts.steps) and text.spans == dicts.spans
        assert len(text.groups) == 3 and text.bad is not None and text.bad[0] == 3
