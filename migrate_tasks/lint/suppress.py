"""``-- migrate:nolint RULE[,RULE]``: silencing a finding, visibly.

Three places, all comments to SQLite and dbmate, so the file's checksum rules and the
SQL sent are untouched (a comment inside a statement is sent as written, as always):

* a comment line right before a statement (only comment or blank lines between);
* a comment at the end of a line of the statement (``DROP TABLE t; -- migrate:nolint LS101``);
* the section header option ``-- migrate:up nolint:LS501,LS504``: the whole section (and,
  on the up section, the findings about the migration as a whole).

Each silenced finding is kept in the report as suppressed, with the line that silenced it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.errors import LocatedError
from migrate_tasks.lint.model import Finding, Suppressed

_DIRECTIVE = re.compile(rb"--[ \t]*migrate:nolint[ \t]+([A-Za-z0-9_, \t]+)")
_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class Directive:
    line: int
    rules: frozenset[str]
    #: After code on the same line (else a comment line of its own).
    trailing: bool


def read_directives(
    path: Path, display: str, known: Collection[str]
) -> tuple[list[Directive], list[bytes]]:
    """The file's nolint comments and its lines (bytes); an unknown rule id is bad input."""
    lines = path.read_bytes().split(b"\n")
    found = []
    for number, raw in enumerate(lines, 1):
        if b"migrate:nolint" not in raw:
            continue
        match = _DIRECTIVE.search(raw)
        if match is None:
            raise LocatedError(
                display,
                number,
                "'-- migrate:nolint' needs rule ids, e.g. '-- migrate:nolint LS101'",
            )
        rules = frozenset(r.upper() for r in _SPLIT.split(match.group(1).decode().strip()) if r)
        _check_known(rules, known, display, number)
        found.append(Directive(number, rules, bool(raw[: match.start()].strip())))
    return found, lines


def _check_known(
    rules: Iterable[str], known: Collection[str], display: str, line: int | None
) -> None:
    unknown = sorted(set(rules) - set(known))
    if unknown:
        raise LocatedError(
            display,
            line,
            f"nolint names unknown lint rule(s) {', '.join(unknown)}; the rules are listed in"
            " docs/lint.md",
        )


class Silencer:
    """Decides, for one file, which findings its nolint comments and options silence."""

    def __init__(
        self,
        directives: list[Directive],
        lines: list[bytes],
        statements: Iterable[tuple[int, int]],
        sections: Mapping[str, tuple[int, int, frozenset[str]]],
    ) -> None:
        """``statements``: (first line, last line) of each statement; ``sections``:
        direction -> (first line, last line, rules its header silences)."""
        self.sections = sections
        self._by_start: dict[int, list[tuple[str, int]]] = {}
        spans = sorted(statements)
        for d in directives:
            if d.trailing:
                target = next((s for s, e in spans if s <= d.line <= e), None)
            else:
                target = next((s for s, _ in spans if s > d.line), None)
                if target is not None and not _only_comments(lines, d.line, target):
                    target = None
            if target is not None:
                self._by_start.setdefault(target, []).extend((r, d.line) for r in d.rules)

    def silenced_by(self, finding: Finding) -> int | bool | None:
        """The line that silences ``finding`` (None for no line), or False."""
        for rule, line in self._by_start.get(finding.line or -1, ()):
            if rule == finding.rule_id:
                return line
        for direction, (first, last, rules) in self.sections.items():
            inside = (finding.line is None and direction == "up") or (
                finding.line is not None and first <= finding.line <= last
            )
            if inside and finding.rule_id in rules:
                return first
        return False


def _only_comments(lines: list[bytes], after: int, before: int) -> bool:
    """Are lines after..before (exclusive, 1-based) blank or ``--`` comments?"""
    for raw in lines[after : before - 1]:
        text = raw.strip()
        if text and not text.startswith(b"--"):
            return False
    return True


def split(
    findings: Iterable[Finding], silencer: Silencer | None
) -> tuple[list[Finding], list[Suppressed]]:
    """Findings kept, and those silenced (with the silencing line)."""
    kept, silenced = [], []
    for finding in findings:
        by = silencer.silenced_by(finding) if silencer else False
        if by is False:
            kept.append(finding)
        else:
            silenced.append(Suppressed(finding, by))  # type: ignore[arg-type]
    return kept, silenced


def header_rules(
    options: Mapping[str, str], known: Collection[str], display: str, line: int
) -> frozenset[str]:
    """The rules a section header's ``nolint:`` option silences (checked against ``known``)."""
    value = options.get("nolint")
    if not value:
        return frozenset()
    rules = frozenset(value.split(","))
    _check_known(rules, known, display, line)
    return rules
