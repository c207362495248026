"""W7: what a run that fails in migration k of N leaves behind, and whether that is right.

One transaction per migration (ours) must leave exactly migrations 1 .. k-1 applied and
recorded, and nothing of k or after; all-in-one-transaction runs (``--single-transaction``,
drizzle-kit) must leave nothing. The error must name the failing migration's file. These
are facts read from the database after the run (straight from sqld, not through the
proxy), never taken from the tool's own output alone.
"""

from __future__ import annotations

from _measure import Run, hrana_query
from _workloads import Migration

_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 't[0-9]*' ORDER BY name"
)
_APPLIED = "SELECT version FROM schema_migrations WHERE status = 'applied' ORDER BY version"


def expected_applied(tool: str, fails_at: int) -> int:
    """How many migrations should be applied after the run: all before the failing one
    when each migration is its own transaction, none when the run is one transaction."""
    return fails_at - 1 if tool in ("ours", "ours-before") else 0


def inspect(url: str, tool: str, migrations: list[Migration], fails_at: int, run: Run) -> dict:
    """Facts about a failed run: exit code, tables and tracking rows left, and ``right``
    (True when exactly the expected migrations are applied and the error names the file)."""
    want = expected_applied(tool, fails_at)
    tables = [str(row[0]) for row in hrana_query(url, _TABLES)]
    want_tables = [f"t{i:05d}" for i in range(1, want + 1)]
    facts: dict[str, object] = {
        "exit": run.code,
        "tables": len(tables),
        "expected_applied": want,
    }
    problems = []
    if run.code == 0:
        problems.append("the run succeeded")
    if tables != want_tables:
        problems.append(f"tables {_span(tables)}, expected {_span(want_tables)}")
    if tool.startswith("ours"):
        versions = [str(row[0]) for row in _query_or_empty(url, _APPLIED)]
        facts["recorded"] = len(versions)
        if versions != [m.version for m in migrations[:want]]:
            problems.append(f"recorded {len(versions)} applied, expected {want}")
        failing = migrations[fails_at - 1].stem
        if failing not in run.output:
            problems.append(f"the error does not name {failing}.sql")
    facts["right"] = not problems
    facts["problems"] = "; ".join(problems)
    return facts


def summary(facts: dict) -> str:
    """One line for the results table."""
    if not facts:
        return ""
    text = f"exit {facts['exit']}; {facts['tables']} tables left"
    if "recorded" in facts:
        text += f", {facts['recorded']} recorded applied"
    text += f" (expected {facts['expected_applied']})"
    return text + (": as expected" if facts["right"] else f": WRONG: {facts['problems']}")


def _span(names: list[str]) -> str:
    if not names:
        return "none"
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]} ({len(names)})"


def _query_or_empty(url: str, sql: str) -> list[list[object]]:
    """Rows, or none when the table does not exist (a run that failed before creating it)."""
    try:
        return hrana_query(url, sql)
    except RuntimeError as exc:
        if "no such table" in str(exc):
            return []
        raise
