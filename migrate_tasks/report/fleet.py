"""Fleet runs as text: the live progress line, the table of databases, the summary line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from migrate_tasks.report.logs import STDERR_LOCK

if TYPE_CHECKING:  # for types only: fleet sits below report and never imports it
    from migrate_tasks.fleet.runner import FleetResult


def fleet_counts(results: Sequence[FleetResult]) -> dict[str, int]:
    """How many databases ended ok, failed or skipped, plus the total."""
    counts = Counter(r.outcome for r in results)
    return {"total": len(results), **{k: counts.get(k, 0) for k in ("ok", "failed", "skipped")}}


def fleet_summary(results: Sequence[FleetResult], elapsed_s: float | None = None) -> str:
    """``50 databases: 49 ok, 1 failed, 0 skipped in 2.1 s``."""
    c = fleet_counts(results)
    took = f" in {elapsed_s:.1f} s" if elapsed_s is not None else ""
    noun = "database" if c["total"] == 1 else "databases"
    return f"{c['total']} {noun}: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped{took}"


def fleet_table(results: Sequence[FleetResult]) -> str:
    """One row per database, then every failure's full message (they can span lines)."""
    if not results:
        return "no databases"
    from tabulate import tabulate  # free text (URLs, errors): the real thing, not our copy

    rows = [
        (r.target, r.outcome, r.summary, f"{r.duration_ms:.0f}", _first_line(r.error))
        for r in results
    ]
    text = tabulate(rows, headers=["database", "outcome", "summary", "ms", "error"])
    failures = [r for r in results if r.outcome == "failed" and r.error]
    if failures:
        text += "\n\n" + "\n\n".join(
            f"{r.target}:\n  " + (r.error or "").replace("\n", "\n  ") for r in failures
        )
    return text


def fleet_progress_line(done: int, failed: int, remaining: int) -> str:
    total = done + remaining
    return f"fleet: {done}/{total} done, {failed} failed, {remaining} remaining"


def fleet_progress_printer(stream: TextIO, *, enabled: bool = True) -> FleetLine:
    """A ``run_fleet`` progress callback: one line rewritten in place on a terminal,
    nothing otherwise (CI logs get the table at the end) or when not ``enabled`` (--json)."""
    return FleetLine(stream, enabled=enabled and stream.isatty())


class FleetLine:
    """The fleet's live line; with ``report.progress.shown_while`` a log line (the
    databases log from worker threads) clears it first instead of running on after it."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.visible = False

    def __call__(self, done: int, failed: int, remaining: int) -> None:
        if not self.enabled:
            return
        with STDERR_LOCK:
            self.stream.write("\r\x1b[K" + fleet_progress_line(done, failed, remaining))
            self.visible = remaining > 0
            if not self.visible:
                self.stream.write("\n")  # the last count stays on the screen
            self.stream.flush()

    def clear(self) -> None:
        with STDERR_LOCK:
            if self.visible:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self.visible = False


def _first_line(text: str | None, limit: int = 80) -> str:
    line = (text or "").split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."
