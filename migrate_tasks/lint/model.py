"""The lint's plain data: rules, findings, suppressions and the report.

Pure and presentation-free: ``report/lint.py`` turns a ``LintReport`` into text, JSON or
SARIF, and other code (the pull-request review report, ``generate``) reads it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR, WARNING, NOTICE = "error", "warning", "notice"
#: Most severe first.
SEVERITIES = (ERROR, WARNING, NOTICE)


@dataclass(frozen=True)
class Rule:
    """One rule: a stable id (``LS101``), a slug, a severity and its documentation.

    ``why`` and ``instead`` are the rule's page in docs/lint.md and its SARIF help:
    why the pattern hurts, and what to write instead.
    """

    id: str
    name: str
    severity: str
    family: str
    summary: str
    why: str
    instead: str


@dataclass(frozen=True)
class Finding:
    """One problem at one place: ``path:line``, the object it concerns, and a message."""

    rule_id: str
    severity: str
    path: str
    line: int | None
    #: The table, column (``table.column``), index or option the finding is about.
    object: str
    message: str
    #: The migration's version, when the finding belongs to one.
    version: str | None = None

    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Suppressed:
    """A finding silenced by ``-- migrate:nolint RULE``, kept so it stays visible."""

    finding: Finding
    #: Line of the ``nolint`` comment or section header that silenced it.
    by_line: int | None


@dataclass(frozen=True)
class LintedMigration:
    """A migration that was linted, and why it was chosen."""

    version: str
    name: str
    path: str


@dataclass
class LintReport:
    """Everything one lint run found. ``findings`` exclude the suppressed ones."""

    migrations: list[LintedMigration] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    #: How the migrations were chosen: "pending", "since REF" or "files".
    selection: str = "pending"
    #: The database whose history or row counts were read (redacted), if any.
    target: str | None = None
    #: Whether live row counts were read (the size rule needs them).
    row_counts: bool = False
    #: Things worth saying that are not findings (e.g. the schema could not be built).
    notes: list[str] = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def failed(self, *, strict: bool = False) -> bool:
        """Exit 3? Errors always; warnings too with ``strict``."""
        failing = (ERROR, WARNING) if strict else (ERROR,)
        return any(f.severity in failing for f in self.findings)
