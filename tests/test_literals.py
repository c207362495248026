"""Values as SQL literals and parameters written into statements (``sql/literals.py``):
what the dry-run script and ``import-alembic``'s files hold. SQLite reads each literal
back, so the test is SQLite's, not a restatement of the rules."""

from __future__ import annotations

import math
import sqlite3
from decimal import Decimal
from typing import Any

import libsql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate_tasks.sql.literals import inline_params, render_step, sql_literal


def read_back(literal: str) -> Any:
    """What SQLite makes of ``literal``; for a REAL, libSQL's engine (which runs
    migrations) must agree with the standard library's (the fallback). (The native driver
    cuts text at NUL when it hands it back, so text is read through the stdlib only.)"""
    conn = sqlite3.connect(":memory:")
    native = libsql.connect(":memory:")
    try:
        value = conn.execute(f"SELECT {literal}").fetchone()[0]
        again = native.execute(f"SELECT {literal}").fetchone()[0]
    finally:
        conn.close()
        native.close()
    if isinstance(value, float):
        assert again == value, (literal, value, again)
    return value


VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",))),  # NUL included
    st.binary(max_size=20),
)


@settings(max_examples=300, deadline=None, database=None)
@given(VALUES)
def test_sqlite_reads_each_literal_back_as_the_value(value: Any) -> None:
    assert read_back(sql_literal(value)) == value


@pytest.mark.parametrize(
    "value",
    [4.698028342533895e-299, -1.5471825031341819e-78, 5e-324, -2.2250738585072014e-308, 1e308],
)
def test_floats_sqlite_misreads_are_written_in_their_exact_binary_form(value: float) -> None:
    """SQLite's text-to-float conversion is not correctly rounded: some shortest reprs
    come back one unit off (the first two on libSQL 3.45 or SQLite 3.40)."""
    literal = sql_literal(value)
    assert read_back(literal) == value
    assert literal == repr(value) or literal.startswith("(")


@pytest.mark.parametrize(
    ("value", "literal", "back"),
    [
        (True, "1", 1),
        (False, "0", 0),
        (float("nan"), "NULL", None),  # what SQLite stores for NaN
        (float("inf"), "9e999", math.inf),
        (float("-inf"), "-9e999", -math.inf),
        (Decimal("12.50"), "12.50", 12.5),
        (bytearray(b"\x00\xff"), "X'00ff'", b"\x00\xff"),
        (memoryview(b"ab"), "X'6162'", b"ab"),
        ("it's", "'it''s'", "it's"),
        ("a\x00b", "CAST(X'610062' AS TEXT)", "a\x00b"),
    ],
)
def test_literals_of_values_sqlite_has_no_spelling_for(value: Any, literal: str, back: Any) -> None:
    assert sql_literal(value) == literal
    assert read_back(literal) == back


def test_inline_params_by_position_number_and_name() -> None:
    sql = "INSERT INTO t VALUES (?, ?, '?', \"?\", [?], `?`) -- ?\n"
    assert inline_params(sql, (1, "a")) == (
        "INSERT INTO t VALUES (1, 'a', '?', \"?\", [?], `?`) -- ?\n"
    )
    assert inline_params("SELECT ?2, ?1, /* ? */ ?", ("x", None)) == "SELECT NULL, 'x', /* ? */ 'x'"
    named = "UPDATE t SET a = :a, b = :b WHERE c = ':a' AND d = :missing"
    assert inline_params(named, {"a": 1, "b": b"\x01"}) == (
        "UPDATE t SET a = 1, b = X'01' WHERE c = ':a' AND d = :missing"
    )
    assert inline_params("SELECT ?", {"a": 1}) == "SELECT ?"  # no positions in a mapping
    assert inline_params("SELECT :a", (1,)) == "SELECT :a"  # no names in a sequence
    assert inline_params("SELECT ?", ()) == "SELECT ?"


def test_render_step_inlines_only_real_parameters() -> None:
    assert render_step("SELECT 1;  \n") == "SELECT 1"
    assert render_step("UPDATE t SET a = ? WHERE b = '?';", ("x'y",)) == (
        "UPDATE t SET a = 'x''y' WHERE b = '?'"
    )
    assert render_step("SELECT ?, ?", (1,)) == "SELECT ?, ?  -- params: 1"
