"""The status table's own formatter must print exactly what tabulate would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from migrate_tasks.report.status import simple_table

# What a status table holds: versions and ms (integers), names, states, timestamps, blanks.
cell = st.one_of(
    st.integers(min_value=0, max_value=10**14).map(str),
    st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    st.sampled_from(["applied", "pending", "rolled_back", "", "2025-01-01 09:00:00"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda width: st.tuples(
            st.lists(
                st.from_regex(r"[a-z_]{1,12}", fullmatch=True), min_size=width, max_size=width
            ),
            st.lists(st.lists(cell, min_size=width, max_size=width), max_size=12),
        )
    )
)
def test_simple_table_is_tabulates_simple_layout(table: tuple[list[str], list[list[str]]]) -> None:
    headers, rows = table
    assert simple_table(headers, rows) == tabulate(rows, headers=headers)
