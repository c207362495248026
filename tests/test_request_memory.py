"""Peak memory of a big request over HTTP (issue 13, W6: 2,000 migrations in requests of
5,000 steps). Real sqld; Python's own allocations traced with ``tracemalloc``, which does
not depend on the machine's load or allocator."""

from __future__ import annotations

import tracemalloc

import pytest

from migrate_tasks.drivers import Step
from migrate_tasks.drivers.base import Group
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
