"""The review report's Markdown: one pull-request comment about a branch's migrations.

Sections, each always present so a reader finds them in the same place: the migrations
the branch adds, the lint findings, the schema change (a one-line summary per table,
then one ``diff`` block of the tables' cards, which GitHub and GitLab colour), and a
Mermaid ER diagram of the touched tables. The first line is a hidden marker that the CI
templates use to find and update their own comment instead of adding one per push.

Pure: the assembler (the task) computes the parts; this only lays them out, so the
layout is held by golden files (tests/testdata/review/).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only
    from migrate_tasks.review.schema_change import TableChange

__all__ = ["MARKER", "ReviewFinding", "ReviewInput", "review_markdown"]

#: The comment's first line: how CI finds the comment it posted before.
MARKER = "<!-- migrate_tasks review -->"
_PARTS = ("column", "primary key", "unique", "check", "foreign key", "index", "option", "trigger")
_NOUNS = {"unique": "unique constraint", "check": "check constraint", "option": "table option"}
_PLURAL = {"index": "indexes"}


@dataclass(frozen=True)
class ReviewFinding:
    """One lint finding as the report shows it."""

    severity: str  # error | warning | notice
    rule: str
    path: str
    line: int | None
    message: str


@dataclass(frozen=True)
class ReviewInput:
    """Everything the report shows; computed elsewhere."""

    base: str  # the branch (git ref) the pull request goes into
    migrations: Sequence[str]  # the branch's new migration files, as paths to show
    findings: Sequence[ReviewFinding] | None  # None: lint was not run
    changes: Sequence[TableChange]
    diagram: str  # erDiagram text, "" when no table is left to draw


def review_markdown(review: ReviewInput) -> str:
    """The whole comment, ending in one newline."""
    parts = [
        MARKER,
        "## Migrations in this pull request",
        _migrations(review),
        "### Lint",
        _findings(review.findings),
        "### Schema changes",
        _changes(review.changes),
    ]
    if review.changes:
        parts += ["### Tables touched", _diagram(review.diagram)]
    return "\n\n".join(parts) + "\n"


def _migrations(review: ReviewInput) -> str:
    count = len(review.migrations)
    if not count:
        return f"No new migrations compared with {_code(review.base)}."
    noun = "migration" if count == 1 else "migrations"
    listed = "\n".join(f"- {_code(m)}" for m in review.migrations)
    return f"{count} new {noun} compared with {_code(review.base)}:\n\n{listed}"


def _findings(findings: Sequence[ReviewFinding] | None) -> str:
    if findings is None:
        return "Not run."
    if not findings:
        return "No findings."
    rows = ["| severity | rule | where | finding |", "|---|---|---|---|"]
    for f in findings:
        where = f"{f.path}:{f.line}" if f.line else f.path
        cells = [f.severity, _code(f.rule), _code(where), " ".join(f.message.split())]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def _changes(changes: Sequence[TableChange]) -> str:
    if not changes:
        return "None: the branch changes no table."
    summary = "\n".join(f"- {_code(c.name)} {c.kind}: {_summary(c)}" for c in changes)
    lines: list[str] = []
    for change in changes:
        head = {"added": "+", "removed": "-"}.get(change.kind, " ")
        if lines:
            lines.append("")
        lines.append(f"{head}TABLE {change.name}")
        lines += [f"{line.mark}  {line.text}" for line in change.lines]
    return f"{summary}\n\n{_fenced('diff', chr(10).join(lines))}"


def _summary(change: TableChange) -> str:
    """``1 column added, 1 column changed, 1 index removed``; for a table added or
    removed, what it has: ``2 columns, 1 primary key``."""
    if change.kind != "changed":
        counts = [(p, sum(1 for x in change.lines if x.part == p)) for p in _PARTS]
        return ", ".join(f"{n} {_noun(p, n)}" for p, n in counts if n)
    minus = {_first_word(x.text) for x in change.lines if x.part == "column" and x.mark == "-"}
    plus = {_first_word(x.text) for x in change.lines if x.part == "column" and x.mark == "+"}
    changed = minus & plus
    said = []
    for part in _PARTS:
        for mark, verb in (("+", "added"), ("-", "removed")):
            count = sum(
                1
                for x in change.lines
                if x.part == part and x.mark == mark
                and not (part == "column" and _first_word(x.text) in changed)
            )  # fmt: skip
            if count:
                said.append(f"{count} {_noun(part, count)} {verb}")
        if part == "column" and changed:
            said.append(f"{len(changed)} {_noun(part, len(changed))} changed")
    return ", ".join(said) or "renamed"


def _first_word(text: str) -> str:
    return text.split(" ", 1)[0].lower()


def _noun(part: str, count: int) -> str:
    noun = _NOUNS.get(part, part)
    return noun if count == 1 else _PLURAL.get(noun, noun + "s")


def _diagram(diagram: str) -> str:
    if not diagram:
        return "None left: the branch only drops tables."
    return _fenced("mermaid", diagram.rstrip("\n"))


def _fenced(info: str, body: str) -> str:
    """A fenced block whose fence no run of backticks inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _code(text: str) -> str:
    """Inline code that shows ``text`` as it is, backticks included."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
